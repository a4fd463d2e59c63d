"""Spectral products on simulated archives: Sherpa with the product's RMF/ARF, OGIP, VOTables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from processing.isgri import (
    CatalogSource,
    SpectrumRequest,
    arf_values,
    response_matrix,
    run_spectrum_product,
)
from processing.isgri._products import ProductDescriptor
from processing.pipeline import (
    CacheStore,
    InlineExecutor,
    Pipeline,
    ProductCache,
    upgrade_cache_schema,
)
from processing.simulator import Spectrum
from tests.processing.isgri.spectra_archives import (
    CRAB,
    FAINT,
    GRS1758,
    GX5,
    Archive,
    build_archive,
    votlint_problems,
)
from vo_service.db import make_engine

pytestmark = pytest.mark.timeout(300)


def _source(d: dict) -> CatalogSource:
    return CatalogSource(d["name"], d["ra"], d["dec"])


@pytest.fixture(scope="module")
def crab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Archive, ProductDescriptor]:
    archive = build_archive("crab", tmp_path_factory.mktemp("crab"))
    request = SpectrumRequest(
        sources=(_source(CRAB), _source(FAINT)),
        time_range=(0.0, 1e5),
        models=("powerlaw", "cutoffpl"),
    )
    return archive, run_spectrum_product(
        archive.pipeline, archive.index, archive.instrument, request
    )


def _truth_norm_at(spectrum: Spectrum, flux_mcrab: float, energy: float) -> float:
    return float(spectrum.normalisation(flux_mcrab) * spectrum.shape(np.array([energy]))[0])


def _sherpa_powerlaw(pha: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[float, float]]:
    ui = pytest.importorskip("sherpa.astro.ui")
    monkeypatch.chdir(pha.parent)  # RESPFILE/ANCRFILE are relative to the spectrum
    ui.clean()
    ui.load_pha(1, pha.name, use_errors=True)
    ui.set_stat("chi2")
    ui.notice(30.0, 300.0)
    ui.set_source(1, ui.powlaw1d.pl)
    pl = ui.get_model_component("pl")
    pl.ref = 50.0
    ui.fit(1)
    ui.covar(1)
    res = ui.get_covar_results()
    return {
        name.split(".")[1]: (float(v), float(e))
        for name, v, e in zip(res.parnames, res.parvals, res.parmaxes, strict=True)
    }


def test_sherpa_recovers_the_crab_with_the_products_response(
    crab: tuple[Archive, ProductDescriptor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sherpa loads PHA + RMF + ARF unmodified; Γ within 0.02, norm at 50 keV within 2 %."""
    _, product = crab
    fit = _sherpa_powerlaw(product.file("Crab.pha").path, monkeypatch)
    gamma, gamma_err = fit["gamma"]
    ampl, _ = fit["ampl"]
    truth = _truth_norm_at(Spectrum(index=2.1), 1000.0, 50.0)
    assert abs(gamma - 2.1) < 0.02, fit
    assert gamma_err < 0.02
    assert abs(ampl / truth - 1.0) < 0.02, (ampl, truth)


def test_quick_fit_matches_the_truth(crab: tuple[Archive, ProductDescriptor]) -> None:
    _, product = crab
    fits_by = {(f["source"], f["model"]): f for f in product.metadata["fits"]}
    crab_pl = fits_by[("Crab", "powerlaw")]
    assert abs(crab_pl["parameters"]["index"] - 2.1) < 0.02
    truth = _truth_norm_at(Spectrum(index=2.1), 1000.0, 50.0)
    assert abs(crab_pl["parameters"]["norm"] / truth - 1) < 0.02
    assert 0.7 < crab_pl["chi2"] / crab_pl["dof"] < 1.5
    # The 20 mCrab source: consistent with the truth within 3 sigma.
    faint = fits_by[("Faint", "powerlaw")]
    f_truth = _truth_norm_at(Spectrum(index=2.0), 20.0, 50.0)
    assert abs(faint["parameters"]["index"] - 2.0) < 3 * faint["errors"]["index"]
    assert abs(faint["parameters"]["norm"] - f_truth) < 3 * faint["errors"]["norm"]
    # No cut-off in a power law: the cut-off energy runs far above the band.
    assert fits_by[("Crab", "cutoffpl")]["parameters"]["cutoff"] > 300
    # Energy fluxes in ISGRI's flux band (20-40 keV, below the 30-300 keV fit band: the model
    # carries the fit down), against the simulated truth.
    for fit, spectrum, mcrab, tolerance in (
        (crab_pl, Spectrum(index=2.1), 1000.0, 0.03),
        (faint, Spectrum(index=2.0), 20.0, None),
    ):
        assert (fit["flux_e_min"], fit["flux_e_max"]) == (20.0, 40.0)
        truth_flux = _truth_energy_flux(spectrum, mcrab, 20.0, 40.0)
        error = fit["energy_flux_error"]
        assert 0 < error < 0.5 * fit["energy_flux"]
        if tolerance is not None:
            assert abs(fit["energy_flux"] / truth_flux - 1) < tolerance, (fit, truth_flux)
        assert abs(fit["energy_flux"] - truth_flux) < 3 * error, (fit, truth_flux)


