"""Light curves and the transient search on a simulated flare: truth, OGIP, stingray, VOTable."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.io.votable import parse
from astropy.table import Table

from processing.isgri import (
    CatalogSource,
    LightCurveRequest,
    band_rate,
    run_lightcurve_product,
)
from processing.isgri._products import ProductDescriptor
from processing.simulator import LightCurve, Spectrum, truth_path
from tests.processing.isgri.spectra_archives import (
    FLARE_PEAK_S,
    FLARE_T0,
    FLARER,
    STEADY,
    Archive,
    build_archive,
    votlint_problems,
)

pytestmark = pytest.mark.timeout(300)
MJDREF = 51544.0


@pytest.fixture(scope="module")
def flare(tmp_path_factory: pytest.TempPathFactory) -> tuple[Archive, ProductDescriptor]:
    archive = build_archive("flare", tmp_path_factory.mktemp("flare"))
    request = LightCurveRequest(
        sources=(
            CatalogSource(FLARER["name"], FLARER["ra"], FLARER["dec"]),
            CatalogSource(STEADY["name"], STEADY["ra"], STEADY["dec"]),
        ),
        time_range=(0.0, 1e5),
        bands=((20.0, 40.0),),
        time_bin_s=100.0,
    )
    product = run_lightcurve_product(archive.pipeline, archive.index, archive.instrument, request)
    return archive, product


def _expected(archive: Archive, name: str, table: Table, gti: Table) -> np.ndarray:
    """True mean rate in each bin (over its good time), folded through the response."""
    truth = json.loads(truth_path(archive.root, "flare").read_text())
    src = next(s for s in truth["sources"] if s["name"] == name)
    lc, spectrum = LightCurve(**src["lightcurve"]), Spectrum(**src["spectrum"])
    revs = sorted({s.revolution for s in archive.index.all()})
    per_mcrab = band_rate(
        archive.instrument,
        lambda e: spectrum.normalisation(1.0) * spectrum.shape(e),
        (20.0, 40.0),
        revs,
        np.ones(len(revs)),
    )
    out = []
    for centre, width in zip(table["TIME"], table["TIMEDEL"], strict=True):
        grid = centre - width / 2 + (np.arange(2000) + 0.5) / 2000 * width
        good = np.zeros(grid.size, dtype=bool)
        for a, b in zip(gti["START"], gti["STOP"], strict=True):
            good |= (grid >= a) & (grid < b)
        out.append(lc.flux(grid[good] + MJDREF, src["flux_mcrab"]).mean() * per_mcrab)
    return np.asarray(out)


def _read(product: ProductDescriptor, name: str) -> tuple[Table, Table, fits.Header]:
    path = product.file(f"{name}_20-40keV.lc").path
    with fits.open(path, checksum=True) as hl:
        return Table(hl["RATE"].data), Table(hl["GTI"].data), hl["RATE"].header.copy()


def test_flare_light_curve_matches_the_truth(flare: tuple[Archive, ProductDescriptor]) -> None:
    """χ²/dof of (recovered - true)/σ in [0.7, 1.3], peak in the right bin, fluence within 3 %."""
    archive, product = flare
    for name in ("Flarer", "Steady"):
        table, gti, _ = _read(product, name)
        expected = _expected(archive, name, table, gti)
        pull = (table["RATE"] - expected) / table["ERROR"]
        assert 0.7 < np.mean(pull**2) < 1.3, (name, np.mean(pull**2))
        exposure = table["TIMEDEL"] * table["FRACEXP"]
        fluence = np.sum(table["RATE"] * exposure) / np.sum(expected * exposure)
        assert abs(fluence - 1) < 0.03, (name, fluence)
    table, _, _ = _read(product, "Flarer")
    peak = (FLARE_T0 - MJDREF) + FLARE_PEAK_S / 86400
    full = table["FRACEXP"] > 0.5
    best = int(np.argmax(np.where(full, table["RATE"], -np.inf)))
    assert abs(table["TIME"][best] - peak) <= table["TIMEDEL"][best] / 2


def test_transient_search_finds_the_flare_only(flare: tuple[Archive, ProductDescriptor]) -> None:
    _, product = flare
    by_source = {t["source"]: t for t in product.metadata["transients"]}
    steady = by_source["Steady"]
    assert steady["n_blocks"] == 1 and steady["significant"] == []
    flares = [b for b in by_source["Flarer"]["significant"] if b["significance"] > 0]
    assert flares, by_source["Flarer"]
    peak = (FLARE_T0 - MJDREF) + FLARE_PEAK_S / 86400
    assert any(b["start"] <= peak <= b["stop"] for b in flares)
    assert max(b["significance"] for b in flares) > 20


def test_light_curve_files_follow_ogip(flare: tuple[Archive, ProductDescriptor]) -> None:
    archive, product = flare
    table, gti, header = _read(product, "Flarer")
    for key, value in {
        "HDUCLASS": "OGIP",
        "HDUCLAS1": "LIGHTCURVE",
        "MJDREF": 51544.0,
        "MJDREFI": 51544,
        "TIMESYS": "TT",
        "TIMEUNIT": "d",
        "TIMEPIXR": 0.5,
        "E_MIN": 20.0,
        "E_MAX": 40.0,
        "PROVHASH": product.provenance_hash,
    }.items():
        assert header[key] == value, key
    assert table.colnames == ["TIME", "TIMEDEL", "RATE", "ERROR", "FRACEXP"]
    assert np.all(np.diff(table["TIME"]) > 0)
    assert np.all((table["FRACEXP"] > 0) & (table["FRACEXP"] <= 1 + 1e-9))
    # Partially covered bins at ScW edges and telemetry gaps have FRACEXP < 1.
    assert np.any(table["FRACEXP"] < 0.99) and np.any(table["FRACEXP"] > 0.999)
    scws = archive.index.all()
    assert np.isclose(gti["START"].min(), scws[0].tstart)
    # astropy reads it as a time series too.
    assert Table.read(product.file("Flarer_20-40keV.lc").path, hdu="RATE")["RATE"].unit == "ct / s"


def test_light_curve_opens_in_stingray(flare: tuple[Archive, ProductDescriptor]) -> None:
    """Stingray's HEASARC reader assumes TJD for TIMEUNIT = d; the documented recipe works."""
    stingray = pytest.importorskip("stingray")
    _, product = flare
    table, gti, header = _read(product, "Flarer")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lc = stingray.Lightcurve(
            time=np.asarray(table["TIME"]) * 86400.0,
            counts=np.asarray(table["RATE"]),
            err=np.asarray(table["ERROR"]),
            input_counts=False,
            gti=np.column_stack([gti["START"], gti["STOP"]]) * 86400.0,
            mjdref=header["MJDREF"],
            dt=100.0,
            skip_checks=True,
        )
    assert lc.n == len(table) and np.isclose(lc.dt, 100.0)
    assert np.allclose(lc.countrate, table["RATE"])


