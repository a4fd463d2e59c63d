"""One capability registry feeding VOSI and the VOResource records; the OAI-PMH registry.

This package knows nothing of the telescope: the service (``vo_service``) hands it the
identity, metadata, tables, availability checks and a coverage provider.

Registering a capability
------------------------
Every application has one :class:`CapabilityRegistry`, created in the app factory with
:func:`install_capabilities` before any blueprint is registered. A protocol blueprint
publishes its endpoint with one call, which then appears in VOSI ``/capabilities`` and in
the service's VOResource record::

    from registry import Capability, StandardID, register_capability

    uws = Blueprint("uws", __name__)
    register_capability(
        uws,
        Capability(
            StandardID.UWS,            # or a DataLink/SODA/TAP standardID, or None
            "/async",                  # path relative to settings.public_base_url
            "Product requests as UWS 1.1 jobs.",
            use="base",                # clients extend the URL (job list)
            query_types=("GET", "POST"),
            result_type="application/xml",
        ),
    )

The path is relative to the blueprint, so a ``url_prefix`` given when the blueprint is
registered is applied. Code that holds the app instead of a blueprint calls
``capabilities_of(app).add(Capability(...))``. ``interface_type`` (default
``vs:ParamHTTP``), ``capability_type`` (an ``xsi:type`` such as ``vg:Harvest``),
``version``, ``role`` and ``extra`` (subtype elements appended after the interface, as lxml
elements) cover the other shapes; ``resource=REGISTRY_RESOURCE`` puts a capability in the
registry's record instead of the service's. Access URLs are built from the public base URL
when the documents are rendered.

Publishing
----------
:class:`Publication` assembles the three records served over OAI-PMH: the data service
(``vs:CatalogService``, VODataService 1.2, with capabilities, coverage and tableset), the
publishing registry (``vg:Registry``) and the naming authority (``vg:Authority``).
:func:`vosi_blueprint` serves ``/capabilities``, ``/availability`` (from the checks in an
:class:`AvailabilityMonitor`) and ``/tables``; :func:`oai_blueprint` serves OAI-PMH 2.0 from
an :class:`OAIRepository`. Coverage comes from any :class:`CoverageProvider` whose
``pointing_coverage()`` returns a :class:`PointingCoverage` (pointing RA/Dec arrays, a
field-of-view radius, MJD range, keV range); the MOC is computed with mocpy.
"""

from registry._availability import (
    AvailabilityCheck,
    AvailabilityMonitor,
    AvailabilityReport,
    CheckResult,
)
from registry._blueprints import oai_blueprint, vosi_blueprint
from registry._capabilities import (
    REGISTRY_RESOURCE,
    SERVICE_RESOURCE,
    Capability,
    CapabilityError,
    CapabilityRegistry,
    InputParam,
    StandardID,
    capabilities_document,
    capabilities_of,
    capability_element,
    install_capabilities,
    register_capability,
)
from registry._coverage import (
    Coverage,
    CoverageProvider,
    PointingCoverage,
    StaticCoverage,
    coverage_from_pointings,
)
from registry._dublin_core import dublin_core
from registry._oai import (
    METADATA_FORMATS,
    VERBS,
    BadArgument,
    BadResumptionToken,
    BadVerb,
    CannotDisseminateFormat,
    IdDoesNotExist,
    MetadataFormat,
    NoRecordsMatch,
    OAIError,
    OAIRepository,
)
from registry._publication import MANAGED_SET, Publication, PublishedRecord
from registry._record import (
    Contact,
    RecordError,
    ResourceIdentity,
    ResourceMetadata,
    authority_record,
    registry_record,
    service_record,
    vo_datetime,
)
from registry._stamps import FileStamps, MemoryStamps, RecordStamps, Stamp
from registry._tables import (
    Column,
    ForeignKey,
    Table,
    TableSchema,
    tables_document,
    tableset_element,
)
from registry._xml import document_bytes

__all__ = [
    "MANAGED_SET",
    "METADATA_FORMATS",
    "REGISTRY_RESOURCE",
    "SERVICE_RESOURCE",
    "VERBS",
    "AvailabilityCheck",
    "AvailabilityMonitor",
    "AvailabilityReport",
    "BadArgument",
    "BadResumptionToken",
    "BadVerb",
    "CannotDisseminateFormat",
    "Capability",
    "CapabilityError",
    "CapabilityRegistry",
    "CheckResult",
    "Column",
    "Contact",
    "Coverage",
    "CoverageProvider",
    "FileStamps",
    "ForeignKey",
    "IdDoesNotExist",
    "InputParam",
    "MemoryStamps",
    "MetadataFormat",
    "NoRecordsMatch",
    "OAIError",
    "OAIRepository",
    "PointingCoverage",
    "Publication",
    "PublishedRecord",
    "RecordError",
    "RecordStamps",
    "ResourceIdentity",
    "ResourceMetadata",
    "Stamp",
    "StandardID",
    "StaticCoverage",
    "Table",
    "TableSchema",
    "authority_record",
    "capabilities_document",
    "capabilities_of",
    "capability_element",
    "coverage_from_pointings",
    "document_bytes",
    "dublin_core",
    "install_capabilities",
    "oai_blueprint",
    "register_capability",
    "registry_record",
    "service_record",
    "tables_document",
    "tableset_element",
    "vo_datetime",
    "vosi_blueprint",
]
