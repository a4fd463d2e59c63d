"""Transient search: Bayesian blocks on each source's light curve.

``astropy.stats.bayesian_blocks`` with the point-measures fitness (Scargle et al. 2013) splits a
light curve into blocks of constant rate; the prior on the number of change points comes from
the false-alarm probability ``p0`` per change point. A block is reported as significant when its
mean rate differs by more than ``threshold_sigma`` standard errors (both errors combined) from
the persistent level, the block covering the most time. A constant source therefore gives one
block and no report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from astropy.stats import bayesian_blocks
from numpy.typing import NDArray

__all__ = ["Block", "find_blocks"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Block:
    """One Bayesian block: time span (IJD), mean rate, error, excess over the rest."""

    start: float
    stop: float
    n_bins: int
    rate: float
    error: float
    baseline: float
    significance: float
    significant: bool

    def to_dict(self) -> dict[str, float | int | bool]:
        """JSON-ready dictionary."""
        return asdict(self)


def _mean(rate: FloatArray, error: FloatArray) -> tuple[float, float]:
    w = 1.0 / error**2
    return float(np.sum(w * rate) / np.sum(w)), float(1.0 / np.sqrt(np.sum(w)))


def find_blocks(
    time: FloatArray,
    timedel: FloatArray,
    rate: FloatArray,
    error: FloatArray,
    *,
    p0: float = 0.01,
    threshold_sigma: float = 5.0,
) -> list[Block]:
    """Bayesian blocks of one light curve (bins with a finite rate and a positive error).

    Returns the blocks in time order; empty when fewer than two usable bins.
    """
    ok = np.isfinite(rate) & np.isfinite(error) & (error > 0)
    if ok.sum() < 2:
        return []
    t, x, s, dt = time[ok], rate[ok], error[ok], timedel[ok]
    edges = bayesian_blocks(t, x, s, fitness="measures", p0=p0)
    which = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, edges.size - 2)
    ids = np.unique(which)
    stats = [_mean(x[which == b], s[which == b]) for b in ids]
    # The persistent level: the block covering the most time; others are compared with it.
    span = [float(np.sum(dt[which == b])) for b in ids]
    base, base_err = stats[int(np.argmax(span))]
    blocks = []
    for b, (mean, err), length in zip(ids, stats, span, strict=True):
        inside = which == b
        is_base = length == max(span) and (mean, err) == (base, base_err)
        signif = 0.0 if is_base else (mean - base) / float(np.hypot(err, base_err))
        blocks.append(
            Block(
                start=float(np.min(t[inside] - 0.5 * dt[inside])),
                stop=float(np.max(t[inside] + 0.5 * dt[inside])),
                n_bins=int(inside.sum()),
                rate=mean,
                error=err,
                baseline=base,
                significance=float(signif),
                significant=bool(abs(signif) >= threshold_sigma),
            )
        )
    return blocks
