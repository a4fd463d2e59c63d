"""Randomised skies for the imaging acceptance: fields nobody tuned for, with their truth.

Every draw takes a fresh seed (printed by the tests, and settable with ``ISGRI_SEED`` to
replay a failure): a random pointing and roll anywhere on the sky, sources over the whole field
of view down to 10 % coding with log-uniform fluxes, optional confusion pairs and a very bright
source off axis. Each science window is simulated in memory by the archive's own forward model,
binned like ``isgri.bin_scw`` and imaged by the real units (``isgri.image_scw`` and
``isgri.mosaic``, called as the pipeline calls them), so what is measured is what a user gets.

The truth of a source is its on-axis-equivalent count rate in the band: the rate the same
source would give on axis through the mask over the working detector, which is what the
catalog's ``rate`` column estimates. It is measured once per process from a long noiseless
simulation of a 1 Crab source on axis (statistical error < 0.1 %).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from astropy.coordinates import SkyCoord

from processing.archive import ScwId
from processing.instrument import Attitude, Instrument, unit_to_radec
from processing.isgri import (
    DEFAULT_CHANNEL_EDGES,
    ImageScienceWindow,
    ImagingModel,
    MosaicImages,
    band_channels,
    bin_events,
)
from processing.pipeline import Calibration, UnitContext
from processing.simulator import BackgroundModel, PlannedScw, SkySource, simulate_scw
from processing.simulator._scenario import Scenario
from processing.simulator._schedule import plan

__all__ = [
    "PATTERNS",
    "Field",
    "Injected",
    "draw_seed",
    "image_field",
    "random_field",
]

BAND = (20.0, 40.0)
#: Sources are drawn within this off-axis angle; the simulator leaves out those beyond
#: SIMULATED_OFFAXIS_DEG (the corners of the field of view, coded down to ~10 % there).
MAX_OFFAXIS_DEG = 15.0
SIMULATED_OFFAXIS_DEG = 15.5


def draw_seed() -> int:
    """A fresh seed per run (``ISGRI_SEED`` replays one)."""
    given = os.environ.get("ISGRI_SEED")
    if given:
        return int(given)
    entropy = np.random.SeedSequence().entropy
    assert isinstance(entropy, int)
    return entropy % (2**31)


@lru_cache(maxsize=1)
def _crab_template() -> SkySource:
    scenario = Scenario.model_validate(
        {
            "name": "crab-template",
            "seed": 1,
            "catalog_sources": False,
            "sources": [{"name": "Crab"}],
            "pointings": [{"target": "Crab", "start": 54000.0, "n_scw": 1, "pattern": "staring"}],
        }
    )
    sky, _ = plan(scenario)
    return sky[0]


def _source(name: str, ra: float, dec: float, flux_mcrab: float) -> SkySource:
    crab = _crab_template()
    return SkySource(name, ra, dec, flux_mcrab, crab.spectrum, crab.lightcurve)


_NO_BACKGROUND = BackgroundModel(
    rate_20_40=0.0, line_rates=[0.0, 0.0], noisy_pixels=0, telemetry_gap_probability=0.0
)


_CRAB_RATES: dict[tuple[str, tuple[float, float]], float] = {}


def crab_rate(instrument: Instrument, band: tuple[float, float] = BAND) -> float:
    """On-axis count rate (counts per live second) of 1 Crab in ``band``, from the simulator."""
    key = (instrument.calibration_version, band)
    if key not in _CRAB_RATES:
        _CRAB_RATES[key] = _simulated_crab_rate(instrument, band)
    return _CRAB_RATES[key]


def _simulated_crab_rate(instrument: Instrument, band: tuple[float, float]) -> float:
    att = Attitude.from_roll(120.0, 10.0, 0.0)
    duration = 20000.0
    scw = _planned(att, duration, 0)
    src = _source("ref", att.ra_x, att.dec_x, 1000.0)
    events, truth = simulate_scw(instrument, [src], scw, _NO_BACKGROUND, seed=424242)
    counts = _binned(events)
    sl, _, _ = band_channels(DEFAULT_CHANNEL_EDGES, *band)
    return float(counts[sl].sum() / (truth.ontime_s * truth.deadc))


def _planned(
    att: Attitude, duration_s: float, number: int, start_mjd: float = 53500.0
) -> PlannedScw:
    t0 = start_mjd + number * (duration_s + 200.0) / 86400.0
    t1 = t0 + duration_s / 86400.0
    rev = int((t0 - 52565.0) / 2.978)
    return PlannedScw(number, ScwId(rev, number + 1, 1, 0, 1), t0, t1, att, ((t0, t1),))


def _binned(events: Any) -> np.ndarray:
    return bin_events(
        events.time, events.energy, events.dety, events.detz, events.good(), DEFAULT_CHANNEL_EDGES
    )


@dataclass
class Injected:
    """A simulated source and what the analysis made of it in one ScW (or the mosaic)."""

    name: str
    ra: float
    dec: float
    flux_mcrab: float
    true_rate: float
    coded: float = 0.0  # coded fraction at its position (single ScW)
    offaxis_deg: float = 0.0
    expected_snr: float = 0.0  # true rate / error of a fit at the true position
    found: dict[str, Any] | None = None
    offset_arcmin: float | None = None
    kind: str = "random"  # random, pair, bright


@dataclass
class Field:
    """A random field: pointings and sources (with the truth of each ScW)."""

    seed: int
    sources: list[SkySource]
    kinds: dict[str, str]
    attitudes: list[Attitude]
    duration_s: float
    background: float = 300.0
    scws: list[dict[str, Any]] = field(default_factory=list)  # binned, per ScW
    numbers: list[int] = field(default_factory=list)  # ScW numbers (seeds, times)

    def __post_init__(self) -> None:
        if not self.numbers:
            self.numbers = list(range(len(self.attitudes)))

    def subset(self, indices: Sequence[int]) -> Field:
        """The same field observed by some of its ScWs only (simulated identically)."""
        return Field(
            self.seed,
            self.sources,
            self.kinds,
            [self.attitudes[k] for k in indices],
            self.duration_s,
            numbers=[self.numbers[k] for k in indices],
        )


def _tangent_position(att: Attitude, ty: float, tz: float) -> tuple[float, float]:
    x, y, z = att.axes
    ra, dec = unit_to_radec(x + ty * y + tz * z)
    return float(ra) % 360.0, float(dec)


def random_attitude(rng: np.random.Generator) -> Attitude:
    """A pointing anywhere on the sky (uniform), any roll."""
    ra = rng.uniform(0, 360)
    dec = float(np.degrees(np.arcsin(rng.uniform(-0.95, 0.95))))
    return Attitude.from_roll(ra, dec, rng.uniform(0, 360))


#: Pointing patterns of multi-ScW fields: INTEGRAL's 5×5 (2.17° steps) and hexagonal (2°)
#: dithers at a nearly constant roll, or pointings scattered over a disc at any roll.
PATTERNS = ("5x5", "hex", "random")


def _pointings(
    rng: np.random.Generator, base: Attitude, n_scw: int, pattern: str, dither_deg: float
) -> list[Attitude]:
    roll0 = rng.uniform(0, 360)
    if pattern == "5x5":
        grid = [(i * 2.17, j * 2.17) for i in range(-2, 3) for j in range(-2, 3)]
    elif pattern == "hex":
        grid = [(0.0, 0.0)] + [(2.0 * np.cos(a), 2.0 * np.sin(a)) for a in np.arange(6) * np.pi / 3]
    else:
        grid = []
    out = []
    for k in range(n_scw):
        if grid:
            east, north = grid[k % len(grid)]
            roll = roll0 + rng.normal(0.0, 1.0)
        else:
            r, phi = dither_deg * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
            east, north = r * np.cos(phi), r * np.sin(phi)
            roll = rng.uniform(0, 360)
        ty, tz = np.tan(np.radians(east)), np.tan(np.radians(north))
        ra, dec = _tangent_position(base, float(ty), float(tz))
        out.append(Attitude.from_roll(ra, dec, float(roll)))
    return out


def random_field(
    rng: np.random.Generator,
    model: ImagingModel,
    *,
    n_sources: int,
    n_scw: int = 1,
    duration_s: float | tuple[float, float] = 2000.0,
    flux_range: tuple[float, float] = (5.0, 500.0),
    min_coded: float = 0.1,
    min_separation_deg: float = 1.0,
    pairs: int = 0,
    pair_probability: float = 0.0,
    pair_separation_arcmin: tuple[float, float] = (5.0, 15.0),
    bright: tuple[float, float] | None = None,
    bright_probability: float = 1.0,
    bright_offaxis_deg: tuple[float, float] = (8.0, 13.0),
    pattern: str = "random",
    dither_deg: float = 0.0,
    faint_sources: int = 0,
    faint_range: tuple[float, float] = (6.0, 40.0),
    seed: int = 0,
) -> Field:
    """Draw a field: its pointings and its sources, placed in the coded field.

    The field centre is anywhere on the sky; ``n_scw`` pointings follow ``pattern`` (one of
    PATTERNS, or ``"any"`` to draw one). Sources are placed uniformly in the tangent plane of
    the centre where its coded fraction is at least ``min_coded``, at least
    ``min_separation_deg`` apart (confusion pairs excepted): ``n_sources`` with log-uniform
    fluxes in ``flux_range``; ``faint_sources`` more in ``faint_range`` (around the single-ScW
    detection limit: completeness statistics); ``pairs`` confusion pairs (one more with
    ``pair_probability``) of 60-150 mCrab sources ``pair_separation_arcmin`` apart; with
    ``bright_probability``, a ``bright`` (Crab units) source ``bright_offaxis_deg`` off the
    centre. ``duration_s`` is a value or a range to draw from.
    """
    dec_ = model.decoder
    base = random_attitude(rng)
    if pattern == "any":
        pattern = str(rng.choice(PATTERNS))
    attitudes = [base] if n_scw == 1 else _pointings(rng, base, n_scw, pattern, dither_deg)
    if not isinstance(duration_s, float | int):
        duration_s = float(rng.uniform(*duration_s))
    pairs += int(rng.uniform() < pair_probability)
    if bright is not None and not rng.uniform() < bright_probability:
        bright = None
    coded = dec_.coded
    placed: list[tuple[float, float]] = []  # tangents in the centre's frame
    sources: list[SkySource] = []
    kinds: dict[str, str] = {}

    def free(ty: float, tz: float, sep: float) -> bool:
        return all(np.hypot(ty - p[0], tz - p[1]) > np.tan(np.radians(sep)) for p in placed)

    def draw_position(lo_off: float = 0.0, hi_off: float = MAX_OFFAXIS_DEG) -> tuple[float, float]:
        limit = np.tan(np.radians(15.0))
        for _ in range(10000):
            ty, tz = rng.uniform(-limit, limit, 2)
            a, b = dec_.tangent_to_pixel(ty, tz)
            ia, ib = round(float(a)), round(float(b))
            if not (0 <= ia < coded.shape[0] and 0 <= ib < coded.shape[1]):
                continue
            off = np.degrees(np.arctan(np.hypot(ty, tz)))
            inside = coded[ia, ib] >= min_coded and lo_off <= off <= hi_off
            if inside and free(ty, tz, min_separation_deg):
                return float(ty), float(tz)
        raise RuntimeError("field too crowded")

    def add(name: str, kind: str, ty: float, tz: float, flux: float) -> None:
        sources.append(_source(name, *_tangent_position(base, ty, tz), flux))
        kinds[name] = kind
        placed.append((ty, tz))

    if bright is not None:
        ty, tz = draw_position(*bright_offaxis_deg)
        add("BRIGHT", "bright", ty, tz, 1000.0 * rng.uniform(*bright))
    for k in range(pairs):
        ty, tz = draw_position(0.0, 8.0)
        sep = np.tan(np.radians(rng.uniform(*pair_separation_arcmin) / 60.0))
        phi = rng.uniform(0, 2 * np.pi)
        for j, (dy, dz) in enumerate(((0.0, 0.0), (sep * np.cos(phi), sep * np.sin(phi)))):
            flux = float(np.exp(rng.uniform(np.log(60.0), np.log(150.0))))
            add(f"PAIR{k}{'ab'[j]}", "pair", ty + dy, tz + dz, flux)
    for k in range(n_sources + faint_sources):
        ty, tz = draw_position()
        lo, hi = flux_range if k < n_sources else faint_range
        add(f"SRC{k:03d}", "random", ty, tz, float(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
    return Field(seed, sources, kinds, attitudes, float(duration_s))


def simulate_field(instrument: Instrument, fld: Field, background: float = 300.0) -> None:
    """Simulate and bin every ScW of a field (``fld.scws``: what ``isgri.bin_scw`` returns)."""
    bg = BackgroundModel(rate_20_40=background, noisy_pixels=2, telemetry_gap_probability=0.0)
    fld.background = background
    fld.scws = []
    for k, att in zip(fld.numbers, fld.attitudes, strict=True):
        planned = _planned(att, fld.duration_s, k)
        events, truth = simulate_scw(instrument, fld.sources, planned, bg, fld.seed * 1000 + k)
        fld.scws.append(
            {
                "counts": _binned(events),
                "channel_edges": np.asarray(DEFAULT_CHANNEL_EDGES, dtype=float),
                "ontime_s": truth.ontime_s,
                "deadc": truth.deadc,
                "livetime_s": truth.ontime_s * truth.deadc,
                "tstart": planned.tstart_ijd,
                "tstop": planned.tstop_ijd,
                "ra_x": att.ra_x,
                "dec_x": att.dec_x,
                "ra_z": att.ra_z,
                "dec_z": att.dec_z,
                "revolution": planned.scw.revolution,
            }
        )


def _context(calibration: Calibration | None) -> UnitContext:
    return UnitContext.detached(calibration, "randomsky")


def image_field(
    fld: Field,
    calibration: Calibration,
    *,
    threshold: float = 5.0,
    mosaic_threshold: float | None = None,
    catalog: Sequence[dict[str, Any]] = (),
    radius_deg: float = 15.0,
    per_scw_mosaics: bool = True,
    combine: bool = True,
) -> dict[str, Any]:
    """Image every ScW with ``isgri.image_scw``, then mosaic them with ``isgri.mosaic``.

    Returns ``images`` (unit outputs), ``single`` (the catalog of each ScW as a one-ScW product
    would publish it: a mosaic of that ScW alone) and ``mosaic`` (the catalog of all ScWs).
    """
    unit = ImageScienceWindow(
        bands=[list(BAND)], threshold_new=threshold, threshold_catalog=min(4.0, threshold)
    )
    ctx = _context(calibration)
    images = [unit.run(ctx, binned, list(catalog)) for binned in fld.scws]
    out: dict[str, Any] = {"images": images}
    thr = threshold if mosaic_threshold is None else mosaic_threshold

    def mosaic(imgs: list[dict[str, Any]], att: Attitude) -> dict[str, Any]:
        m = MosaicImages(
            center=SkyCoord(att.ra_x, att.dec_x, unit="deg"), radius=radius_deg, threshold=thr
        )
        return m.run(_context(None), imgs, list(catalog))

    if per_scw_mosaics:
        out["single"] = [
            mosaic([img], att)["sources"] for img, att in zip(images, fld.attitudes, strict=True)
        ]
    if combine and len(images) > 1:
        centre = np.sum([a.axes[0] for a in fld.attitudes], axis=0)
        ra, dec = unit_to_radec(centre)
        out["mosaic"] = mosaic(images, Attitude.from_roll(float(ra), float(dec), 0.0))
    return out


def match(
    truth: Iterable[Injected], found: list[dict[str, Any]], radius_arcmin: float = 15.0
) -> list[dict[str, Any]]:
    """Attach each detection to the nearest unmatched truth within its reach; returns the rest.

    Reach: max(3·r90, 6′) capped at ``radius_arcmin``, so a ghost 10° away never matches.
    """
    truth = list(truth)
    if not truth:
        return list(found)
    coords = SkyCoord([t.ra for t in truth], [t.dec for t in truth], unit="deg")
    false: list[dict[str, Any]] = []
    for src in sorted(found, key=lambda s: -s["significance"]):
        sep = SkyCoord(src["ra"], src["dec"], unit="deg").separation(coords).arcmin
        order = np.argsort(sep)
        reach = min(max(3.0 * src["r90_arcmin"], 6.0), radius_arcmin)
        for j in order:
            if sep[j] > reach:
                false.append(src)
                break
            if truth[j].found is None:
                truth[j].found = src
                truth[j].offset_arcmin = float(sep[j])
                break
        else:
            false.append(src)
    return false
