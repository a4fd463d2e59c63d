"""The capability registry: the one list of endpoints that feeds VOSI and the registry records."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from flask import Blueprint
from flask.blueprints import BlueprintSetupState
from flask.sansio.app import App
from lxml import etree

from registry._xml import NSMAP, VOSI_CAPABILITIES, sub, xsi_type

__all__ = [
    "REGISTRY_RESOURCE",
    "SERVICE_RESOURCE",
    "Capability",
    "CapabilityError",
    "CapabilityRegistry",
    "InputParam",
    "StandardID",
    "capabilities_document",
    "capabilities_of",
    "capability_element",
    "install_capabilities",
    "register_capability",
]

#: The resource a capability is published under: the data service itself ...
SERVICE_RESOURCE = "service"
#: ... or the publishing registry (``vg:Registry``), which owns the OAI-PMH endpoint.
REGISTRY_RESOURCE = "registry"

_EXTENSION_KEY = "registry.capabilities"


class StandardID:
    """IVOA standard identifiers of the capabilities this project publishes."""

    VOSI_CAPABILITIES = "ivo://ivoa.net/std/VOSI#capabilities"
    VOSI_AVAILABILITY = "ivo://ivoa.net/std/VOSI#availability"
    VOSI_TABLES = "ivo://ivoa.net/std/VOSI#tables-1.1"
    REGISTRY = "ivo://ivoa.net/std/Registry"
    DATALINK = "ivo://ivoa.net/std/DataLink#links-1.1"
    SODA_SYNC = "ivo://ivoa.net/std/SODA#sync-1.0"
    SODA_ASYNC = "ivo://ivoa.net/std/SODA#async-1.0"
    UWS = "ivo://ivoa.net/std/UWS"


class CapabilityError(ValueError):
    """A capability that cannot be published (bad path, duplicate, no registry on the app)."""


_VOTABLE_TYPES = frozenset({"boolean", "short", "int", "long", "char", "float", "double"})


@dataclass(frozen=True)
class InputParam:
    """An input parameter of a ``vs:ParamHTTP`` interface (VODataService 1.2 ``vs:InputParam``).

    ``datatype`` is a VOTable datatype (DALI services describe their parameters in VOTable
    types); ``std`` is false for a parameter this service defines rather than the standard.
    """

    name: str
    description: str
    datatype: str = "char"
    arraysize: str | None = None
    unit: str | None = None
    ucd: str | None = None
    xtype: str | None = None
    use: Literal["required", "optional", "ignored"] = "optional"
    std: bool = False

    def __post_init__(self) -> None:
        if self.datatype not in _VOTABLE_TYPES:
            raise CapabilityError(f"parameter {self.name}: unknown datatype {self.datatype!r}")

    def element(self) -> etree._Element:
        """The ``param`` element of the interface."""
        param = etree.Element("param", nsmap=dict(NSMAP))
        param.set("use", self.use)
        param.set("std", "true" if self.std else "false")
        sub(param, "name", self.name)
        sub(param, "description", self.description)
        if self.unit:
            sub(param, "unit", self.unit)
        if self.ucd:
            sub(param, "ucd", self.ucd)
        datatype = sub(
            param,
            "dataType",
            self.datatype,
            {"arraysize": self.arraysize, "extendedType": self.xtype},
        )
        xsi_type(datatype, "vs:VOTableType")
        return param


@dataclass(frozen=True)
class Capability:
    """One capability of the service: what it does and where a client reaches it.

    Parameters
    ----------
    standard_id
        The IVOA standard the endpoint implements (see :class:`StandardID`); ``None`` for a
        custom capability.
    path
        Path of the endpoint relative to the public base URL, starting with ``/``.
    description
        One sentence for humans.
    interface_type
        ``xsi:type`` of the interface: ``vs:ParamHTTP`` (default), ``vg:OAIHTTP``,
        ``vr:WebBrowser``...
    use
        How the access URL is used: ``full`` (the URL as is) or ``base`` (a base that clients
        extend, as for UWS job lists and OAI-PMH).
    role
        Interface role; ``std`` marks the standard interface of a standard capability.
    version
        The interface's standard version, when the standard asks for one.
    query_types, result_type
        HTTP methods and result MIME type (``vs:ParamHTTP`` interfaces only).
    capability_type
        ``xsi:type`` of the capability element itself (e.g. ``vg:Harvest``).
    params
        Input parameters of a ``vs:ParamHTTP`` interface.
    extra
        Child elements of the capability subtype, appended after the interface (e.g.
        ``maxRecords`` for ``vg:Harvest``); copied on every rendering.
    resource
        Which published resource carries the capability: :data:`SERVICE_RESOURCE` or
        :data:`REGISTRY_RESOURCE`.
    """

    standard_id: str | None
    path: str
    description: str | None = None
    interface_type: str = "vs:ParamHTTP"
    use: Literal["full", "base", "dir"] = "full"
    role: str | None = "std"
    version: str | None = None
    query_types: tuple[str, ...] = ("GET",)
    result_type: str | None = None
    capability_type: str | None = None
    params: tuple[InputParam, ...] = ()
    extra: tuple[etree._Element, ...] = field(default=(), compare=False)
    resource: str = SERVICE_RESOURCE

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or "?" in self.path or "#" in self.path:
            raise CapabilityError(f"capability path {self.path!r} must be a plain absolute path")
        if self.standard_id is not None and not self.standard_id.startswith("ivo://"):
            raise CapabilityError(f"standardID {self.standard_id!r} must be an ivo:// URI")
        if self.resource not in (SERVICE_RESOURCE, REGISTRY_RESOURCE):
            raise CapabilityError(f"unknown resource {self.resource!r}")
        if set(self.query_types) - {"GET", "POST"}:
            raise CapabilityError(f"query types {self.query_types} must be GET and/or POST")

    def access_url(self, base_url: str) -> str:
        """The URL clients use, built from the public base URL."""
        return base_url.rstrip("/") + self.path

    def under(self, prefix: str | None) -> Capability:
        """The same capability mounted below a URL prefix (a blueprint's ``url_prefix``)."""
        if not prefix:
            return self
        return replace(self, path="/" + prefix.strip("/") + self.path.rstrip("/"))


class CapabilityRegistry:
    """The capabilities of one application, in registration order.

    There is one registry per Flask application (see :func:`install_capabilities`); VOSI
    ``/capabilities`` and every VOResource record are rendered from it, so a capability
    registered once appears in both.
    """

    def __init__(self) -> None:
        self._capabilities: list[Capability] = []

    def add(self, capability: Capability) -> Capability:
        """Register a capability and return it.

        Raises
        ------
        CapabilityError
            If the same standard is already registered at the same path.
        """
        for known in self._capabilities:
            if (known.standard_id, known.path) == (capability.standard_id, capability.path):
                raise CapabilityError(
                    f"capability {capability.standard_id} at {capability.path} registered twice"
                )
        self._capabilities.append(capability)
        return capability

    def for_resource(self, resource: str) -> list[Capability]:
        """The capabilities published in one resource's record."""
        return [c for c in self._capabilities if c.resource == resource]

    def __iter__(self) -> Iterator[Capability]:
        return iter(list(self._capabilities))

    def __len__(self) -> int:
        return len(self._capabilities)


def capability_element(capability: Capability, base_url: str) -> etree._Element:
    """A ``capability`` element (unqualified, as VOResource children are) for ``base_url``."""
    element = etree.Element("capability", nsmap=dict(NSMAP))
    if capability.standard_id is not None:
        element.set("standardID", capability.standard_id)
    if capability.capability_type is not None:
        xsi_type(element, capability.capability_type)
    if capability.description:
        sub(element, "description", capability.description)
    interface = sub(element, "interface", attrib={"version": capability.version})
    xsi_type(interface, capability.interface_type)
    if capability.role is not None:
        interface.set("role", capability.role)
    sub(interface, "accessURL", capability.access_url(base_url), {"use": capability.use})
    if capability.interface_type == "vs:ParamHTTP":
        for query_type in capability.query_types:
            sub(interface, "queryType", query_type)
        if capability.result_type:
            sub(interface, "resultType", capability.result_type)
        for param in capability.params:
            interface.append(param.element())
    for extra in capability.extra:
        element.append(copy.deepcopy(extra))
    return element


def capabilities_document(capabilities: Sequence[Capability], base_url: str) -> etree._Element:
    """The VOSI ``vosi:capabilities`` document listing ``capabilities``."""
    root = etree.Element(
        f"{{{VOSI_CAPABILITIES}}}capabilities", nsmap={"vosi": VOSI_CAPABILITIES, **NSMAP}
    )
    for capability in capabilities:
        root.append(capability_element(capability, base_url))
    return root


def install_capabilities(app: App) -> CapabilityRegistry:
    """Give ``app`` its capability registry; call in the app factory before any blueprint."""
    if _EXTENSION_KEY in app.extensions:
        raise CapabilityError("this application already has a capability registry")
    registry = CapabilityRegistry()
    app.extensions[_EXTENSION_KEY] = registry
    return registry


def capabilities_of(app: App) -> CapabilityRegistry:
    """The capability registry of ``app``.

    Raises
    ------
    CapabilityError
        If the app factory has not called :func:`install_capabilities` yet.
    """
    try:
        registry: CapabilityRegistry = app.extensions[_EXTENSION_KEY]
    except KeyError as exc:
        raise CapabilityError(
            "no capability registry on this app: call registry.install_capabilities(app) "
            "in the app factory before registering blueprints"
        ) from exc
    return registry


def register_capability(blueprint: Blueprint, capability: Capability) -> None:
    """Publish ``capability`` whenever ``blueprint`` is registered on an application.

    The path is taken relative to the blueprint, so a ``url_prefix`` given at registration is
    applied to it.
    """

    def _record(state: BlueprintSetupState) -> None:
        capabilities_of(state.app).add(capability.under(state.url_prefix))

    blueprint.record_once(_record)
