"""VOResource records: the service (``vs:CatalogService``), its registry and its authority.

The builders here are pure functions of their inputs (metadata, capabilities, coverage,
tables, dates); :class:`~registry.Publication` feeds them from the running service.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from registry._capabilities import Capability, capability_element
from registry._coverage import Coverage
from registry._tables import TableSchema, tableset_element
from registry._xml import NSMAP, RI, sub, xsi_type

__all__ = [
    "Contact",
    "RecordError",
    "ResourceIdentity",
    "ResourceMetadata",
    "authority_record",
    "registry_record",
    "service_record",
    "vo_datetime",
]

_AUTHORITY = re.compile(r"[\w\d][\w\d\-_\.!~\*'\(\)\+=]{2,}")
_RESOURCE_KEY = re.compile(r"[\w\d\-_\.!~\*'\(\)\+=]+(/[\w\d\-_\.!~\*'\(\)\+=]+)*")


class RecordError(ValueError):
    """The configuration cannot make a valid record (bad authority, clashing keys...)."""


@dataclass(frozen=True)
class ResourceIdentity:
    """Where the resources live: authority, service key and public base URL.

    The three published identifiers are ``ivo://<authority>`` (the authority),
    ``ivo://<authority>/<service_key>`` (the service) and ``ivo://<authority>/<registry_key>``
    (the publishing registry).
    """

    authority: str
    service_key: str
    base_url: str
    registry_key: str = "registry"

    def __post_init__(self) -> None:
        if not _AUTHORITY.fullmatch(self.authority):
            raise RecordError(f"authority {self.authority!r} is not a valid IVOA authority ID")
        for key in (self.service_key, self.registry_key):
            if not _RESOURCE_KEY.fullmatch(key):
                raise RecordError(f"resource key {key!r} is not a valid IVOA resource key")
        if self.service_key == self.registry_key:
            raise RecordError(f"service and registry cannot both be called {self.service_key!r}")

    @property
    def authority_id(self) -> str:
        """IVOA identifier of the authority record."""
        return f"ivo://{self.authority}"

    @property
    def service_id(self) -> str:
        """IVOA identifier of the data service."""
        return f"ivo://{self.authority}/{self.service_key}"

    @property
    def registry_id(self) -> str:
        """IVOA identifier of the publishing registry."""
        return f"ivo://{self.authority}/{self.registry_key}"


@dataclass(frozen=True)
class Contact:
    """Whom to write to about the resource."""

    name: str
    email: str | None = None
    address: str | None = None
    telephone: str | None = None


@dataclass(frozen=True)
class ResourceMetadata:
    """Curation and content of the service record.

    Parameters
    ----------
    title, short_name, description
        How the resource presents itself; ``short_name`` has at most 16 characters.
    subjects
        Unified Astronomy Thesaurus concepts.
    publisher, contact, creators
        Curation: the organisation that makes the resource available, whom to contact, who
        made the content.
    reference_url
        Human-readable documentation (defaults to the landing page).
    content_types, content_levels
        Terms from the VOResource ``content_type`` and ``content_level`` vocabularies.
    version
        Version of the service software or data.
    rights, rights_uri
        Usage conditions and the licence URI.
    facilities, instruments
        Observatory and instrument names.
    """

    title: str
    description: str
    subjects: tuple[str, ...]
    publisher: str
    contact: Contact
    short_name: str | None = None
    creators: tuple[str, ...] = ()
    reference_url: str | None = None
    content_types: tuple[str, ...] = ("Catalog",)
    content_levels: tuple[str, ...] = ("Research",)
    version: str | None = None
    rights: str | None = None
    rights_uri: str | None = None
    facilities: tuple[str, ...] = ()
    instruments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.short_name is not None and len(self.short_name) > 16:
            raise RecordError(f"short name {self.short_name!r} is longer than 16 characters")
        if not self.subjects:
            raise RecordError("a resource needs at least one subject")


def vo_datetime(moment: datetime) -> str:
    """A VOResource ``UTCTimestamp`` / OAI-PMH datestamp (seconds, ``Z``)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _resource(resource_type: str, created: datetime, updated: datetime) -> etree._Element:
    root = etree.Element(f"{{{RI}}}Resource", nsmap={"ri": RI, **NSMAP})
    xsi_type(root, resource_type)
    root.set("created", vo_datetime(created))
    root.set("updated", vo_datetime(updated))
    root.set("status", "active")
    return root


