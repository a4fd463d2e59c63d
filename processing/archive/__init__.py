"""The event archive: layout, event files, the science-window index and ingest."""

from processing.archive._catalog import (
    REFERENCE_CATALOG,
    CatalogSource,
    read_catalog_file,
    read_reference_catalog,
)
from processing.archive._events import (
    EVENTS_EXTENSION,
    GTI_EXTENSION,
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
    EVENTS_FILE,
    ISGRI_EVENTS,
    MJDREF,
    EventLayout,
    ScwId,
    scw_dir,
)

__all__ = [
    "EVENTS_EXTENSION",
    "EVENTS_FILE",
    "GTI_EXTENSION",
    "ISGRI_EVENTS",
    "MJDREF",
    "REFERENCE_CATALOG",
    "ArchiveIndex",
    "CatalogSource",
    "EventFileError",
    "EventLayout",
    "EventList",
    "IngestReport",
    "ScienceWindow",
    "ScwId",
    "UnknownScienceWindow",
    "read_catalog_file",
    "read_events",
    "read_header",
    "read_reference_catalog",
    "scw_dir",
    "write_events",
]
