"""What the core asks of an instrument model's adapter, and what it derives when there is none.

An instrument model loaded from an archive names its IC files, and so its adapter
(:func:`processing.instruments.adapter_of`). A model built in memory (a test, a study of a
new camera) has no files: the core then derives what it needs from the geometry alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from processing.archive import EventLayout, EventList, read_events
from processing.instrument import Instrument, calibration_layout, load_instrument
from processing.instruments import (
    InstrumentSpec,
    adapter_for_calibration,
    adapter_for_detector,
    adapter_for_events_file,
    adapter_of,
    default_instrument,
)

__all__ = [
    "adapter_or_none",
    "event_layout",
    "field_edge_deg",
    "load_model",
    "max_offaxis_deg",
    "read_camera_events",
]


def adapter_or_none(instrument: Instrument) -> InstrumentSpec | None:
    """The adapter of the IC files ``instrument`` was loaded from; None without files."""
    return adapter_of(instrument) if instrument.calibration_files else None


def field_edge_deg(instrument: Instrument) -> float:
    """Off-axis angle beyond which no ray reaches the detector through the mask."""
    return float(instrument.zero_response_deg)


def max_offaxis_deg(instrument: Instrument) -> float:
    """Sources further off axis than this are given no shadow: the adapter's limit, or the
    geometric edge of the field for a model without adapter or an adapter without limit."""
    spec = adapter_or_none(instrument)
    if spec is None or spec.max_offaxis_deg is None:
        return field_edge_deg(instrument)
    return spec.max_offaxis_deg


def event_layout(spec: InstrumentSpec) -> EventLayout:
    """How the camera's event files are laid out (extensions and columns)."""
    return calibration_layout(spec.name).events


def read_camera_events(path: str | Path) -> tuple[InstrumentSpec, EventList]:
    """The adapter of an event file and its events.

    The camera is the one whose event files bear the file's name; a file of no known name is
    read as the default instrument's and its header's ``DETNAM`` names the camera.
    """
    spec = adapter_for_events_file(Path(path).name)
    if spec is not None:
        return spec, read_events(Path(path), event_layout(spec))
    events = read_events(Path(path), event_layout(default_instrument()))
    detnam = events.header.get("DETNAM")
    return (default_instrument() if detnam is None else adapter_for_detector(str(detnam))), events


def load_model(archive_root: Path, labels: Iterable[str]) -> Instrument:
    """The instrument model of the camera whose IC files (archive-relative ``labels``) these are."""
    return load_instrument(Path(archive_root), adapter_for_calibration(labels).name)
