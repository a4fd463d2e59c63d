"""Which of the selected science windows an instrument can make products of.

The archive index lists science windows from the default camera's event files. Another camera
(JEM-X) has its own event file in the same folder when it recorded data, and a narrower field
of view: a science window is its when its file is there and, for a request with a position,
when the pointing is within the camera's field of that position.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from processing.archive import ArchiveIndex, ScienceWindow
from processing.codedmask import has_camera_events
from processing.instrument import CalibrationError, load_instrument, radec_to_unit
from processing.instruments import get_instrument

__all__ = ["camera_field_deg", "camera_windows"]


@functools.lru_cache(maxsize=8)
def _zero_response_deg(archive_root: str, instrument: str) -> float:
    return float(load_instrument(Path(archive_root), instrument).zero_response_deg)


def camera_field_deg(archive: ArchiveIndex, instrument: str) -> float | None:
    """The off-axis angle beyond which the camera sees nothing of a position, degrees, when
    the selection must be bounded by it: a camera whose adapter gives no off-axis limit is
    bounded by its geometry's zero-response angle (from its IC files); one with a limit (ISGRI)
    is selected by the request radius alone, as it always was. ``None`` too when the archive
    has no calibration of the camera."""
    spec = get_instrument(instrument)
    if spec.max_offaxis_deg is not None:
        return None
    try:
        return _zero_response_deg(str(archive.root), instrument)
    except CalibrationError:  # an archive without the camera's IC files holds none of its data
        return None


def camera_windows(
    archive: ArchiveIndex,
    windows: Sequence[ScienceWindow],
    instrument: str,
    position: tuple[float, float] | None,
) -> list[ScienceWindow]:
    """The science windows of ``windows`` with the camera's events, and (given a position) the
    camera's field on it; in the given order."""
    spec = get_instrument(instrument)
    kept = [w for w in windows if has_camera_events(archive, w, spec)]
    if not kept:  # the archive holds no data of this camera here (nor, maybe, its IC files)
        return []
    field = camera_field_deg(archive, instrument) if position is not None else None
    if field is None or position is None:
        return kept
    centre = radec_to_unit(*position)
    limit = float(np.cos(np.radians(field)))
    return [w for w in kept if float(radec_to_unit(w.ra_x, w.dec_x) @ centre) >= limit]
