"""DataLink VOTables built with astropy: the links table, service descriptors, errors.

Astropy writes the document; lxml then blanks the ``value`` of the service descriptors'
input PARAMs (astropy writes ``0 0 0`` for an empty fixed-size array, which a client
would take as a default value) — the only correction made after astropy.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.io.votable import writeto
from astropy.io.votable.tree import (
    Field,
    Group,
    Info,
    Param,
    Resource,
    TableElement,
    Values,
    VOTableFile,
)
from lxml import etree

from datalink._source import ProductExtents, SkyCircle, SkyPolygon
from datalink._sphere import circle_ring, radec, unit_vectors
from uws import xml_safe

__all__ = [
    "DATALINK_ID",
    "DATALINK_MIME",
    "LINK_COLUMNS",
    "VOTABLE_MIME",
    "LinkRow",
    "ServiceDescriptor",
    "add_service_descriptors",
    "error_votable",
    "links_document",
    "links_service_descriptor",
    "links_votable",
    "service_descriptor",
]

VOTABLE_MIME = "application/x-votable+xml"
#: The standardID of a DataLink ``{links}`` endpoint.
DATALINK_ID = "ivo://ivoa.net/std/DataLink#links-1.1"
#: Content type of a ``{links}`` response (DataLink 1.1 §3.3).
DATALINK_MIME = "application/x-votable+xml;content=datalink"

_VOTABLE_NS = "http://www.ivoa.net/xml/VOTable/v1.3"
_NS = {"v": _VOTABLE_NS}
# Astropy's VALUES min/max parsing needs the version flags a parsed document carries.
_CONFIG = {f"version_1_{i}_or_later": True for i in range(1, 6)}

#: The 12 DataLink 1.1 columns: name, datatype, UCD, unit, description (DataLink 1.1 §3.2).
LINK_COLUMNS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("ID", "char", "meta.id;meta.main", None, "Input identifier"),
    ("access_url", "char", "meta.ref.url", None, "Link to data or a resource about it"),
    ("service_def", "char", "meta.ref", None, "Reference to a service descriptor resource"),
    ("error_message", "char", "meta.code.error", None, "Error if the link could not be made"),
    ("description", "char", "meta.note", None, "Human-readable description of the link"),
    ("semantics", "char", "meta.code", None, "Term from the IVOA datalink/core vocabulary"),
    ("content_type", "char", "meta.code.mime", None, "MIME type of the linked resource"),
    ("content_length", "long", "phys.size;meta.file", "byte", "Size of the linked resource"),
    ("local_semantics", "char", "meta.code", None, "Service-specific refinement of semantics"),
    ("content_qualifier", "char", "meta.code.class", None, "Product type of the resource"),
    ("link_auth", "char", "meta.code", None, "Authentication: false, optional or true"),
    ("link_authorized", "boolean", "meta.code", None, "Whether the caller may use the link"),
)


@dataclass(frozen=True)
class LinkRow:
    """One row of a ``{links}`` table. Exactly one of access_url, service_def, error_message."""

    id: str
    semantics: str
    access_url: str | None = None
    service_def: str | None = None
    error_message: str | None = None
    description: str | None = None
    content_type: str | None = None
    content_length: int | None = None
    local_semantics: str | None = None
    content_qualifier: str | None = None
    link_auth: str = "false"
    link_authorized: bool = True

    def __post_init__(self) -> None:
        given = [x for x in (self.access_url, self.service_def, self.error_message) if x]
        if len(given) != 1:
            raise ValueError(
                f"link row for {self.id!r}: exactly one of access_url, service_def and "
                "error_message must be set"
            )


@dataclass(frozen=True)
class ServiceDescriptor:
    """A DataLink service descriptor (``RESOURCE type="meta" utype="adhoc:service"``).

    Parameters
    ----------
    resource_id
        XML ID of the RESOURCE, referenced by ``service_def``.
    access_url
        The service endpoint.
    standard_id
        The standard it implements (e.g. ``ivo://ivoa.net/std/SODA#sync-1.0``).
    description
        One sentence for humans.
    extents
        The product's extents: VALUES of the input PARAMs.
    spatial, band, time
        Which SODA input parameters to offer (POS, CIRCLE, POLYGON / BAND / TIME).
    id_value
        Value of the ID input PARAM; ``None`` makes it refer to the column ``id_ref``.
    id_ref
        XML ID of the FIELD holding the product IDs (``ID`` in a ``{links}`` response;
        the ID column of a catalog or a job's result table).
    """

    resource_id: str
    access_url: str
    standard_id: str
    description: str
    extents: ProductExtents
    spatial: bool = False
    band: bool = False
    time: bool = False
    id_value: str | None = None
    id_ref: str = "ID"


def links_service_descriptor(
    links_url: str, *, id_ref: str, resource_id: str = "datalink-links"
) -> ServiceDescriptor:
    """A descriptor of the ``{links}`` endpoint itself, for any result VOTable.

    Clients (TOPCAT, Aladin, pyvo's ``iter_datalinks``) find the links of each row
    through it: its ID parameter refers to the table's ID column (FIELD ``ID=id_ref``).

    Examples
    --------
    >>> from astropy.io.votable.tree import VOTableFile
    >>> votable = VOTableFile(version="1.4")
    >>> add_service_descriptors(
    ...     votable, [links_service_descriptor("https://vo.example.org/datalink/links",
    ...                                        id_ref="obs_publisher_did")])
    """
    return ServiceDescriptor(
        resource_id=resource_id,
        access_url=links_url,
        standard_id=DATALINK_ID,
        description="DataLink 1.1: files, previews, provenance and services of each product",
        extents=ProductExtents(),
        id_ref=id_ref,
    )


def _field(votable: VOTableFile, name: str, datatype: str, ucd: str, unit: str | None) -> Field:
    field = Field(
        votable,
        name=name,
        ID=name,
        datatype=datatype,
        arraysize="*" if datatype == "char" else None,
        ucd=ucd,
        unit=unit,
    )
    return field


def _param(
    votable: VOTableFile,
    name: str,
    *,
    datatype: str = "char",
    arraysize: str | None = "*",
    value: str = "",
    ucd: str | None = None,
    unit: str | None = None,
    xtype: str | None = None,
    ref: str | None = None,
    description: str | None = None,
    minimum: str | None = None,
    maximum: str | None = None,
) -> Param:
    param = Param(
        votable,
        name=name,
        datatype=datatype,
        arraysize=arraysize,
        value=value,
        ucd=ucd,
        unit=unit,
        xtype=xtype,
        ref=ref,
    )
    # Astropy gives every PARAM an ID equal to its name; several descriptors in one
    # document would then repeat IDs, which XML forbids.
    param.ID = None
    if description:
        param.description = description
    if minimum is not None or maximum is not None:
        values = Values(votable, param, config=_CONFIG)
        if minimum is not None:
            values.min = minimum
        if maximum is not None:
            values.max = maximum
        param.values = values
    return param


def _numbers(values: Sequence[float]) -> str:
    return " ".join(repr(float(v)) for v in values)


def _bounding_circle(sky: SkyCircle | SkyPolygon) -> tuple[float, float, float]:
    if isinstance(sky, SkyCircle):
        return sky.ra, sky.dec, sky.radius
    vertices = np.array(sky.vertices, dtype=float)
    vectors = unit_vectors(vertices[:, 0], vertices[:, 1])
    centre = vectors.mean(axis=0)
    centre /= np.linalg.norm(centre)
    radius = float(np.degrees(np.arccos(np.clip(vectors @ centre, -1, 1))).max())
    ((ra, dec),) = radec(centre[None, :])
    return float(ra), float(dec), radius


def _footprint_polygon(sky: SkyCircle | SkyPolygon) -> list[float]:
    if isinstance(sky, SkyPolygon):
        return [v for vertex in sky.vertices for v in vertex]
    # An octagon circumscribing the circle (vertices at radius r / cos(22.5 deg)).
    reach = min(sky.radius / math.cos(math.pi / 8), 179.0)
    points = circle_ring(sky.ra, sky.dec, reach, 8)
    return [float(v) for v in points.ravel()]


def _input_params(votable: VOTableFile, descriptor: ServiceDescriptor) -> list[Param]:
    extents = descriptor.extents
    params = [
        _param(
            votable,
            "ID",
            ucd="meta.id;meta.dataset",
            value=descriptor.id_value or "",
            ref=None if descriptor.id_value else descriptor.id_ref,
            description="Identifier of the product to process",
        )
    ]
    if descriptor.spatial:
        sky = extents.sky
        params.append(
            _param(
                votable,
                "POS",
                ucd="pos.outline;obs",
                description="Region to cut (ICRS deg): 'CIRCLE ra dec r', "
                "'RANGE lon1 lon2 lat1 lat2' or 'POLYGON ra1 dec1 ra2 dec2 ra3 dec3 ...'",
            )
        )
        params.append(
            _param(
                votable,
                "CIRCLE",
                datatype="double",
                arraysize="3",
                xtype="circle",
                unit="deg",
                ucd="phys.angArea;obs",
                description="Circle to cut: ra dec radius (ICRS deg)",
                maximum=None if sky is None else _numbers(_bounding_circle(sky)),
            )
        )
        params.append(
            _param(
                votable,
                "POLYGON",
                datatype="double",
                arraysize="*",
                xtype="polygon",
                unit="deg",
                ucd="pos.outline;obs",
                description="Polygon to cut: ra1 dec1 ra2 dec2 ... (ICRS deg)",
                maximum=None if sky is None else _numbers(_footprint_polygon(sky)),
            )
        )
    if descriptor.band:
        band = extents.band_m
        params.append(
            _param(
                votable,
                "BAND",
                datatype="double",
                arraysize="2",
                xtype="interval",
                unit="m",
                ucd="em.wl;stat.interval",
                description="Energy band as a vacuum wavelength interval (m); "
                "E[keV] = 1.239841984e-9 / lambda[m]",
                minimum=None if band is None else repr(band[0]),
                maximum=None if band is None else repr(band[1]),
            )
        )
    if descriptor.time:
        span = extents.time_mjd
        params.append(
            _param(
                votable,
                "TIME",
                datatype="double",
                arraysize="2",
                xtype="interval",
                unit="d",
                ucd="time.interval;obs.exposure",
                description="Time range (MJD)",
                minimum=None if span is None else repr(span[0]),
                maximum=None if span is None else repr(span[1]),
            )
        )
    return params


def service_descriptor(votable: VOTableFile, descriptor: ServiceDescriptor) -> Resource:
    """The ``RESOURCE type="meta" utype="adhoc:service"`` element for ``descriptor``."""
    resource = Resource(type="meta", utype="adhoc:service", ID=descriptor.resource_id)
    resource.description = descriptor.description
    resource.params.append(
        _param(votable, "standardID", value=descriptor.standard_id, ucd="meta.ref.ivoid")
    )
    resource.params.append(
        _param(votable, "accessURL", value=descriptor.access_url, ucd="meta.ref.url")
    )
    group = Group(resource, name="inputParams")
    group.ID = None
    group.entries.extend(_input_params(votable, descriptor))
    resource.groups.append(group)
    return resource


def _links_table(votable: VOTableFile, rows: Sequence[LinkRow]) -> TableElement:
    table = TableElement(votable)
    for name, datatype, ucd, unit, description in LINK_COLUMNS:
        field = _field(votable, name, datatype, ucd, unit)
        field.description = description
        table.fields.append(field)
    table.create_arrays(len(rows))
    array = table.array
    for index, row in enumerate(rows):
        values: list[Any] = [
            row.id,
            row.access_url or "",
            row.service_def or "",
            row.error_message or "",
            row.description or "",
            row.semantics,
            row.content_type or "",
            row.content_length if row.content_length is not None else 0,
            row.local_semantics or "",
            row.content_qualifier or "",
            row.link_auth,
            row.link_authorized,
        ]
        array[index] = tuple(values)
        # Empty strings are written as empty cells (null); a missing length must be masked.
        array.mask[index]["content_length"] = row.content_length is None
    return table


def links_votable(
    rows: Sequence[LinkRow],
    descriptors: Sequence[ServiceDescriptor] = (),
    *,
    overflow: bool = False,
) -> VOTableFile:
    """A DataLink ``{links}`` response: the results table and the service descriptors.

    Parameters
    ----------
    rows
        The links.
    descriptors
        Service descriptors referenced by rows' ``service_def``.
    overflow
        Whether MAXREC cut rows off (QUERY_STATUS is then OVERFLOW).
    """
    votable = VOTableFile(version="1.4")
    results = Resource(type="results")
    status = Info(name="QUERY_STATUS", value="OVERFLOW" if overflow else "OK")
    results.infos.append(status)
    # DataLink 1.1 §3.3: the standardID lets clients recognise a links table.
    results.infos.append(Info(name="standardID", value=DATALINK_ID))
    results.tables.append(_links_table(votable, rows))
    votable.resources.append(results)
    for descriptor in descriptors:
        votable.resources.append(service_descriptor(votable, descriptor))
    return votable


def add_service_descriptors(votable: VOTableFile, descriptors: Sequence[ServiceDescriptor]) -> None:
    """Append service descriptors to any result VOTable (e.g. a catalog or a job result).

    Clients that look for DataLink services in a result find them there.
    """
    for descriptor in descriptors:
        votable.resources.append(service_descriptor(votable, descriptor))


def _astropy_xml(votable: VOTableFile) -> etree._Element:
    buffer = io.BytesIO()
    writeto(votable, buffer, tabledata_format="tabledata")
    root = etree.fromstring(buffer.getvalue())
    for param in root.iterfind(
        "v:RESOURCE[@type='meta']/v:GROUP[@name='inputParams']/v:PARAM", _NS
    ):
        if param.get("datatype") != "char":
            param.set("value", "")
    return root


def to_bytes(votable: VOTableFile) -> bytes:
    """Serialise ``votable`` (TABLEDATA) with the service descriptors' empty input values."""
    return etree.tostring(_astropy_xml(votable), xml_declaration=True, encoding="UTF-8")


@functools.lru_cache(maxsize=512)
def _links_xml(
    rows: tuple[LinkRow, ...], descriptors: tuple[ServiceDescriptor, ...], overflow: bool
) -> bytes:
    return to_bytes(links_votable(rows, descriptors, overflow=overflow))


def links_document(
    rows: Sequence[LinkRow],
    descriptors: Sequence[ServiceDescriptor] = (),
    *,
    overflow: bool = False,
) -> bytes:
    """The bytes of :func:`links_votable` for these rows and descriptors (memoised).

    Serialisation is a pure function of immutable values (``LinkRow`` and
    ``ServiceDescriptor`` are frozen; file sizes are part of the rows), so a document
    is rendered by astropy once and kept (LRU, 512 documents). Values that are not
    hashable (e.g. lists in a source's extents) are rendered afresh.
    """
    try:
        return _links_xml(tuple(rows), tuple(descriptors), overflow)
    except TypeError:  # unhashable: no memo
        return to_bytes(links_votable(rows, descriptors, overflow=overflow))


def error_votable(message: str) -> bytes:
    """A DALI error document: QUERY_STATUS=ERROR with ``message`` as the INFO text."""
    votable = VOTableFile(version="1.4")
    resource = Resource(type="results")
    info = Info(name="QUERY_STATUS", value="ERROR")
    info.content = xml_safe(message)
    resource.infos.append(info)
    votable.resources.append(resource)
    buffer = io.BytesIO()
    writeto(votable, buffer)
    return buffer.getvalue()