def _truth_energy_flux(spectrum: Spectrum, flux_mcrab: float, e1: float, e2: float) -> float:
    """∫ E N(E) dE of the simulated spectrum over [e1, e2] keV, erg cm⁻² s⁻¹."""
    grid = np.geomspace(e1, e2, 2049)
    photons = spectrum.normalisation(flux_mcrab) * spectrum.shape(grid)
    return float(np.trapezoid(grid * photons, grid)) * 1.602176634e-9


def test_fit_table_reports_the_energy_flux(crab: tuple[Archive, ProductDescriptor]) -> None:
    from astropy.table import Table

    _, product = crab
    table = Table.read(product.file("fits.vot").path, format="votable")
    rows = {(str(r["source"]), str(r["model"]), str(r["parameter"])): r for r in table}
    for fit in product.metadata["fits"]:
        row = rows[(fit["source"], fit["model"], "eflux_20-40keV")]
        assert str(row["unit"]) == "erg cm-2 s-1"
        assert np.isclose(row["value"], fit["energy_flux"], rtol=1e-12)
        assert np.isclose(row["error"], fit["energy_flux_error"], rtol=1e-12)
    assert len(table) == sum(len(f["parameters"]) + 1 for f in product.metadata["fits"])


def test_products_follow_ogip(crab: tuple[Archive, ProductDescriptor]) -> None:
    archive, product = crab
    assert {f.name for f in product.files} >= {
        "Crab.pha",
        "Crab.rmf",
        "Crab.arf",
        "Crab_spectrum.vot",
        "Crab_spectrum.png",
        "Faint.pha",
        "fits.vot",
        "fits.json",
    }
    assert product.file("Crab.pha").content_type == "application/fits"
    assert product.file("Crab_spectrum.png").path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with fits.open(product.file("Crab.pha").path, checksum=True) as hl:
        h = hl["SPECTRUM"].header
        for key, value in {
            "HDUCLASS": "OGIP",
            "HDUCLAS1": "SPECTRUM",
            "HDUCLAS3": "RATE",
            "CHANTYPE": "PI",
            "POISSERR": False,
            "RESPFILE": "Crab.rmf",
            "ANCRFILE": "Crab.arf",
            "BACKFILE": "NONE",
            "DETCHANS": 127,
            "TLMIN1": 1,
            "TLMAX1": 127,
            "MJDREF": 51544.0,
            "TIMESYS": "TT",
            "OBJECT": "Crab",
            "PROVHASH": product.provenance_hash,
        }.items():
            assert h[key] == value, key
        livetime = sum(s.ontime * s.deadc for s in archive.index.all())
        assert h["EXPOSURE"] == pytest.approx(livetime, rel=1e-6)
        cols = hl["SPECTRUM"].columns
        assert cols.names == ["CHANNEL", "RATE", "STAT_ERR", "SYS_ERR", "QUALITY"]
        assert np.all(hl["SPECTRUM"].data["SYS_ERR"] == np.float32(0.01))
    with fits.open(product.file("Crab.rmf").path) as hl:
        m = hl["MATRIX"]
        assert m.header["HDUCLAS2"] == "RSP_MATRIX" and m.header["DETCHANS"] == 127
        assert hl["EBOUNDS"].data["CHANNEL"][0] == 1
        rows = m.data
        assert np.all(rows["F_CHAN"] >= 1)
        assert np.all(rows["F_CHAN"] + rows["N_CHAN"] - 1 <= 127)
    with fits.open(product.file("Crab.arf").path) as hl:
        assert hl["SPECRESP"].header["HDUCLAS2"] == "SPECRESP"
        assert hl["SPECRESP"].data["SPECRESP"].max() == pytest.approx(970.0, rel=0.05)


