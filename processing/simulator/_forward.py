"""The forward model of one science window: sky and background to detected events.

Source photons: their number follows the spectrum folded with the detector efficiency, the
crystal area, the light curve and the dead time; each photon lands uniformly on a working crystal
and is ray-traced through the thick mask; its energy is redistributed by the detector response.
Background: a per-module-scaled spatial template with a power-law continuum and fluorescence
lines. Then the low threshold, the noisy pixels (flagged) and the good-time intervals. The camera
(ISGRI, the JEM-X-like one) is all in the :class:`~processing.instrument.Instrument` it is given.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from processing.archive import MJDREF, EventList
from processing.instrument import Instrument, transmitted
from processing.simulator._scenario import BackgroundModel
from processing.simulator._schedule import PlannedScw, SkySource

__all__ = ["ScwTruth", "simulate_scw"]

FloatArray = NDArray[np.float64]
_ENERGY_GRID_POINTS = 4096


@dataclass
class ScwTruth:
    """What went into one science window: per-source expected and simulated counts."""

    scw_id: str
    deadc: float
    ontime_s: float
    sources: list[dict[str, float | str]] = field(default_factory=list)
    background_counts: int = 0


def _inverse_cdf_sample(
    grid: FloatArray, density: FloatArray, n: int, rng: np.random.Generator
) -> FloatArray:
    """Draw ``n`` values from a tabulated density (piecewise linear CDF)."""
    if n == 0:
        return np.empty(0)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    return np.interp(rng.random(n), cdf, grid)


def _source_spectrum(
    instrument: Instrument, source: SkySource, grid: FloatArray
) -> tuple[FloatArray, float]:
    """Detected-photon spectrum per unit crystal area at 1 mCrab-scaled base flux, and its integral.

    Returns the density (ph cm^-2 s^-1 keV^-1, already multiplied by the detector efficiency)
    for the source's spectrum normalised to 1 mCrab, and its integral over the grid.
    """
    norm = source.spectrum.normalisation(1.0)
    density = norm * source.spectrum.shape(grid) * instrument.detector_efficiency(grid)
    return density, float(np.trapezoid(density, grid))


def _light_curve_weights(
    source: SkySource, planned: PlannedScw, n_bins: int
) -> tuple[FloatArray, FloatArray]:
    """Time grid (MJD) and mean flux (mCrab) in each bin over the science window."""
    edges = np.linspace(planned.tstart_mjd, planned.tstop_mjd, n_bins + 1)
    # Midpoint and edge average (Simpson-like) resolves flares down to a few bins.
    mid = 0.5 * (edges[1:] + edges[:-1])
    f_edges = source.lightcurve.flux(edges, source.flux_mcrab)
    f_mid = source.lightcurve.flux(mid, source.flux_mcrab)
    return edges, (f_edges[:-1] + 4 * f_mid + f_edges[1:]) / 6.0


def _draw_times(
    edges: FloatArray, weights: FloatArray, n: int, rng: np.random.Generator
) -> FloatArray:
    cdf = np.concatenate([[0.0], np.cumsum(weights)])
    if cdf[-1] <= 0:
        return rng.uniform(edges[0], edges[-1], n)
    cdf /= cdf[-1]
    return np.interp(rng.random(n), cdf, edges)


def _stream(instrument: Instrument) -> list[int]:
    """Extra entropy separating a camera's random stream from ISGRI's (none for ISGRI itself, so
    that ISGRI archives are as they always were)."""
    return [] if instrument.key == "isgri" else [zlib.crc32(instrument.key.encode())]


def simulate_scw(
    instrument: Instrument,
    sources: list[SkySource],
    planned: PlannedScw,
    background: BackgroundModel,
    seed: int,
    max_offaxis_deg: float = 15.5,
) -> tuple[EventList, ScwTruth]:
    """Simulate the events of one science window.

    The random stream depends only on ``seed``, the science window's number and the camera, so
    that any subset of an archive can be simulated in any order, in parallel, with identical
    results, and adding a camera to an archive leaves the other cameras' events unchanged.
    """
    rng = np.random.default_rng(
        np.random.SeedSequence([seed, planned.number, *_stream(instrument)])
    )
    det = instrument.detector
    live_idx = np.flatnonzero(det.live.ravel())
    crystal_cm2 = (det.crystal_mm / 10.0) ** 2
    live_area = live_idx.size * crystal_cm2
    revolution = planned.scw.revolution
    duration_s = (planned.tstop_mjd - planned.tstart_mjd) * 86400.0
    e_lo, e_hi = instrument.energy_range_keV
    grid = np.geomspace(e_lo, e_hi, _ENERGY_GRID_POINTS)
    n_time_bins = max(int(duration_s / 2.0), 16)

    ra = np.array([s.ra for s in sources])
    dec = np.array([s.dec for s in sources])
    ty, tz, front = planned.attitude.to_tangents(ra, dec)
    offaxis = np.degrees(np.arctan(np.hypot(ty, tz)))
    visible = front & (offaxis < min(max_offaxis_deg, instrument.zero_response_deg))

    bg_level = background.rate_20_40 * max(1.0 + background.scw_jitter * rng.standard_normal(), 0.0)
    bg_shape = grid ** (-background.continuum_index)
    band = (grid >= background.band_keV[0]) & (grid <= background.band_keV[1])
    bg_norm = bg_level / np.trapezoid(bg_shape[band], grid[band])
    line_total = float(sum(background.line_rates))
    bg_rate = float(np.trapezoid(bg_norm * bg_shape, grid)) + line_total

    # Expected rates first: with the background they set the dead time, which scales everything.
    plans = []
    total_rate = bg_rate
    for k in np.flatnonzero(visible):
        src = sources[k]
        density, integral = _source_spectrum(instrument, src, grid)
        edges, flux = _light_curve_weights(src, planned, n_time_bins)
        mean_flux = float(flux.mean())
        cos_theta = 1.0 / np.sqrt(1.0 + ty[k] ** 2 + tz[k] ** 2)
        rate_on_crystals = integral * mean_flux * live_area * cos_theta  # before the mask
        plans.append((src, k, density, edges, flux, mean_flux, rate_on_crystals))
        total_rate += instrument.mask.open_fraction * rate_on_crystals
    deadc = 1.0 / (1.0 + total_rate / det.n_modules * det.deadtime_s)

    truth = ScwTruth(scw_id=str(planned.scw), deadc=deadc, ontime_s=0.0)
    chunks: list[tuple[FloatArray, FloatArray, NDArray[np.int64]]] = []
    for src, k, density, edges, flux, mean_flux, rate in plans:
        expected = rate * duration_s * deadc
        n = int(rng.poisson(expected)) if expected > 0 else 0
        pix = live_idx[rng.integers(0, live_idx.size, n)]
        iy, iz = np.divmod(pix, det.shape[1])
        half = 0.5 * det.crystal_mm
        y = det.y_mm[iy] + rng.uniform(-half, half, n)
        z = det.z_mm[iz] + rng.uniform(-half, half, n)
        passed = transmitted(instrument.mask, y, z, float(ty[k]), float(tz[k]))
        m = int(passed.sum())
        energy = _inverse_cdf_sample(grid, density, m, rng)
        measured = instrument.redistribution.sample(energy, rng)
        times = _draw_times(edges, flux, m, rng)
        chunks.append((times, measured, pix[passed]))
        truth.sources.append(
            {
                "name": src.name,
                "ra": src.ra,
                "dec": src.dec,
                "ty": float(ty[k]),
                "tz": float(tz[k]),
                "offaxis_deg": float(offaxis[k]),
                "mean_flux_mcrab": mean_flux,
                "photons_on_crystals": n,
                "transmitted": m,
            }
        )

    # Background: template shape with per-module jitter.
    module_scale = 1.0 + background.module_jitter * rng.standard_normal(det.n_modules)
    template = instrument.background_template.ravel().astype(float)
    weights = template * np.where(det.module.ravel() >= 0, module_scale[det.module.ravel()], 0.0)
    weights = weights[live_idx]
    n_bg = int(rng.poisson(max(bg_rate, 0.0) * duration_s * deadc))
    bg_pix = live_idx[np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(n_bg))]
    n_lines = rng.binomial(n_bg, line_total / bg_rate) if bg_rate > 0 else 0
    bg_energy = _inverse_cdf_sample(grid, bg_norm * bg_shape, n_bg - n_lines, rng)
    if n_lines:
        which = rng.choice(
            len(background.lines_keV), n_lines, p=np.asarray(background.line_rates) / line_total
        )
        line_e = np.asarray(background.lines_keV)[which]
        line_e = line_e + rng.standard_normal(n_lines) * instrument.redistribution.sigma(line_e)
        bg_energy = np.concatenate([bg_energy, line_e])
    bg_times = rng.uniform(planned.tstart_mjd, planned.tstop_mjd, n_bg)
    chunks.append((bg_times, bg_energy, bg_pix))
    truth.background_counts = n_bg

    times = np.concatenate([c[0] for c in chunks])
    energy = np.concatenate([c[1] for c in chunks])
    pixels = np.concatenate([c[2] for c in chunks])
    keep = rng.random(energy.size) < instrument.low_threshold.efficiency(energy, revolution)
    keep &= energy <= e_hi
    times, energy, pixels = times[keep], energy[keep], pixels[keep]
    flags = np.zeros(times.size, dtype=np.int16)

    # Noisy pixels: bursts of low-energy events that the on-board software flags.
    if background.noisy_pixels and background.noisy_pixel_events:
        noisy = rng.choice(live_idx, background.noisy_pixels, replace=False)
        n_noisy = background.noisy_pixels * background.noisy_pixel_events
        times = np.concatenate([times, rng.uniform(planned.tstart_mjd, planned.tstop_mjd, n_noisy)])
        energy = np.concatenate([energy, rng.uniform(e_lo, min(40.0, e_hi), n_noisy)])
        pixels = np.concatenate([pixels, np.repeat(noisy, background.noisy_pixel_events)])
        flags = np.concatenate([flags, np.ones(n_noisy, dtype=np.int16)])

    order = np.argsort(times, kind="stable")
    dety, detz = np.divmod(pixels[order], det.shape[1])
    gti = np.asarray(planned.gtis_mjd) - MJDREF
    truth.ontime_s = float(np.sum(gti[:, 1] - gti[:, 0]) * 86400.0)
    events = EventList(
        time=times[order] - MJDREF,
        energy=energy[order].astype(np.float32),
        dety=dety.astype(np.int16),
        detz=detz.astype(np.int16),
        select_flag=flags[order],
        gti_start=gti[:, 0].copy(),
        gti_stop=gti[:, 1].copy(),
    )
    return events, truth
