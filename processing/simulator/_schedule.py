"""From a scenario to concrete sources and science windows (times, attitudes, GTIs)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from processing.archive import MJDREF, ScwId
from processing.instrument import Attitude, unit_to_radec
from processing.simulator._scenario import PointingPlan, Scenario, ScenarioError
from processing.simulator._sky import LightCurve, ReferenceSource, Spectrum, reference_sources

__all__ = ["REVOLUTION_EPOCH_MJD", "REVOLUTION_PERIOD_D", "PlannedScw", "SkySource", "plan"]

#: Simulated orbit: revolution n starts at epoch + n × period (close to INTEGRAL's ~3-day orbit).
REVOLUTION_EPOCH_MJD = 52565.0
REVOLUTION_PERIOD_D = 2.978


@dataclass(frozen=True)
class SkySource:
    """A source as simulated: position, base flux, spectrum and light curve."""

    name: str
    ra: float
    dec: float
    flux_mcrab: float
    spectrum: Spectrum
    lightcurve: LightCurve


@dataclass(frozen=True)
class PlannedScw:
    """One science window to simulate."""

    number: int
    scw: ScwId
    tstart_mjd: float
    tstop_mjd: float
    attitude: Attitude
    gtis_mjd: tuple[tuple[float, float], ...]

    @property
    def tstart_ijd(self) -> float:
        return self.tstart_mjd - MJDREF

    @property
    def tstop_ijd(self) -> float:
        return self.tstop_mjd - MJDREF


def revolution_of(mjd: float) -> int:
    """Simulated revolution number at ``mjd``."""
    return int(np.floor((mjd - REVOLUTION_EPOCH_MJD) / REVOLUTION_PERIOD_D))


def resolve_sources(scenario: Scenario) -> list[SkySource]:
    """The scenario's sources merged with the reference list (scenario entries override it)."""
    reference = {s.name.lower(): s for s in reference_sources()}
    out: dict[str, SkySource] = {}
    if scenario.catalog_sources:
        for entry in reference.values():
            out[entry.name.lower()] = SkySource(
                entry.name,
                entry.ra,
                entry.dec,
                entry.flux_20_40_mcrab,
                Spectrum(index=entry.photon_index),
                LightCurve(),
            )
    for src in scenario.sources:
        ref: ReferenceSource | None = reference.get(src.name.lower())
        ra = src.ra if src.ra is not None else (ref.ra if ref else None)
        dec = src.dec if src.dec is not None else (ref.dec if ref else None)
        if ra is None or dec is None:
            raise ScenarioError(f"source {src.name!r}: not in the reference list, give ra and dec")
        flux = (
            src.flux_mcrab if src.flux_mcrab is not None else (ref.flux_20_40_mcrab if ref else 0.0)
        )
        spectrum = src.spectrum or Spectrum(index=ref.photon_index if ref else 2.0)
        out[src.name.lower()] = SkySource(src.name, ra, dec, flux, spectrum, src.lightcurve)
    return list(out.values())


def _target(block: PointingPlan, sources: dict[str, SkySource]) -> tuple[float, float]:
    if block.ra is not None and block.dec is not None:
        return block.ra, block.dec
    assert block.target is not None
    found = sources.get(block.target.lower())
    if found is None:
        known = {s.name.lower(): s for s in reference_sources()}.get(block.target.lower())
        if known is None:
            raise ScenarioError(f"pointing target {block.target!r} is not a known source")
        return known.ra, known.dec
    return found.ra, found.dec


def _offsets(block: PointingPlan, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Dither offsets (east, north) in degrees, cycled over the block."""
    s = block.step_deg
    if block.pattern == "5x5":
        grid = []
        for j in range(-2, 3):
            row = [(i * s, j * s) for i in range(-2, 3)]
            grid.extend(row if j % 2 == 0 else row[::-1])
        grid.sort(key=lambda p: p != (0.0, 0.0))  # start on target
        return grid
    if block.pattern == "hex":
        return [(0.0, 0.0)] + [
            (s * np.cos(np.radians(60 * k)), s * np.sin(np.radians(60 * k))) for k in range(6)
        ]
    if block.pattern == "staring":
        return [(0.0, 0.0)]
    r = block.radius_deg * np.sqrt(rng.random(block.n_scw))
    phi = 2 * np.pi * rng.random(block.n_scw)
    return list(zip(r * np.cos(phi), r * np.sin(phi), strict=True))


def _offset_position(ra: float, dec: float, east: float, north: float) -> tuple[float, float]:
    """Sky position at tangent-plane offsets (degrees) from (ra, dec)."""
    att = Attitude.from_roll(ra, dec, 0.0)  # Z towards north; Y = Z × X points east
    x, y, z = att.axes
    v = x + np.tan(np.radians(east)) * y + np.tan(np.radians(north)) * z
    r, d = unit_to_radec(v)
    return float(r), float(d)


def plan(scenario: Scenario) -> tuple[list[SkySource], list[PlannedScw]]:
    """Resolve the sources and lay out every science window of the scenario, in time order."""
    sources = resolve_sources(scenario)
    by_name = {s.name.lower(): s for s in sources}
    rng = np.random.default_rng(np.random.SeedSequence([scenario.seed, 0xA77]))
    scws: list[PlannedScw] = []
    pointing_counter: dict[int, int] = {}
    for block in sorted(scenario.pointings, key=lambda b: b.start_mjd):
        ra0, dec0 = _target(block, by_name)
        offsets = _offsets(block, rng)
        roll0 = block.roll_deg if block.roll_deg is not None else float(rng.uniform(0, 360))
        t = block.start_mjd
        if scws and t < scws[-1].tstop_mjd:
            raise ScenarioError(f"pointing block starting {block.start} overlaps the previous one")
        for k in range(block.n_scw):
            east, north = offsets[k % len(offsets)]
            ra, dec = _offset_position(ra0, dec0, east, north)
            roll = roll0 + 0.05 * k
            rev = revolution_of(t)
            pointing_counter[rev] = pointing_counter.get(rev, 0) + 1
            scw = ScwId(rev, pointing_counter[rev], 1, 0, 1)
            duration = block.scw_duration_s / 86400.0
            start, stop = t, t + duration
            gtis: list[tuple[float, float]] = [(start, stop)]
            if rng.random() < scenario.background.telemetry_gap_probability:
                gap_start = start + duration * rng.uniform(0.2, 0.8)
                gap_len = rng.uniform(30.0, 120.0) / 86400.0
                gtis = [(start, gap_start), (gap_start + gap_len, stop)]
            scws.append(
                PlannedScw(
                    number=len(scws),
                    scw=scw,
                    tstart_mjd=start,
                    tstop_mjd=stop,
                    attitude=Attitude.from_roll(ra, dec, roll),
                    gtis_mjd=tuple(gtis),
                )
            )
            t = stop + block.slew_s / 86400.0
    return sources, scws
