"""Imaging campaigns on random skies: many ScWs imaged in worker processes.

A campaign is a list of random fields (:mod:`tests.processing.isgri.randomsky`). Work is split
by science window: each task redraws its field from the seed (cheap and deterministic),
simulates one ScW in memory, images it with the real units and returns what a user would get
(the one-ScW product catalog, optionally the ScW image for a mosaic) together with the truth
of every injected source: its true on-axis-equivalent rate and its *expected significance*,
the true rate over the error of a fit at its true position.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import norm

from processing.codedmask._shadowfit import least_squares as _least_squares
from processing.instrument import Attitude, Instrument, load_instrument, unit_to_radec
from processing.isgri import (
    DEFAULT_CHANNEL_EDGES,
    ImagingModel,
    ShadowgramBand,
    band_channels,
    calibration_of,
    imaging_model,
)
from processing.pipeline import Calibration
from processing.simulator import SkySource

from . import randomsky as rs

__all__ = ["FieldResult", "injections", "mosaic_centre", "noise_bound", "run_fields"]

#: Catalog sources this significant have ghosts well above 10σ before cleaning.
GHOST_CHECK_SNR = 50.0
#: Ghost pixels this close (sky pixels) to an injected source measure that source.
GHOST_CLEAR_PIX = 3.0


@dataclass
class FieldResult:
    """One imaged field: per ScW the injections (matched to that ScW's product catalog) and the
    catalog entries matching no injection; optionally the ScW images."""

    seed: int
    attitudes: list[Attitude]
    kinds: dict[str, str]
    sources: list[tuple[str, float, float, float]]
    ghost_period_tan: float
    injected: list[list[rs.Injected]] = field(default_factory=list)
    false: list[list[dict[str, Any]]] = field(default_factory=list)
    catalogs: list[list[dict[str, Any]]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    ghost_residuals: list[float] = field(default_factory=list)
    #: Where each ghost residual was measured: "field seed/ScW/source name/ghost (i, j)".
    ghost_labels: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def _worker_model(ic_root: str) -> tuple[Instrument, Calibration, ImagingModel]:
    instrument = load_instrument(Path(ic_root))
    calibration = calibration_of(instrument, Path(ic_root))
    return instrument, calibration, imaging_model(calibration)


def injections(
    instrument: Instrument, model: ImagingModel, fld: rs.Field, k: int, coded_floor: float = 0.1
) -> list[rs.Injected]:
    """The sources in the coded field of ScW ``k`` of a (simulated) field, with their truth."""
    binned = fld.scws[k]
    att = fld.attitudes[k]
    sl, _, _ = band_channels(DEFAULT_CHANNEL_EDGES, *rs.BAND)
    counts = np.asarray(binned["counts"][sl], dtype=float).sum(axis=0)
    band = ShadowgramBand(counts, instrument.detector.live * binned["deadc"], binned["ontime_s"])
    used = band.used & (model.decoder.weights > 0)
    template = instrument.background_template.astype(float)
    crab = rs.crab_rate(instrument)
    coded = model.decoder.coded
    out = []
    for s in fld.sources:
        ty, tz, front = att.to_tangents(np.array([s.ra]), np.array([s.dec]))
        a, b = (round(float(v)) for v in model.decoder.tangent_to_pixel(ty[0], tz[0]))
        inside = 0 <= a < coded.shape[0] and 0 <= b < coded.shape[1]
        offaxis = float(np.degrees(np.arctan(np.hypot(ty[0], tz[0]))))
        simulated = offaxis < rs.SIMULATED_OFFAXIS_DEG
        if not (front[0] and inside and simulated and coded[a, b] >= coded_floor):
            continue
        unit = model.modeller.shadowgram(float(ty[0]), float(tz[0]))
        _, err, _ = _least_squares(
            [unit], band.rate, band.variance, template, instrument.detector.module, used
        )
        rate = crab * s.flux_mcrab / 1000.0
        out.append(
            rs.Injected(
                s.name,
                s.ra,
                s.dec,
                s.flux_mcrab,
                rate,
                coded=float(coded[a, b]),
                offaxis_deg=offaxis,
                expected_snr=float(rate / err[0]),
                kind=fld.kinds[s.name],
            )
        )
    return out


def _ghost_residuals(
    model: ImagingModel, image: dict[str, Any], attitude: Attitude, truth: list[SkySource]
) -> list[tuple[float, str]]:
    """Cleaned significance (the residual image over its error: what is left once every found
    source is removed) at the predicted ghost pixels of every source ≥ GHOST_CHECK_SNR, each
    with the source's name and the ghost's direction.

    Ghost pixels within GHOST_CLEAR_PIX of an injected source are left out: what is measured
    there is that source (undetected, or its PSF where the intensity map carries it), not a
    ghost. (The intensity map's significance put a 25σ source's wing 2.1 pixels away down as
    a 6σ ghost residual.)"""
    dec = model.decoder
    residual = np.asarray(image["residual"][0])
    variance = np.asarray(image["variance"][0])
    sig = np.where(variance > 0, residual / np.sqrt(np.where(variance > 0, variance, 1.0)), 0.0)
    period = model.instrument.mask.ghost_period_tan
    ty, tz, _ = attitude.to_tangents(
        np.array([t.ra for t in truth]), np.array([t.dec for t in truth])
    )
    true_a, true_b = dec.tangent_to_pixel(ty, tz)
    out = []
    for s in image["sources"]:
        if s["significance"] < GHOST_CHECK_SNR:
            continue
        for i in (-1, 0, 1):
            for j in (-1, 0, 1):
                if i == j == 0:
                    continue
                a, b = dec.tangent_to_pixel(s["ty"] + i * period, s["tz"] + j * period)
                ia, ib = round(float(a)), round(float(b))
                inside = 0 <= ia < sig.shape[0] and 0 <= ib < sig.shape[1]
                if not (inside and dec.coded[ia, ib] > 0.1 and variance[ia, ib] > 0):
                    continue
                if np.any(np.hypot(true_a - a, true_b - b) < GHOST_CLEAR_PIX):
                    continue
                out.append((float(sig[ia, ib]), f"{s['name']}/({i},{j})"))
    return out


def _run_scw(task: tuple[str, int, int, dict[str, Any], float, bool]) -> dict[str, Any]:
    ic_root, seed, k, kwargs, threshold, keep_image = task
    instrument, calibration, model = _worker_model(ic_root)
    fld = rs.random_field(np.random.default_rng(seed), model, seed=seed, **kwargs).subset([k])
    rs.simulate_field(instrument, fld)
    imaged = rs.image_field(fld, calibration, threshold=threshold, combine=False)
    inj = injections(instrument, model, fld, 0)
    catalog = imaged["single"][0]
    image = imaged["images"][0]
    return {
        "injected": inj,
        "false": rs.match(inj, catalog),
        "catalog": catalog,
        "image": image if keep_image else None,
        "ghost_residuals": _ghost_residuals(model, image, fld.attitudes[0], fld.sources),
    }


def run_fields(
    ic_root: Path,
    seeds: list[int],
    *,
    threshold: float = 5.0,
    keep_images: bool = False,
    workers: int | None = None,
    **field_kwargs: Any,
) -> list[FieldResult]:
    """Draw one random field per seed; simulate and image all their ScWs in worker processes."""
    _, _, model = _worker_model(str(ic_root))
    results = []
    tasks = []
    for seed in seeds:
        fld = rs.random_field(np.random.default_rng(seed), model, seed=seed, **field_kwargs)
        results.append(
            FieldResult(
                seed=seed,
                attitudes=fld.attitudes,
                kinds=fld.kinds,
                sources=[(s.name, s.ra, s.dec, s.flux_mcrab) for s in fld.sources],
                ghost_period_tan=model.instrument.mask.ghost_period_tan,
            )
        )
        tasks += [
            (str(ic_root), seed, k, field_kwargs, threshold, keep_images)
            for k in range(len(fld.attitudes))
        ]
    workers = workers or min(len(tasks), max(os.cpu_count() or 1, 1), 4)
    if workers <= 1:
        outputs = [_run_scw(t) for t in tasks]
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            outputs = list(pool.map(_run_scw, tasks))
    by_seed = {r.seed: r for r in results}
    for task, out in zip(tasks, outputs, strict=True):
        r = by_seed[task[1]]
        r.injected.append(out["injected"])
        r.false.append(out["false"])
        r.catalogs.append(out["catalog"])
        r.ghost_residuals += [v for v, _ in out["ghost_residuals"]]
        r.ghost_labels += [f"{task[1]}/{task[2]}/{label}" for _, label in out["ghost_residuals"]]
        if out["image"] is not None:
            r.images.append(out["image"])
    return results


def noise_bound(n: int, alpha: float = 1e-3) -> float:
    """The |value| that ``n`` independent standard normal values all stay below with
    probability 1 − ``alpha``: a bound that noise alone breaks once in 1/alpha runs."""
    return float(norm.isf(alpha / (2.0 * max(n, 1))))


def mosaic_centre(attitudes: list[Attitude]) -> tuple[float, float]:
    """Mean pointing of a set of ScWs."""
    ra, dec = unit_to_radec(np.sum([a.axes[0] for a in attitudes], axis=0))
    return float(ra), float(dec)
