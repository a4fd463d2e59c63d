"""Energy bands on an instrument's fine channel grid.

Any analysis band is a sum of whole channels, so a new band never re-reads an event file.
Band edges are snapped to the nearest channel edges; the snapped band is what products report
and what a request is hashed with, so two bands that select the same channels are one request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["BandError", "EnergyBand", "band_channels"]


class BandError(ValueError):
    """An energy band that the channel grid cannot represent."""


@dataclass(frozen=True)
class EnergyBand:
    """A band snapped to a channel grid: channels ``[channel_lo, channel_hi)``, edges in keV."""

    e_min_kev: float
    e_max_kev: float
    channel_lo: int
    channel_hi: int

    @property
    def channels(self) -> slice:
        """The channels summed for this band."""
        return slice(self.channel_lo, self.channel_hi)


def band_channels(
    edges: Sequence[float] | NDArray[np.float64], e_min: float, e_max: float
) -> tuple[slice, float, float]:
    """Channels summed for the band [e_min, e_max] keV, and the snapped band edges.

    Raises
    ------
    BandError
        When the band is empty, reversed, outside the grid or narrower than one channel.
    """
    grid = np.asarray(edges, dtype=float)
    if not e_min < e_max:
        raise BandError(f"band {e_min}-{e_max} keV: the lower edge must be below the upper")
    if e_max <= grid[0] or e_min >= grid[-1]:
        raise BandError(f"band {e_min}-{e_max} keV is outside {grid[0]:g}-{grid[-1]:g} keV")
    lo = int(np.argmin(np.abs(grid - e_min)))
    hi = int(np.argmin(np.abs(grid - e_max)))
    if hi <= lo:
        raise BandError(f"band {e_min}-{e_max} keV is narrower than one channel")
    return slice(lo, hi), float(grid[lo]), float(grid[hi])
