"""Flask blueprints: VOSI (capabilities, availability, tables) and the OAI-PMH endpoint.

Handlers are thin: they take what the request says, ask the publication, the availability
monitor or the OAI repository, and serialise the element they get back. Each blueprint
registers its own capabilities, so mounting it is enough for it to appear in VOSI and in
the records.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from lxml import etree

from registry._availability import AvailabilityMonitor
from registry._capabilities import (
    REGISTRY_RESOURCE,
    Capability,
    CapabilityError,
    StandardID,
    capabilities_document,
    capabilities_of,
    register_capability,
)
from registry._oai import OAIRepository
from registry._publication import Publication
from registry._tables import tables_document
from registry._xml import document_bytes

__all__ = ["oai_blueprint", "vosi_blueprint"]

_XML = "text/xml; charset=utf-8"


def _xml_response(element: etree._Element) -> Response:
    return Response(document_bytes(element), mimetype="text/xml", content_type=_XML)


def _same_registry(publication: Publication) -> Callable[[BlueprintSetupState], None]:
    """A setup hook refusing a publication built on another app's capability registry."""

    def _check(state: BlueprintSetupState) -> None:
        if capabilities_of(state.app) is not publication.capabilities:
            raise CapabilityError(
                "the publication must use this app's capability registry "
                "(registry.capabilities_of(app))"
            )

    return _check


def vosi_blueprint(publication: Publication, availability: AvailabilityMonitor) -> Blueprint:
    """VOSI 1.1 ``/capabilities``, ``/availability`` and ``/tables``.

    Parameters
    ----------
    publication
        Supplies the capability registry, the public base URL and the tables.
    availability
        The monitor holding the service's checks.
    """
    blueprint = Blueprint("vosi", __name__)
    blueprint.record_once(_same_registry(publication))

    @blueprint.get("/capabilities")
    def capabilities() -> Response:
        base_url = publication.identity.base_url
        return _xml_response(capabilities_document(list(capabilities_of(current_app)), base_url))

    @blueprint.get("/availability")
    def availability_() -> Response:
        return _xml_response(availability.report().document())

    @blueprint.get("/tables")
    def tables() -> Response:
        return _xml_response(tables_document(publication.tables))

    for standard_id, path, description in (
        (StandardID.VOSI_CAPABILITIES, "/capabilities", "The endpoints of this service."),
        (StandardID.VOSI_AVAILABILITY, "/availability", "Whether the service is up, and why not."),
        (StandardID.VOSI_TABLES, "/tables", "The tables this service describes and serves."),
    ):
        register_capability(
            blueprint,
            Capability(standard_id, path, description, result_type="application/xml"),
        )
    return blueprint


def oai_blueprint(repository: OAIRepository, path: str = "/oai") -> Blueprint:
    """The OAI-PMH 2.0 endpoint at ``path`` (GET and POST), published as ``vg:Harvest``."""
    blueprint = Blueprint("oai", __name__)
    blueprint.record_once(_same_registry(repository.publication))

    @blueprint.route(path, methods=["GET", "POST"])
    def oai() -> Response:
        # OAI-PMH 2.0 section 3.1.1: GET carries the arguments in the query string, POST in a
        # form-encoded body.
        source = request.form if request.method == "POST" else request.args
        return _xml_response(repository.respond(source.to_dict(flat=False)))

    max_records = etree.Element("maxRecords")
    max_records.text = str(repository.page_size)
    register_capability(
        blueprint,
        Capability(
            StandardID.REGISTRY,
            path,
            "OAI-PMH harvesting of the resources published under this authority.",
            interface_type="vg:OAIHTTP",
            use="base",
            version="1.0",
            capability_type="vg:Harvest",
            extra=(max_records,),
            resource=REGISTRY_RESOURCE,
        ),
    )
    return blueprint
