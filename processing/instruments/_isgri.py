"""The IBIS/ISGRI adapter: everything of ISGRI's that its IC files do not say.

The mask, the detector, the background and the response are read from the archive's calibration
files (:func:`processing.instrument.load_instrument`), the archive layout (event files, IC
folder and file names) and the FITS keywords that name the camera from its calibration facts
(``processing/instrument/data/isgri_calibration.yaml``); this module adds the fine channel grid,
the reference catalog, the detector image size, the default bands and the off-axis limit. It is
the only place in the analysis that holds ISGRI's numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from processing.instruments._band import BandError, band_channels
from processing.instruments._layouts import archive_layout, detector_shape, fits_identity
from processing.instruments._spec import InstrumentSpec

__all__ = [
    "DEFAULT_CHANNEL_EDGES",
    "MAX_OFFAXIS_DEG",
    "REFERENCE_CATALOG",
    "BandError",
    "band_channels",
    "default_channel_edges",
    "isgri_spec",
]


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

#: The archive's reference catalog of known sources, relative to its root.
_REFERENCE_CATALOG = "cat/hec/isgr_refr_cat_0001.fits"

#: Sources further off axis than this have no usable shadow (zero response at ~15° half-width).
MAX_OFFAXIS_DEG = 15.5

#: The reference catalog of an ISGRI archive, relative to its root.
REFERENCE_CATALOG = Path(_REFERENCE_CATALOG)


def default_channel_edges() -> list[float]:
    """ISGRI's fine grid as a plain list (the binning unit's parameter)."""
    return [float(x) for x in DEFAULT_CHANNEL_EDGES]


def isgri_spec() -> InstrumentSpec:
    """The ISGRI adapter."""
    return InstrumentSpec(
        name="isgri",
        title="INTEGRAL IBIS/ISGRI",
        channel_edges=tuple(float(e) for e in DEFAULT_CHANNEL_EDGES),
        fits=fits_identity("isgri"),
        layout=archive_layout("isgri", _REFERENCE_CATALOG),
        detector_shape=detector_shape("isgri"),
        default_bands_kev=((20.0, 40.0), (40.0, 100.0)),
        max_offaxis_deg=MAX_OFFAXIS_DEG,
        default_radius_deg=15.0,
    )
