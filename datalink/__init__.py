"""DataLink 1.1 ``{links}`` and SODA 1.0 sync/async, generic over a :class:`ProductSource`.

This package knows nothing of the telescope. The service implements
:class:`ProductSource` (resolve a product ID to a :class:`ProductDescription`;
re-derive a product for a new band or time range) and installs the endpoints::

    from datalink import install_datalink, soda_async_blueprint, soda_job_kind

    install_datalink(app, source, public_url=base, async_path="/soda/async")
    kinds = KindRegistry([soda_job_kind(source)])         # + a UWSService over them
    app.register_blueprint(soda_async_blueprint(service, identity, url_prefix="/soda/async"))

Each endpoint registers its capability (DataLink links-1.1, SODA sync-1.0 and
async-1.0). :class:`LinkBuilder` and :func:`add_service_descriptors` put the same
service descriptors into other VOTables (catalogs, job results).
See ``docs/datalink.md``.
"""

from datalink._blueprints import (
    DATALINK_EXTENSION,
    DataLinkEndpoints,
    install_datalink,
    links_blueprint,
    soda_async_blueprint,
    soda_sync_blueprint,
)
from datalink._cutout import cut_fits, region_boundary
from datalink._errors import (
    DataLinkError,
    MultiValuedParamNotSupported,
    NoOverlap,
    NotFoundFault,
    SodaError,
    UnsupportedOperation,
    UsageFault,
)
from datalink._links import (
    PROVENANCE_LOCAL_SEMANTICS,
    PROVENANCE_SEMANTICS,
    SODA_ASYNC_ID,
    SODA_SYNC_ID,
    DataLinkURLs,
    LinkBuilder,
)
from datalink._params import (
    SPATIAL_PARAMETERS,
    Interval,
    RawParameters,
    SkyRegion,
    parse_circle,
    parse_interval,
    parse_polygon,
    parse_pos,
    parse_spatial,
)
from datalink._soda import (
    SODA_PARAMETERS,
    SodaOutcome,
    SodaRequest,
    SodaTask,
    parse_soda_request,
    run_soda_task,
    soda_job_kind,
)
from datalink._source import (
    KEV_METRE,
    ProductDescription,
    ProductExtents,
    ProductFile,
    ProductNotFoundError,
    ProductSource,
    Progenitor,
    RederivationError,
    SkyCircle,
    SkyPolygon,
    kev_to_metres,
    metres_to_kev,
    split_product_id,
)
from datalink._votable import (
    DATALINK_ID,
    DATALINK_MIME,
    LINK_COLUMNS,
    VOTABLE_MIME,
    LinkRow,
    ServiceDescriptor,
    add_service_descriptors,
    error_votable,
    links_document,
    links_service_descriptor,
    links_votable,
    service_descriptor,
    to_bytes,
)

__all__ = [
    "DATALINK_EXTENSION",
    "DATALINK_ID",
    "DATALINK_MIME",
    "KEV_METRE",
    "LINK_COLUMNS",
    "PROVENANCE_LOCAL_SEMANTICS",
    "PROVENANCE_SEMANTICS",
    "SODA_ASYNC_ID",
    "SODA_PARAMETERS",
    "SODA_SYNC_ID",
    "SPATIAL_PARAMETERS",
    "VOTABLE_MIME",
    "DataLinkEndpoints",
    "DataLinkError",
    "DataLinkURLs",
    "Interval",
    "LinkBuilder",
    "LinkRow",
    "MultiValuedParamNotSupported",
    "NoOverlap",
    "NotFoundFault",
    "ProductDescription",
    "ProductExtents",
    "ProductFile",
    "ProductNotFoundError",
    "ProductSource",
    "Progenitor",
    "RawParameters",
    "RederivationError",
    "ServiceDescriptor",
    "SkyCircle",
    "SkyPolygon",
    "SkyRegion",
    "SodaError",
    "SodaOutcome",
    "SodaRequest",
    "SodaTask",
    "UnsupportedOperation",
    "UsageFault",
    "add_service_descriptors",
    "cut_fits",
    "error_votable",
    "install_datalink",
    "kev_to_metres",
    "links_blueprint",
    "links_document",
    "links_service_descriptor",
    "links_votable",
    "metres_to_kev",
    "parse_circle",
    "parse_interval",
    "parse_polygon",
    "parse_pos",
    "parse_soda_request",
    "parse_spatial",
    "region_boundary",
    "run_soda_task",
    "service_descriptor",
    "soda_async_blueprint",
    "soda_job_kind",
    "soda_sync_blueprint",
    "split_product_id",
    "to_bytes",
]
