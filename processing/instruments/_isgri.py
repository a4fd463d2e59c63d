"""The fine energy-channel grid every science window is binned into once.

Any analysis band is a sum of whole channels, so a new band never re-reads an event file.
Band edges are snapped to the nearest channel edges; the snapped band is what products report.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from processing.instruments._band import BandError, band_channels

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
