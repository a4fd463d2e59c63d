"""PIF fitting, response, catalogs and transient search on synthetic data (no simulator)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from processing.codedmask._lightcurve import bin_time_resolved, concatenate_lightcurves
from processing.instrument import Attitude, Instrument, load_instrument, write_calibration
from processing.isgri import (
    DEFAULT_CHANNEL_EDGES,
    CatalogError,
    CatalogSource,
    LightCurveRequest,
    RequestError,
    SpectralFitError,
    SpectrumRequest,
    arf_values,
    background_templates,
    find_blocks,
    fit_shadowgrams,
    fit_spectrum,
    read_source_catalog,
    reference_catalog,
    response_matrix,
    source_pifs,
    stack_spectra,
)
from processing.simulator import Scenario, simulate_archive


@pytest.fixture(scope="module")
def instrument(tmp_path_factory: pytest.TempPathFactory) -> Instrument:
    root = tmp_path_factory.mktemp("ic")
    write_calibration(root)
    return load_instrument(root)


def _model(instrument: Instrument, ra: list[float], dec: list[float]):
    att = Attitude.from_roll(83.0, 22.0, 30.0)
    pif = source_pifs(instrument, att, np.array(ra), np.array(dec))
    det = instrument.detector
    templates = background_templates(instrument.background_template, det.module, det.live)
    return pif, templates, det.live > 0


def test_poisson_fit_recovers_rates_without_bias(instrument: Instrument) -> None:
    """Counts drawn from the model itself: rates unbiased, errors right (pulls ~ N(0, 1))."""
    pif, templates, pixels = _model(instrument, [83.633, 84.6], [22.0145, 22.3])
    rng = np.random.default_rng(1)
    n_rows, live = 200, 500.0
    true_rate = np.array([40.0, 3.0])
    bkg = np.linspace(0.01, 0.013, templates.shape[0])  # counts/s per pixel, per module
    mu = live * (
        np.tensordot(true_rate * pif["scale"], pif["pif"], axes=1)
        + np.tensordot(bkg, templates, axes=1)
    )
    counts = rng.poisson(np.broadcast_to(mu, (n_rows, *mu.shape)))
    fit = fit_shadowgrams(
        counts, np.full(n_rows, live), pif["pif"], pif["scale"], templates, pixels
    )
    pulls = (fit.rate - true_rate) / fit.error
    assert np.all(np.abs(pulls.mean(axis=0)) < 0.25), pulls.mean(axis=0)
    assert np.all(np.abs(pulls.std(axis=0) - 1.0) < 0.12), pulls.std(axis=0)
    assert np.allclose(fit.background.mean(axis=0), bkg, rtol=0.01)
    assert 0.95 < np.mean(fit.chi2 / fit.dof) < 1.05


def test_low_count_bins_use_the_poisson_likelihood(instrument: Instrument) -> None:
    """~0.2 counts per pixel: a chi-square fit weighted by the data would be biased low."""
    pif, templates, pixels = _model(instrument, [83.633], [22.0145])
    rng = np.random.default_rng(2)
    n_rows, live = 300, 10.0
    true_rate = 30.0
    mu = live * (true_rate * pif["scale"][0] * pif["pif"][0] + 0.02 * templates.sum(axis=0))
    counts = rng.poisson(np.broadcast_to(mu, (n_rows, *mu.shape)))
    fit = fit_shadowgrams(
        counts, np.full(n_rows, live), pif["pif"], pif["scale"], templates, pixels
    )
    rate = fit.rate[:, 0]
    err = fit.error[:, 0]
    mean_err = err.mean() / np.sqrt(n_rows)
    assert abs(rate.mean() - true_rate) < 3 * mean_err
    assert abs(np.std((rate - true_rate) / err) - 1.0) < 0.1


def test_rows_without_exposure_are_nan(instrument: Instrument) -> None:
    pif, templates, pixels = _model(instrument, [83.633], [22.0145])
    counts = np.ones((2, *pixels.shape))
    fit = fit_shadowgrams(
        counts, np.array([0.0, 100.0]), pif["pif"], pif["scale"], templates, pixels
    )
    assert np.isnan(fit.rate[0, 0]) and np.isfinite(fit.rate[1, 0])


def test_pif_geometry_on_and_off_axis(instrument: Instrument) -> None:
    att = Attitude.from_roll(83.0, 22.0, 0.0)
    ra = np.array([83.0, 83.0, 83.0, 263.0])
    dec = np.array([22.0, 34.0, 42.0, -22.0])
    pif = source_pifs(instrument, att, ra, dec)
    live = instrument.detector.live > 0
    on_axis = pif["pif"][0][live].mean()
    assert 0.4 < on_axis < 0.6  # ~50 % open mask
    # 12° off axis: partially coded, a smaller shadow; 20° off axis and behind: none.
    assert 0.02 < pif["pif"][1][live].mean() < 0.5 * on_axis
    assert pif["usable"].tolist() == [1, 1, 0, 0]
    assert pif["offaxis_deg"][0] < 1e-6 and pif["pif"][2].sum() == 0 and pif["pif"][3].sum() == 0
    assert np.isclose(pif["scale"][1] / pif["scale"][0], np.cos(np.radians(12.0)), rtol=1e-3)


def test_response_rows_and_threshold(instrument: Instrument) -> None:
    edges = DEFAULT_CHANNEL_EDGES
    early, elo, ehi = response_matrix(instrument, edges, [100], [1.0])
    late, _, _ = response_matrix(instrument, edges, [1700], [1.0])
    mixed, _, _ = response_matrix(instrument, edges, [100, 1700], [1.0, 3.0])
    assert np.all(early.sum(axis=1) <= 1.0 + 1e-9)
    centre = np.sqrt(elo * ehi)
    mid = (centre > 60) & (centre < 300)
    assert np.all(early[mid].sum(axis=1) > 0.9)
    # Threshold 30 keV after revolution 1600: the 20-21 keV channel is empty there.
    assert late[:, 5].sum() < 1e-3 * early[:, 5].sum()
    assert np.allclose(mixed, 0.25 * early + 0.75 * late)
    arf = arf_values(instrument, elo, ehi)
    assert np.allclose(arf, instrument.effective_area(centre), rtol=0.02)


def _folded_power_law(instrument: Instrument) -> tuple[np.ndarray, ...]:
    """The count rates of 10 E^-2.1 photons cm⁻² s⁻¹ keV⁻¹ through revolution 500's response:
    (rate, edges, elo, ehi, arf, rmf)."""
    edges = np.asarray(DEFAULT_CHANNEL_EDGES, dtype=float)
    rmf, elo, ehi = response_matrix(instrument, edges, [500], [1.0])
    arf = arf_values(instrument, elo, ehi)
    centre = np.sqrt(elo * ehi)
    rate = (10.0 * centre**-2.1 * (ehi - elo) * arf) @ rmf
    return rate, edges, elo, ehi, arf, rmf


def test_quick_fit_recovers_a_folded_power_law(instrument: Instrument) -> None:
    rate, edges, elo, ehi, arf, rmf = _folded_power_law(instrument)
    err = 0.01 * rate + 1e-3
    rng = np.random.default_rng(3)
    noisy = rate + rng.standard_normal(rate.size) * err
    fit = fit_spectrum(noisy, err, edges, elo, ehi, arf, rmf, model="powerlaw", sys_err=0.0)
    assert abs(fit.parameters["index"] - 2.1) < 3 * fit.errors["index"]
    truth_at_pivot = 10.0 * 50.0**-2.1
    assert abs(fit.parameters["norm"] - truth_at_pivot) < 3 * fit.errors["norm"]
    assert 0.6 < fit.chi2 / fit.dof < 1.5
    cut = fit_spectrum(noisy, err, edges, elo, ehi, arf, rmf, model="cutoffpl", sys_err=0.0)
    assert cut.parameters["cutoff"] > 300.0  # no cut-off in a pure power law


def test_quick_fit_energy_flux_and_its_error(instrument: Instrument) -> None:
    """The energy flux in the flux band matches the folded truth, and its propagated error is
    the spread of the fluxes of many noisy realisations (fresh draws each run)."""
    rate, edges, elo, ehi, arf, rmf = _folded_power_law(instrument)
    err = 0.05 * rate + 1e-3
    band = (40.0, 100.0)
    grid = np.geomspace(*band, 4097)
    truth = float(np.trapezoid(grid * 10.0 * grid**-2.1, grid)) * 1.602176634e-9
    rng = np.random.default_rng()
    fluxes, errors = [], []
    for _ in range(200):
        noisy = rate + rng.standard_normal(rate.size) * err
        fit = fit_spectrum(noisy, err, edges, elo, ehi, arf, rmf, sys_err=0.0, flux_band=band)
        assert (fit.flux_e_min, fit.flux_e_max) == band
        fluxes.append(fit.energy_flux)
        errors.append(fit.energy_flux_error)
    spread, typical = float(np.std(fluxes)), float(np.median(errors))
    # 200 draws: the spread is known to ~5 % (1σ); the mean to spread/√200.
    assert abs(spread / typical - 1) < 0.2, (spread, typical)
    assert abs(float(np.mean(fluxes)) - truth) < 4 * spread / np.sqrt(200), (fluxes, truth)
    with pytest.raises(SpectralFitError, match="flux band"):
        fit_spectrum(rate, err, edges, elo, ehi, arf, rmf, flux_band=(40.0, 40.0))


def test_stacking_is_live_time_weighted() -> None:
    edges = np.array([20.0, 30.0, 40.0])
    a = {
        "channel_edges": edges,
        "rate": np.array([[1.0], [2.0]]),
        "error": np.array([[0.1], [0.2]]),
        "usable": np.array([1]),
        "livetime_s": 100.0,
        "revolution": 10,
        "tstart": 1.0,
        "tstop": 1.1,
    }
    b = {
        **a,
        "rate": np.array([[3.0], [4.0]]),
        "livetime_s": 300.0,
        "revolution": 11,
        "tstart": 2.0,
        "tstop": 2.1,
    }
    off = {
        **a,
        "rate": np.array([[np.nan], [np.nan]]),
        "usable": np.array([0]),
        "livetime_s": 1000.0,
    }
    s = stack_spectra([a, b, off])
    assert np.allclose(s["rate"][:, 0], [2.5, 3.5])
    assert np.allclose(
        s["error"][:, 0],
        np.sqrt([100**2 * 0.01 + 300**2 * 0.01, 100**2 * 0.04 + 300**2 * 0.04]) / 400,
    )
    assert s["exposure_s"][0] == 400.0 and s["n_scw"][0] == 2
    assert s["revolutions"].tolist() == [10, 11]
    assert s["revolution_weights"][0].tolist() == [100.0, 300.0]


def test_time_binning_on_a_global_grid_with_fractional_exposure() -> None:
    day = 86400.0
    t0 = 100.0 + 15.0 / day  # starts 15 s into a 100 s bin
    time = t0 + np.array([1.0, 50.0, 120.0, 130.0]) / day
    energy = np.array([25.0, 25.0, 35.0, 60.0], dtype=np.float32)
    y = np.array([0, 1, 2, 3], dtype=np.int16)
    out = bin_time_resolved(
        time,
        energy,
        y,
        y,
        np.ones(4, bool),
        np.array([t0]),
        np.array([t0 + 150 / day]),
        [(20.0, 40.0), (40.0, 100.0)],
        100.0,
        t0,
        t0 + 150 / day,
    )
    assert out["counts"].shape == (2, 2, 130, 134)
    assert out["counts"][0, 0].sum() == 2 and out["counts"][1, 0].sum() == 1
    assert out["counts"][1, 1].sum() == 1
    assert np.allclose(out["ontime_s"], [85.0, 65.0])
    assert out["bin_index"][1] == out["bin_index"][0] + 1
    # Two pieces of one global bin (from two ScWs) are merged, weighted by live time.
    piece = {
        "rate": np.ones((1, 1, 1)),
        "error": np.ones((1, 1, 1)),
        "usable": np.array([1]),
        "bin_index": np.array([7]),
        "bin_start": np.array([0.7]),
        "bin_stop": np.array([0.8]),
        "ontime_s": np.array([0.02 * day]),
        "livetime_s": np.array([0.02 * day]),
        "bands": np.array([[20.0, 40.0]]),
        "gti_start": np.array([0.7]),
        "gti_stop": np.array([0.72]),
        "revolution": 5,
    }
    other = {
        **piece,
        "rate": 4 * np.ones((1, 1, 1)),
        "ontime_s": np.array([0.06 * day]),
        "livetime_s": np.array([0.06 * day]),
        "gti_start": np.array([0.74]),
        "gti_stop": np.array([0.8]),
    }
    lc = concatenate_lightcurves([other, piece])
    assert lc["rate"].shape == (1, 1, 1) and np.isclose(lc["rate"][0, 0, 0], 3.25)
    assert np.isclose(lc["fracexp"][0, 0], 0.8)


def test_bayesian_blocks_find_a_flare_and_nothing_in_noise() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(400) * 100.0 / 86400
    dt = np.full(t.size, 100.0 / 86400)
    err = np.full(t.size, 1.0)
    constant = 10.0 + rng.standard_normal(t.size)
    blocks = find_blocks(t, dt, constant, err)
    assert len(blocks) == 1 and not blocks[0].significant
    flare = constant + np.where((np.arange(400) >= 200) & (np.arange(400) < 210), 8.0, 0.0)
    found = [b for b in find_blocks(t, dt, flare, err) if b.significant]
    assert len(found) == 1
    assert abs(found[0].start - t[200] + dt[0] / 2) < 2 * dt[0]
    assert found[0].significance > 5


def test_catalogs(tmp_path: Path) -> None:
    scenario = Scenario.model_validate(
        {
            "name": "cat",
            "seed": 1,
            "pointings": [{"target": "Crab", "start": 53600.0, "n_scw": 1, "scw_duration_s": 200}],
        }
    )
    simulate_archive(scenario, tmp_path / "a", limit=0)
    ref = reference_catalog(tmp_path / "a")
    assert any(s.name == "Crab" and abs(s.ra - 83.633) < 0.01 for s in ref)
    js = tmp_path / "c.json"
    js.write_text(json.dumps([{"name": "A", "ra": 10.0, "dec": -5.0}]))
    assert read_source_catalog(js) == [CatalogSource("A", 10.0, -5.0)]
    from astropy.table import Table

    t = Table({"name": ["B", "C"], "ra": [1.0, 361.0], "dec": [2.0, 3.0]})
    t.write(tmp_path / "c.vot", format="votable")
    assert [s.ra for s in read_source_catalog(tmp_path / "c.vot")] == [1.0, 1.0]
    fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(t)]).writeto(tmp_path / "c.fits")
    assert [s.name for s in read_source_catalog(tmp_path / "c.fits")] == ["B", "C"]
    (tmp_path / "bad.json").write_text(json.dumps([{"name": "X", "ra": 1.0}]))
    with pytest.raises(CatalogError, match=r"bad\.json"):
        read_source_catalog(tmp_path / "bad.json")
    with pytest.raises(CatalogError, match="invalid position"):
        CatalogSource("D", 0.0, 95.0)


def test_requests_name_the_bad_parameter() -> None:
    src = (CatalogSource("A", 1.0, 2.0),)
    with pytest.raises(RequestError) as exc:
        SpectrumRequest(sources=src, models=("blackbody",))
    assert exc.value.parameter == "models"
    with pytest.raises(RequestError, match="sources"):
        SpectrumRequest(sources=())
    with pytest.raises(RequestError, match="time_bin_s"):
        LightCurveRequest(sources=src, time_bin_s=0.1)
    with pytest.raises(RequestError, match="bands"):
        LightCurveRequest(sources=src, bands=((40.0, 20.0),))


@pytest.mark.parametrize(("ty", "tz"), [(0.0, 0.0), (0.012, -0.031), (-0.2, 0.1), (0.0, 0.15)])
def test_fast_pif_equals_the_instruments_ray_tracing(
    instrument: Instrument, ty: float, tz: float
) -> None:
    from processing.codedmask._pif import fast_pixel_illumination
    from processing.instrument import pixel_illumination

    expected = pixel_illumination(instrument.mask, instrument.detector, ty, tz)
    got = fast_pixel_illumination(instrument.mask, instrument.detector, ty, tz)
    assert np.array_equal(got, expected)