def test_votables_pass_votlint(crab: tuple[Archive, ProductDescriptor]) -> None:
    _, product = crab
    votables = [f.path for f in product.files if f.name.endswith(".vot")]
    assert len(votables) == 3
    for path in votables:
        assert votlint_problems(path) == [], path
    from astropy.io.votable import parse

    table = parse(product.file("Crab_spectrum.vot").path).get_first_table()
    assert str(table.fields[3].unit) in ("ct / s", "count / s")
    assert table.fields[3].ucd == "phot.count;arith.rate"
    assert len(table.array) == 127


def test_confused_sources_are_each_unbiased(tmp_path: Path) -> None:
    """GX 5-1 and GRS 1758-258, 0.66° apart, fitted together: each within 3 % and 3σ."""
    archive = build_archive("confused", tmp_path / "confused")
    request = SpectrumRequest(sources=(_source(GX5), _source(GRS1758)), time_range=(0.0, 1e5))
    product = run_spectrum_product(archive.pipeline, archive.index, archive.instrument, request)
    edges = None
    for k, spec in enumerate(archive.scenario.sources):
        with fits.open(product.file(f"{spec.name.replace(' ', '_')}.pha").path) as hl:
            rate = hl["SPECTRUM"].data["RATE"].astype(float)
            err = hl["SPECTRUM"].data["STAT_ERR"].astype(float)
        with fits.open(product.file(f"{spec.name.replace(' ', '_')}.rmf").path) as hl:
            edges = np.append(hl["EBOUNDS"].data["E_MIN"], hl["EBOUNDS"].data["E_MAX"][-1])
        revs = sorted({s.revolution for s in archive.index.all()})
        rmf, elo, ehi = response_matrix(archive.instrument, edges, revs, np.ones(len(revs)))
        sp = spec.spectrum
        assert sp is not None and spec.flux_mcrab is not None
        centre = np.sqrt(elo * ehi)
        photons = sp.normalisation(spec.flux_mcrab) * sp.shape(centre) * (ehi - elo)
        expected = (photons * arf_values(archive.instrument, elo, ehi)) @ rmf
        band = (edges[:-1] >= 25.0) & (edges[1:] <= 100.0)
        got, sigma, want = rate[band].sum(), np.sqrt((err[band] ** 2).sum()), expected[band].sum()
        assert abs(got / want - 1) < 0.03, (spec.name, got, want, sigma)
        assert abs(got - want) < 3 * sigma, (spec.name, got, want, sigma)
        assert k < 2


def test_rerun_uses_the_cache_and_is_bit_identical(
    crab: tuple[Archive, ProductDescriptor], tmp_path: Path
) -> None:
    archive, product = crab
    request = SpectrumRequest(
        sources=(_source(CRAB), _source(FAINT)),
        time_range=(0.0, 1e5),
        models=("powerlaw", "cutoffpl"),
    )
    again = run_spectrum_product(archive.pipeline, archive.index, archive.instrument, request)
    assert again.provenance_hash == product.provenance_hash
    # A fresh cache recomputes everything: the files are bit-identical.
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    upgrade_cache_schema(engine)
    fresh = Pipeline(
        ProductCache(CacheStore(tmp_path / "fresh", durable=False), engine), InlineExecutor()
    )
    other = run_spectrum_product(fresh, archive.index, archive.instrument, request)
    assert other.provenance_hash == product.provenance_hash
    for name in ("Crab.pha", "Crab.rmf", "Faint.pha", "fits.json"):
        assert other.file(name).path.read_bytes() == product.file(name).path.read_bytes(), name
