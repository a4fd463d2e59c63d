"""The JEM-X-like camera: calibration files from data, its archive layout and its simulation."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from click.testing import CliRunner

from processing.archive import default_event_layout, read_events, scw_dir
from processing.instrument import (
    CalibrationError,
    Instrument,
    calibration_layout,
    calibration_names,
    coded_fraction,
    hura,
    load_instrument,
    pixel_illumination,
    rasterise,
    write_calibration,
)
from processing.simulator import (
    BackgroundModel,
    PointingPlan,
    Scenario,
    ScenarioError,
    SourceModel,
    builtin_scenarios,
    load_scenario,
    plan,
    simulate_archive,
)
from tests._archives import tiny_scenario

DATA = Path(__file__).resolve().parents[3] / "processing" / "instrument" / "data"


@pytest.fixture(scope="module")
def jemx(tmp_path_factory: pytest.TempPathFactory) -> Instrument:
    root = tmp_path_factory.mktemp("jemx_ic")
    write_calibration(root, instrument="jemx")
    return load_instrument(root, "jemx")


# Calibration ---------------------------------------------------------------------------------


def test_both_cameras_have_calibration_facts() -> None:
    assert {"isgri", "jemx"} <= set(calibration_names())
    isgri, jemx = calibration_layout("isgri"), calibration_layout("jemx")
    assert isgri.ic_dir == Path("ic/ibis/mod") and jemx.ic_dir == Path("ic/jmx1/mod")
    assert isgri.events == default_event_layout()  # the archive's default layout is ISGRI's
    assert jemx.events.file == "jmx1_events.fits.gz"
    assert jemx.events.extname == "JMX1-FULL-ALL"
    # A calibration YAML given by path describes the same camera.
    assert calibration_layout(DATA / "jemx_calibration.yaml") == jemx
    with pytest.raises(CalibrationError, match="no calibration facts for instrument 'xmm'"):
        calibration_layout("xmm")


def test_jemx_ic_files_are_written_in_their_own_folder(tmp_path: Path) -> None:
    files = write_calibration(tmp_path, instrument="jemx")
    assert sorted(f.relative_to(tmp_path).as_posix() for f in files) == [
        "ic/jmx1/mod/jmx1_back_mod_0001.fits",
        "ic/jmx1/mod/jmx1_effa_mod_0001.fits",
        "ic/jmx1/mod/jmx1_geom_mod_0001.fits",
        "ic/jmx1/mod/jmx1_mask_mod_0001.fits",
        "ic/jmx1/mod/jmx1_resp_mod_0001.fits",
    ]
    with fits.open(tmp_path / "ic/jmx1/mod/jmx1_mask_mod_0001.fits") as hdul:
        assert hdul[0].header["INSTRUME"] == "JMX1"
        assert [h.name for h in hdul] == [
            "PRIMARY",
            "JMX1-MASK-MOD",
            "JMX1-MASK-MOD-SUPP",
            "JMX1-MASK-MOD-CELL",
        ]
        assert hdul["JMX1-MASK-MOD"].header["MASKTYPE"] == "HURA"
    assert not (tmp_path / "ic/ibis").exists()
    # An archive with JEM-X calibration only has no ISGRI model, and the error says which file.
    with pytest.raises(CalibrationError, match="isgr_mask_mod"):
        load_instrument(tmp_path)


def test_jemx_mask_round_trip(jemx: Instrument) -> None:
    mask = jemx.mask
    assert mask.lattice == "hexagonal" and mask.basic_order == 22501
    assert mask.cell_mm == 3.3 and mask.element_mm == 1.65
    assert mask.focal_mm == 3400.0 and mask.thickness_mm == 0.5
    assert mask.support is not None
    # 22 501 hexagonal cells of 3.3 mm pitch (9.43 mm^2 each), 25 % open.
    area_mm2 = mask.support.sum() * mask.element_mm**2
    assert area_mm2 == pytest.approx(22501 * np.sqrt(3) / 2 * 3.3**2, rel=0.01)
    assert mask.open_fraction == pytest.approx(0.25, abs=0.005)
    # The file holds exactly the rasterised HURA of order 22501 (biquadratic residues).
    pattern, support = rasterise(hura(22501, 4), 3.3, 1.65, mask.size)
    np.testing.assert_array_equal(mask.pattern, pattern)
    np.testing.assert_array_equal(mask.support, support)
    # The hexagon spans ~495 mm across the flats and ~570 mm across the corners (535 mm mean).
    assert 2 * mask.outer_radius_mm == pytest.approx(575.0, abs=8.0)


def test_jemx_detector_is_a_circular_gas_chamber(jemx: Instrument) -> None:
    det = jemx.detector
    assert det.outline == "circle" and det.diameter_mm == 250.0
    assert det.shape == (152, 152) and det.n_modules == 1
    r = np.hypot(det.y_mm[:, None], det.z_mm[None, :])
    np.testing.assert_array_equal(det.live > 0, r <= 125.0)
    assert det.live_area_cm2 == pytest.approx(np.pi * 12.5**2, rel=0.01)  # ~490 cm^2
    assert det.sensitive_area_cm2 == pytest.approx(det.live_area_cm2)
    assert np.all(jemx.background_template[det.live == 0] == 0)
    assert jemx.background_template[det.live > 0].mean() == pytest.approx(1.0, rel=1e-5)


def test_jemx_fields_of_view_and_resolution(jemx: Instrument) -> None:
    mask, det = jemx.mask, jemx.detector

    def cf(deg: float, axis: int) -> float:
        t = float(np.tan(np.radians(deg)))
        return coded_fraction(mask, det, t, 0.0) if axis == 0 else coded_fraction(mask, det, 0.0, t)

    for axis in (0, 1):
        assert cf(2.0, axis) == 1.0  # fully coded field ~4.8 deg across
        assert cf(3.0, axis) < 0.95
        assert cf(7.0, axis) == 0.0  # zero response at ~13.2 deg across
    assert 6.4 < jemx.zero_response_deg < 7.2
    # Angular resolution: one cell seen from the detector, 3.34'; sky pixel half of that.
    assert np.degrees(mask.cell_mm / mask.focal_mm) * 60 == pytest.approx(3.34, abs=0.01)
    assert jemx.sky_pixel_deg * 60 == pytest.approx(1.67, abs=0.01)
    # A thin mask: on axis, the detector sees about the open fraction through the hexagonal
    # cells (26 %: the central ~5 200 cells of the 22 501 are a little more open than the whole).
    pif = pixel_illumination(mask, det, 0.0, 0.0)[det.live > 0]
    assert pif.mean() == pytest.approx(0.25, abs=0.015)


def test_jemx_response(jemx: Instrument) -> None:
    assert jemx.energy_range_keV == (3.0, 35.0)
    red = jemx.redistribution
    for e in (3.0, 6.0, 10.0, 22.0, 35.0):
        fwhm = red.sigma(np.array([e]))[0] * 2 * np.sqrt(2 * np.log(2))
        assert fwhm / e == pytest.approx(0.40 * np.sqrt(1 / e + 1 / 60), rel=1e-6)
    area = jemx.effective_area(np.linspace(3.0, 35.0, 321))
    peak = np.linspace(3.0, 35.0, 321)[np.argmax(area)]
    assert 50.0 < area.max() < 100.0 and 8.0 <= peak <= 12.0
    eff = jemx.detector_efficiency(np.array([3.0, 10.0, 35.0]))
    assert np.all((eff > 0) & (eff < 1))
    assert jemx.low_threshold.cut_keV == 3.0
    assert jemx.low_threshold.efficiency(np.array([2.99, 3.5]), 100)[0] == 0.0
    # Probability is conserved away from the band edges (the escape peaks stay inside).
    edges = np.geomspace(3.0, 35.0, 120)
    channels = np.linspace(1.0, 40.0, 300)
    total = red.matrix(edges, channels).sum(axis=1)
    centre = np.sqrt(edges[1:] * edges[:-1])
    assert np.allclose(total[(centre > 8) & (centre < 25)], 1.0, atol=1e-3)


def test_jemx_calibration_is_read_from_the_files(tmp_path: Path) -> None:
    files = write_calibration(tmp_path, instrument="jemx")
    geom = next(f for f in files if "geom" in f.name)
    with fits.open(geom, mode="update") as hdul:
        hdul["JMX1-LIVE-MAP"].header["DEADTIME"] = 2.0e-5
    inst = load_instrument(tmp_path, "jemx")
    assert inst.detector.deadtime_s == 2.0e-5
    assert inst.key == "jemx" and inst.events is not None
    assert inst.events.extname == "JMX1-FULL-ALL"


# ISGRI unchanged -----------------------------------------------------------------------------

# SHA-256 of ISGRI's IC files and of the decompressed first event file of the `tiny` scenario,
# as written before cameras became data (commit 85e76e2): ISGRI archives are byte-identical.
_ISGRI_IC = {
    "isgr_back_mod_0001.fits": "38f2a6d92ab99c5338c566da77cafa6541f9f48ecd8adf3c907b87e47197abea",
    "isgr_effa_mod_0001.fits": "9a1f54a91d06bf5074263ee3a57d3a070f5d35c02fc32140a0462346b3ccc6ce",
    "isgr_geom_mod_0001.fits": "838bb7d6bb233a87639fc8dd37c2bfda3bb7eb48898669d791102a470f24f877",
    "isgr_mask_mod_0001.fits": "2174fa48d1506110095cee3f0d352da5f3934a91204e89dbcc1788878fadae46",
    "isgr_resp_mod_0001.fits": "84fceadad3910af190eb16e82284373f5ab21dad1fc9c552b8b8395f82690607",
}
_ISGRI_TINY_EVENTS = "ef8bae3ee824b0ff4e2e8389d4efbc89c5bf82f5483d1170bd4a5ee76827f88d"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_isgri_archive_is_unchanged(tmp_path: Path) -> None:
    result = simulate_archive(tiny_scenario(), tmp_path, limit=1)
    got = {p.name: _sha(p.read_bytes()) for p in (tmp_path / "ic/ibis/mod").glob("*.fits")}
    assert got == _ISGRI_IC
    events = tmp_path / scw_dir(plan(tiny_scenario())[1][0].scw) / "isgri_events.fits.gz"
    assert _sha(gzip.decompress(events.read_bytes())) == _ISGRI_TINY_EVENTS
    assert not (tmp_path / "ic/jmx1").exists()
    truth = json.loads(result.truth_file.read_text())
    assert "instruments" not in truth["scenario"] and "science_windows_by_instrument" not in truth
    assert load_instrument(tmp_path).name == "IBIS/ISGRI"


# Simulation ----------------------------------------------------------------------------------


def _jemx_scenario(
    *,
    flux_mcrab: float = 1000.0,
    offset_deg: float = 0.0,
    background: BackgroundModel | None = None,
    duration_s: float = 400.0,
) -> Scenario:
    sources = [SourceModel(name="Test", ra=120.0, dec=0.0, flux_mcrab=flux_mcrab)]
    quiet = BackgroundModel(rate_20_40=0.0, line_rates=[0.0], lines_keV=[8.05], noisy_pixels=0)
    return Scenario(
        name="jemx-test",
        seed=5,
        catalog_sources=False,
        instruments=["jemx"],
        sources=sources if flux_mcrab > 0 else [],
        backgrounds={"jemx": background or quiet},
        pointings=[
            PointingPlan(
                ra=120.0 + offset_deg,
                dec=0.0,
                start=58000.0,
                n_scw=1,
                pattern="staring",
                scw_duration_s=duration_s,
                roll_deg=0.0,
            )
        ],
    )


def _only_events(root: Path, inst: Instrument):  # type: ignore[no-untyped-def]
    assert inst.events is not None
    (path,) = sorted((root / "scw").glob(f"*/*/{inst.events.file}"))
    return read_events(path, inst.events)


def test_source_counts_follow_effective_area_and_exposure(tmp_path: Path) -> None:
    scenario = _jemx_scenario()
    simulate_archive(scenario, tmp_path)
    inst = load_instrument(tmp_path, "jemx")
    ev = _only_events(tmp_path, inst)
    header = ev.header
    assert header["INSTRUME"] == "JMX1" and header["SIMSCEN"] == "jemx-test"
    # Expected counts measured in 6-25 keV: spectrum x effective area x redistribution x
    # exposure x the open fraction the detector actually sees (over the nominal 25 %).
    source = plan(scenario)[0][0]
    edges = np.geomspace(3.0, 35.0, 801)
    centre = np.sqrt(edges[1:] * edges[:-1])
    photons = source.spectrum.normalisation(1000.0) * source.spectrum.shape(centre) * np.diff(edges)
    channels = np.array([6.0, 25.0])
    in_band = inst.redistribution.matrix(edges, channels)[:, 0]
    seen = pixel_illumination(inst.mask, inst.detector, 0.0, 0.0)[inst.detector.live > 0].mean()
    seen /= inst.effective_area.nominal_open_fraction
    exposure = float(header["TELAPSE"]) * float(header["DEADC"])
    expected = float(np.sum(photons * inst.effective_area(centre) * in_band)) * exposure * seen
    measured = int(np.sum((ev.energy >= 6.0) & (ev.energy < 25.0)))
    assert expected > 2e4  # about 150 counts/s from the Crab in 3-35 keV
    assert measured == pytest.approx(expected, rel=0.02)
    # Every event lies on the circular chamber and inside 3-35 keV.
    assert np.all(inst.detector.live[ev.dety, ev.detz] == 1)
    assert ev.energy.min() >= 3.0 and ev.energy.max() <= 35.0


def test_source_counts_fall_with_the_coded_fraction(tmp_path: Path) -> None:
    simulate_archive(_jemx_scenario(offset_deg=3.5), tmp_path / "off")
    simulate_archive(_jemx_scenario(), tmp_path / "on")
    inst = load_instrument(tmp_path / "on", "jemx")
    on = len(_only_events(tmp_path / "on", inst))
    off = len(_only_events(tmp_path / "off", inst))
    t = float(np.tan(np.radians(3.5)))
    pif = pixel_illumination(inst.mask, inst.detector, t, 0.0)[inst.detector.live > 0].mean()
    pif0 = pixel_illumination(inst.mask, inst.detector, 0.0, 0.0)[inst.detector.live > 0].mean()
    assert 0.2 < off / on < 0.8  # partially coded at 3.5 deg
    assert off / on == pytest.approx(pif / pif0 * np.cos(np.arctan(t)), rel=0.03)


def test_background_level_and_shape(tmp_path: Path) -> None:
    background = BackgroundModel(
        rate_20_40=40.0,
        band_keV=(5.0, 30.0),
        continuum_index=0.5,
        lines_keV=[8.05],
        line_rates=[4.0],
        scw_jitter=0.0,
        module_jitter=0.0,
        noisy_pixels=0,
    )
    simulate_archive(
        _jemx_scenario(flux_mcrab=0.0, background=background, duration_s=1000.0), tmp_path
    )
    inst = load_instrument(tmp_path, "jemx")
    ev = _only_events(tmp_path, inst)
    exposure = float(ev.header["TELAPSE"]) * float(ev.header["DEADC"])
    continuum = np.sum((ev.energy >= 10.0) & (ev.energy < 30.0)) / exposure
    # A flat E^-0.5 continuum of 40 counts/s in 5-30 keV puts (30^.5 - 10^.5) / (30^.5 - 5^.5)
    # of it in 10-30 keV (the Cu line at 8 keV stays below).
    share = (30**0.5 - 10**0.5) / (30**0.5 - 5**0.5)
    assert continuum == pytest.approx(40.0 * share, rel=0.04)
    line = np.sum((ev.energy > 7.0) & (ev.energy < 9.0)) / exposure
    near = np.sum((ev.energy > 9.0) & (ev.energy < 11.0)) / exposure
    assert line - near == pytest.approx(4.0, rel=0.15)  # the Cu K-alpha line above the continuum
    # Spatial shape: the template's rise towards the chamber's edge.
    counts = np.zeros(inst.detector.shape)
    np.add.at(counts, (ev.dety, ev.detz), 1)
    r = np.hypot(inst.detector.y_mm[:, None], inst.detector.z_mm[None, :])
    inner, outer = (r < 60) & (inst.detector.live > 0), (r > 100) & (inst.detector.live > 0)
    template = inst.background_template
    ratio = counts[outer].mean() / counts[inner].mean()
    assert ratio == pytest.approx(template[outer].mean() / template[inner].mean(), rel=0.02)
    assert ratio > 1.04


def test_an_archive_holds_both_cameras_for_the_same_science_windows(tmp_path: Path) -> None:
    both = tiny_scenario().model_copy(update={"instruments": ["isgri", "jemx"]})
    result = simulate_archive(both, tmp_path / "both", limit=2)
    simulate_archive(tiny_scenario(), tmp_path / "isgri", limit=2)
    for scw in result.scw_ids:
        folder = Path("scw") / scw[:4] / scw
        isgri = (tmp_path / "both" / folder / "isgri_events.fits.gz").read_bytes()
        assert isgri == (tmp_path / "isgri" / folder / "isgri_events.fits.gz").read_bytes()
        with fits.open(tmp_path / "both" / folder / "jmx1_events.fits.gz") as hdul:
            assert [h.name for h in hdul] == ["PRIMARY", "JMX1-FULL-ALL", "JMX1-GNRL-GTI"]
            cols = hdul["JMX1-FULL-ALL"].columns
            assert cols.names == ["TIME", "ENERGY", "DETX", "DETY", "STATUS"]
            assert hdul["JMX1-FULL-ALL"].header["SWID"] == scw[:12]
    truth = json.loads(result.truth_file.read_text())
    by = truth["science_windows_by_instrument"]
    assert [r["scw_id"] for r in by["jemx"]] == [r["scw_id"] for r in by["isgri"]]
    assert truth["science_windows"] == by["isgri"]
    # JEM-X sees the Crab only within ~6.6 deg; ISGRI sees more of the sky.
    assert all(s["offaxis_deg"] < 7.0 for r in by["jemx"] for s in r["sources"])


def test_scenarios_name_known_cameras() -> None:
    with pytest.raises(ValueError, match="unknown instrument"):
        tiny_scenario().model_validate(
            {**tiny_scenario().model_dump(), "instruments": ["isgri", "xmm"]}
        )
    with pytest.raises(ValueError, match="not simulated"):
        Scenario.model_validate(
            {**tiny_scenario().model_dump(), "backgrounds": {"jemx": BackgroundModel()}}
        )
    with pytest.raises(ValueError, match="band_keV"):
        BackgroundModel(band_keV=(30.0, 5.0))


def test_builtin_jemx_scenario_through_the_cli(tmp_path: Path) -> None:
    from vo_service.cli import main

    assert "crab-jemx" in builtin_scenarios()
    scenario = load_scenario("crab-jemx")
    assert scenario.instruments == ["jemx", "isgri"]
    with pytest.raises(ScenarioError):
        load_scenario("crab-jemx-nope")
    out = tmp_path / "archive"
    result = CliRunner().invoke(
        main,
        [
            "archive",
            "simulate",
            "--scenario",
            "crab-jemx",
            "--out",
            str(out),
            "--limit",
            "1",
            "--workers",
            "1",
            "--no-ingest",
        ],
    )
    assert result.exit_code == 0, result.output
    (jmx,) = sorted(out.glob("scw/*/*/jmx1_events.fits.gz"))
    assert (jmx.parent / "isgri_events.fits.gz").is_file()
    inst = load_instrument(out, "jemx")
    ev = read_events(jmx, inst.events or default_event_layout())
    crab = json.loads((out / "truth" / "crab-jemx.json").read_text())["science_windows"][0]
    assert crab["instrument"] == "jemx"
    (src,) = [s for s in crab["sources"] if s["name"] == "Crab"]
    # The Crab at the centre of the dither: ~150 counts/s of the camera's events.
    assert src["transmitted"] / float(ev.header["TELAPSE"]) == pytest.approx(150.0, rel=0.2)
