"""The JEM-X-like adapter (unit 1, ``JMX1``): what the core needs besides its IC files.

The hexagonal HURA mask, the circular gas detector and the 3-35 keV response are read from the
archive's IC files (``ic/jmx1/mod``); the layout and the FITS keywords from the camera's
calibration facts (``processing/instrument/data/jemx_calibration.yaml``). This module adds the
fine channel grid, the default bands and the reference catalog. A source is modelled as far
off axis as any ray reaches the detector (the zero-response angle of its geometry).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from processing.instruments._layouts import archive_layout, detector_shape, fits_identity
from processing.instruments._spec import InstrumentSpec

__all__ = ["JEMX_CHANNEL_EDGES", "jemx_spec"]


def _channel_edges() -> NDArray[np.float64]:
    # The gas detector resolves ~1.0 keV FWHM at 6 keV and ~2.4 keV at 30 keV: 0.5 keV
    # channels up to 20 keV, 1 keV above.
    return np.concatenate([np.arange(3.0, 20.0, 0.5), np.arange(20.0, 35.0 + 1e-9, 1.0)])


#: Channel edges in keV: 49 channels from 3 to 35 keV.
JEMX_CHANNEL_EDGES: NDArray[np.float64] = _channel_edges()


def jemx_spec() -> InstrumentSpec:
    """The JEM-X-like adapter."""
    from processing.instruments._registry import get_instrument

    return InstrumentSpec(
        name="jemx",
        title="INTEGRAL JEM-X1 (simulated, JEM-X-like)",
        channel_edges=tuple(float(e) for e in JEMX_CHANNEL_EDGES),
        fits=fits_identity("jemx"),
        # The simulated archive holds one reference catalog of the sky, shared by its cameras.
        layout=archive_layout("jemx", get_instrument("isgri").layout.reference_catalog),
        detector_shape=detector_shape("jemx"),
        default_bands_kev=((3.0, 10.0), (10.0, 35.0)),
        max_offaxis_deg=None,
        # ODA's JEM-X radius: the fully coded field is ~4.8 deg across, the zero response ~6.9.
        default_radius_deg=5.0,
        exact_pif=True,
    )