def _header(
    root: etree._Element,
    *,
    title: str,
    identifier: str,
    metadata: ResourceMetadata,
    base_url: str,
    description: str,
    short_name: str | None,
    content_types: Sequence[str],
) -> None:
    """The VOResource core: title, identifier, curation and content."""
    sub(root, "title", title)
    if short_name:
        sub(root, "shortName", short_name)
    sub(root, "identifier", identifier)
    curation = sub(root, "curation")
    sub(curation, "publisher", metadata.publisher)
    for creator in metadata.creators:
        sub(sub(curation, "creator"), "name", creator)
    if metadata.version:
        sub(curation, "version", metadata.version)
    contact = sub(curation, "contact")
    sub(contact, "name", metadata.contact.name)
    if metadata.contact.address:
        sub(contact, "address", metadata.contact.address)
    if metadata.contact.email:
        sub(contact, "email", metadata.contact.email)
    if metadata.contact.telephone:
        sub(contact, "telephone", metadata.contact.telephone)
    content = sub(root, "content")
    for subject in metadata.subjects:
        sub(content, "subject", subject)
    sub(content, "description", description)
    sub(content, "referenceURL", metadata.reference_url or base_url.rstrip("/") + "/")
    for content_type in content_types:
        sub(content, "type", content_type)
    for level in metadata.content_levels:
        sub(content, "contentLevel", level)


def _service_body(
    root: etree._Element,
    metadata: ResourceMetadata,
    capabilities: Sequence[Capability],
    base_url: str,
) -> None:
    if metadata.rights:
        sub(root, "rights", metadata.rights, {"rightsURI": metadata.rights_uri})
    for capability in capabilities:
        root.append(capability_element(capability, base_url))


def service_record(
    identity: ResourceIdentity,
    metadata: ResourceMetadata,
    capabilities: Sequence[Capability],
    coverage: Coverage,
    tables: Sequence[TableSchema],
    created: datetime,
    updated: datetime,
) -> etree._Element:
    """The ``vs:CatalogService`` record of the data service (VODataService 1.2)."""
    root = _resource("vs:CatalogService", created, updated)
    _header(
        root,
        title=metadata.title,
        identifier=identity.service_id,
        metadata=metadata,
        base_url=identity.base_url,
        description=metadata.description,
        short_name=metadata.short_name,
        content_types=metadata.content_types,
    )
    _service_body(root, metadata, capabilities, identity.base_url)
    for facility in metadata.facilities:
        sub(root, "facility", facility)
    for instrument in metadata.instruments:
        sub(root, "instrument", instrument)
    root.append(coverage.element())
    if tables:
        root.append(tableset_element(tables))
    return root


def registry_record(
    identity: ResourceIdentity,
    metadata: ResourceMetadata,
    capabilities: Sequence[Capability],
    created: datetime,
    updated: datetime,
) -> etree._Element:
    """The ``vg:Registry`` record of the publishing registry (the OAI-PMH endpoint)."""
    root = _resource("vg:Registry", created, updated)
    _header(
        root,
        title=f"{metadata.title}: publishing registry",
        identifier=identity.registry_id,
        metadata=metadata,
        base_url=identity.base_url,
        description=(
            f"The OAI-PMH publishing registry of {metadata.title}. It publishes the records "
            f"of the resources under the naming authority {identity.authority_id}."
        ),
        short_name=None,
        content_types=("Registry",),
    )
    _service_body(root, metadata, capabilities, identity.base_url)
    sub(root, "full", "false")
    sub(root, "managedAuthority", identity.authority)
    return root


def authority_record(
    identity: ResourceIdentity,
    metadata: ResourceMetadata,
    created: datetime,
    updated: datetime,
) -> etree._Element:
    """The ``vg:Authority`` record claiming the naming authority."""
    root = _resource("vg:Authority", created, updated)
    _header(
        root,
        title=f"Naming authority {identity.authority}",
        identifier=identity.authority_id,
        metadata=metadata,
        base_url=identity.base_url,
        description=(
            f"The naming authority {identity.authority}, under which {metadata.publisher} "
            "registers its Virtual Observatory resources."
        ),
        short_name=None,
        content_types=("Organisation",),
    )
    sub(root, "managingOrg", metadata.publisher)
    return root
