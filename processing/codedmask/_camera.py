"""What the core asks of an instrument model's adapter, and what it derives when there is none.

An instrument model loaded from an archive names its IC files, and so its adapter
(:func:`processing.instruments.adapter_of`). A model built in memory (a test, a study of a
new camera) has no files: the core then derives what it needs from the geometry alone.
"""

from __future__ import annotations

import numpy as np

from processing.instrument import Instrument
from processing.instruments import InstrumentSpec, adapter_of

__all__ = ["adapter_or_none", "field_edge_deg", "max_offaxis_deg"]


def adapter_or_none(instrument: Instrument) -> InstrumentSpec | None:
    """The adapter of the IC files ``instrument`` was loaded from; None without files."""
    return adapter_of(instrument) if instrument.calibration_files else None


def field_edge_deg(instrument: Instrument) -> float:
    """Off-axis angle beyond which no detector point sees the mask (along the diagonal)."""
    mask, det = instrument.mask, instrument.detector
    half_mask = 0.5 * np.asarray(mask.pattern.shape, dtype=float) * mask.element_mm
    half_det = 0.5 * np.asarray(det.shape, dtype=float) * det.pitch_mm
    reach = float(np.hypot(*(half_mask + half_det)))
    return float(np.degrees(np.arctan(reach / (mask.focal_mm - 0.5 * mask.thickness_mm))))


def max_offaxis_deg(instrument: Instrument) -> float:
    """Sources further off axis than this are given no shadow: the adapter's limit, or the
    geometric edge of the field for a model without adapter."""
    spec = adapter_or_none(instrument)
    return field_edge_deg(instrument) if spec is None else spec.max_offaxis_deg
