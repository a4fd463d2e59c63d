"""The fine energy-channel grid every science window is binned into once.

Any analysis band is a sum of whole channels, so a new band never re-reads an event file.
Band edges are snapped to the nearest channel edges; the snapped band is what products report.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["DEFAULT_CHANNEL_EDGES", "BandError", "band_channels"]


def _default_edges() -> NDArray[np.float64]:
    parts = [
        np.arange(15.0, 100.0, 1.0),  # 1 keV up to 100 keV
        np.arange(100.0, 200.0, 5.0),
        np.arange(200.0, 400.0, 20.0),
        np.arange(400.0, 1000.0 + 1e-9, 50.0),
    ]
    return np.concatenate(parts)


#: Channel edges in keV: 127 channels from 15 keV to 1 MeV.
DEFAULT_CHANNEL_EDGES: NDArray[np.float64] = _default_edges()


class BandError(ValueError):
    """An energy band that the channel grid cannot represent."""


def band_channels(
    edges: NDArray[np.float64], e_min: float, e_max: float
) -> tuple[slice, float, float]:
    """Channels summed for the band [e_min, e_max] keV, and the snapped band edges.

    Raises
    ------
    BandError
        When the band is empty, reversed or outside the grid.
    """
    if not e_min < e_max:
        raise BandError(f"band {e_min}-{e_max} keV: the lower edge must be below the upper")
    if e_max <= edges[0] or e_min >= edges[-1]:
        raise BandError(f"band {e_min}-{e_max} keV is outside {edges[0]:g}-{edges[-1]:g} keV")
    lo = int(np.argmin(np.abs(edges - e_min)))
    hi = int(np.argmin(np.abs(edges - e_max)))
    if hi <= lo:
        raise BandError(f"band {e_min}-{e_max} keV is narrower than one channel")
    return slice(lo, hi), float(edges[lo]), float(edges[hi])
