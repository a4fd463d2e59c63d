"""The event archive: layout, event files, the science-window index and ingest."""

from processing.archive._catalog import (
    CatalogSource,
    read_catalog_file,
    read_reference_catalog,
)
from processing.archive._events import (
    EventFileError,
    EventList,
    read_events,
    read_header,
    write_events,
)
from processing.archive._index import (
    ArchiveIndex,
    IngestReport,
    ScienceWindow,
    UnknownScienceWindow,
)
from processing.archive._layout import (
    MJDREF,
    EventLayout,
    ScwId,
    default_event_layout,
    scw_dir,
)

__all__ = [
    "MJDREF",
    "ArchiveIndex",
    "CatalogSource",
    "EventFileError",
    "EventLayout",
    "EventList",
    "IngestReport",
    "ScienceWindow",
    "ScwId",
    "UnknownScienceWindow",
    "default_event_layout",
    "read_catalog_file",
    "read_events",
    "read_header",
    "read_reference_catalog",
    "scw_dir",
    "write_events",
]