def test_light_curve_votables(flare: tuple[Archive, ProductDescriptor]) -> None:
    _, product = flare
    for name in ("Flarer", "Steady"):
        path = product.file(f"{name}_20-40keV_lc.vot").path
        assert votlint_problems(path) == [], path
        vot = parse(path)
        assert vot.time_systems[0].timescale == "TT"
        assert vot.time_systems[0].timeorigin == "MJD-origin"
        table = vot.get_first_table()
        assert table.fields[0].ref == vot.time_systems[0].ID
        assert table.fields[0].ucd == "time.epoch" and str(table.fields[0].unit) == "d"
        assert table.array["time"].min() > MJDREF
    assert product.file("Flarer_20-40keV_lc.png").content_type == "image/png"


def test_whole_scw_bins_agree_with_fine_bins(flare: tuple[Archive, ProductDescriptor]) -> None:
    """One bin per ScW reuses the PIFs; its rate is the live-time mean of the 100 s bins."""
    archive, fine = flare
    request = LightCurveRequest(
        sources=(CatalogSource(STEADY["name"], STEADY["ra"], STEADY["dec"]),),
        time_range=(0.0, 1e5),
        time_bin_s=None,
    )
    coarse = run_lightcurve_product(archive.pipeline, archive.index, archive.instrument, request)
    with fits.open(coarse.file("Steady_20-40keV.lc").path) as hl:
        whole = Table(hl["RATE"].data)
    table, _, _ = _read(fine, "Steady")
    assert len(whole) == len(archive.index.all())
    w = table["TIMEDEL"] * table["FRACEXP"]
    mean_fine = np.sum(table["RATE"] * w) / np.sum(w)
    mean_whole = np.sum(whole["RATE"] * whole["TIMEDEL"] * whole["FRACEXP"]) / np.sum(
        whole["TIMEDEL"] * whole["FRACEXP"]
    )
    assert abs(mean_whole / mean_fine - 1) < 0.01


def test_ten_second_bins_in_the_poisson_regime(flare: tuple[Archive, ProductDescriptor]) -> None:
    """10 s bins (~0.2 counts per pixel): still χ²/dof in [0.7, 1.3] and fluence within 3 %."""
    archive, _ = flare
    request = LightCurveRequest(
        sources=(
            CatalogSource(FLARER["name"], FLARER["ra"], FLARER["dec"]),
            CatalogSource(STEADY["name"], STEADY["ra"], STEADY["dec"]),
        ),
        time_range=(0.0, 1e5),
        time_bin_s=10.0,
    )
    product = run_lightcurve_product(archive.pipeline, archive.index, archive.instrument, request)
    for name in ("Flarer", "Steady"):
        table, gti, _ = _read(product, name)
        assert np.median(table["TIMEDEL"]) * 86400 == pytest.approx(10.0)
        assert table["FRACEXP"].min() > 1e-3  # no slivers of good time
        expected = _expected(archive, name, table, gti)
        pull = (table["RATE"] - expected) / table["ERROR"]
        assert 0.7 < np.mean(pull**2) < 1.3, (name, np.mean(pull**2))
        exposure = table["TIMEDEL"] * table["FRACEXP"]
        fluence = np.sum(table["RATE"] * exposure) / np.sum(expected * exposure)
        assert abs(fluence - 1) < 0.03, (name, fluence)
