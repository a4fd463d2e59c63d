"""The coded-mask core on the JEM-X-like camera of a simulated archive.

One science window of the JEM-X-like camera (hexagonal HURA mask, circular gas chamber, 3-35 keV)
with a bright source off axis and the camera's default background: its events are binned on the
adapter's grid with the camera's event layout, decoded, searched and cleaned with the instrument
model its IC files give, and its source rate fitted with its PIF; the image and the PIF fit agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from processing.codedmask import (
    BinScienceWindow,
    ImageScienceWindow,
    background_templates,
    calibration_of,
    fit_shadowgrams,
    source_pifs,
)
from processing.codedmask._camera import max_offaxis_deg
from processing.instrument import Attitude, load_instrument, radec_to_unit
from processing.instruments import (
    _registry,
    adapter_of,
    get_instrument,
    jemx_spec,
    register_instrument,
)
from processing.pipeline import ExternalFile, UnitContext, file_checksum
from processing.simulator import PointingPlan, Scenario, SourceModel, simulate_archive

pytestmark = pytest.mark.timeout(600)

SOURCE = {"name": "Bright X-1", "ra": 121.5, "dec": 0.8}


@pytest.fixture(scope="module", autouse=True)
def jemx_registered() -> Iterator[None]:
    """The JEM-X-like adapter registered for these tests (the service does not serve it yet)."""
    saved = dict(_registry._FACTORIES), dict(_registry._LOADED)
    register_instrument("jemx", jemx_spec)
    yield
    _registry._FACTORIES.clear()
    _registry._FACTORIES.update(saved[0])
    _registry._LOADED.clear()
    _registry._LOADED.update(saved[1])


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("jemx")
    scenario = Scenario(
        name="jemx-core",
        seed=19,
        catalog_sources=False,
        instruments=["jemx"],
        sources=[
            SourceModel(name=SOURCE["name"], ra=SOURCE["ra"], dec=SOURCE["dec"], flux_mcrab=300.0)
        ],
        pointings=[
            PointingPlan(
                ra=120.0,
                dec=0.0,
                start=58000.0,
                n_scw=1,
                pattern="staring",
                scw_duration_s=2000.0,
                roll_deg=30.0,
            )
        ],
    )
    simulate_archive(scenario, root)
    return root


@pytest.fixture(scope="module")
def binned(archive: Path) -> dict:
    jemx = get_instrument("jemx")
    (path,) = sorted((archive / "scw").glob(f"*/*/{jemx.layout.events_file}"))
    events = ExternalFile(path, file_checksum(path), label=path.name)
    unit = BinScienceWindow(channel_edges=jemx.channel_edge_list())
    return unit.run(UnitContext.detached(None, "test"), events)


def _separation_deg(ra: float, dec: float) -> float:
    cos = float(radec_to_unit(ra, dec) @ radec_to_unit(SOURCE["ra"], SOURCE["dec"]))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def test_events_are_binned_on_the_jemx_grid(binned: dict) -> None:
    jemx = get_instrument("jemx")
    counts = np.asarray(binned["counts"])
    assert counts.shape == (jemx.n_channels, *jemx.detector_shape)
    assert int(counts.sum()) == binned["n_good"] > 0
    # Events fall on the circular chamber only.
    per_pixel = counts.sum(axis=0)
    corner = per_pixel[:10, :10].sum() + per_pixel[-10:, -10:].sum()
    assert corner == 0


def test_the_image_finds_the_source(archive: Path, binned: dict) -> None:
    instrument = load_instrument(archive, "jemx")
    assert adapter_of(instrument).name == "jemx"
    calibration = calibration_of(instrument, archive)
    unit = ImageScienceWindow(bands=[[3.0, 10.0], [10.0, 35.0]])
    image = unit.run(UnitContext.detached(calibration, "test"), binned, [])
    assert image["bands"] == [[3.0, 10.0], [10.0, 35.0]]
    for band in (0, 1):
        found = [s for s in image["sources"] if s["band"] == band]
        assert len(found) == 1, found
        assert _separation_deg(found[0]["ra"], found[0]["dec"]) < 3.0 / 60.0
        assert found[0]["significance"] > 20.0
        # Once the source is cleaned, what is left is noise: its significance has unit spread.
        residual, variance = (
            np.asarray(image["residual"][band]),
            np.asarray(image["variance"][band]),
        )
        field = (np.asarray(image["exposure"][band]) > 0.5 * float(binned["ontime_s"])) & (
            variance > 0
        )
        noise = residual[field] / np.sqrt(variance[field])
        assert abs(float(noise.std()) - 1.0) < 0.1
        assert abs(float(noise.mean())) < 0.05


def test_the_pif_fit_agrees_with_the_image(archive: Path, binned: dict) -> None:
    instrument = load_instrument(archive, "jemx")
    assert max_offaxis_deg(instrument) == pytest.approx(instrument.zero_response_deg)
    calibration = calibration_of(instrument, archive)
    image = ImageScienceWindow(bands=[[3.0, 35.0]]).run(
        UnitContext.detached(calibration, "test"), binned, []
    )
    (found,) = image["sources"]
    attitude = Attitude(binned["ra_x"], binned["dec_x"], binned["ra_z"], binned["dec_z"])
    pifs = source_pifs(instrument, attitude, np.array([SOURCE["ra"]]), np.array([SOURCE["dec"]]))
    assert pifs["usable"].tolist() == [1]
    det = instrument.detector
    counts = np.asarray(binned["counts"]).sum(axis=0)[None]
    fit = fit_shadowgrams(
        counts,
        np.array([float(binned["livetime_s"])]),
        pifs["pif"],
        pifs["scale"],
        background_templates(instrument.background_template, det.module, det.live),
        det.live > 0,
    )
    rate, error = float(fit.rate[0, 0]), float(fit.error[0, 0])
    assert rate > 20.0 * error
    both = np.hypot(error, found["flux_error"])
    assert abs(rate - found["flux"]) < 4.0 * both + 0.05 * rate
