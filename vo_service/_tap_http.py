"""TAP 1.1 at ``/tap``: ``sync``, ``async`` (a UWS job list), ``tables``, ``capabilities``,
``examples``; and the TAP capability (TAPRegExt) in the one capability registry."""

from __future__ import annotations

import logging
import threading

from flask import Blueprint, Flask, Response
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from registry import (
    Capability,
    StandardID,
    capabilities_document,
    capabilities_of,
    document_bytes,
    tables_document,
)
from uws import (
    AnonymousClients,
    IdentityPolicy,
    JobStore,
    ParameterError,
    create_uws_blueprint,
)
from vo_service._dal_params import dali_error, request_params
from vo_service._tap_adql import AdqlError
from vo_service._tap_capability import tap_capability
from vo_service._tap_db import ensure_tap_schema, set_service_info
from vo_service._tap_examples import examples_document
from vo_service._tap_jobs import LIMITS, check_query, parse_tap_options, upload_folder
from vo_service._tap_output import output_format, render_result
from vo_service._tap_query import run_query
from vo_service._tap_tables import PUBLISHED_SCHEMAS, TAP_SCHEMA
from vo_service._tap_upload import keep_request_uploads, request_uploads
from vo_service.settings import Settings

__all__ = ["install_tap", "tap_blueprint"]

log = logging.getLogger(__name__)


def tap_blueprint(engine: Engine, base_url: str) -> Blueprint:
    """The ``/tap`` endpoints (``/tap/async`` is mounted by :func:`install_tap`)."""
    bp = Blueprint("tap", __name__, url_prefix="/tap")

    @bp.route("/sync", methods=["GET", "POST"])
    def sync() -> Response:
        try:
            params = request_params()
            tap = parse_tap_options(params)
            query = check_query(tap["lang"], tap["query"])
            uploads = request_uploads(params, LIMITS)
            result = run_query(engine, query, maxrec=tap["maxrec"], limits=LIMITS, uploads=uploads)
        except ParameterError as exc:
            return dali_error(exc)
        except AdqlError as exc:
            return dali_error(ParameterError("QUERY", str(exc)))
        fmt = output_format(tap["format"])
        return Response(render_result(result, fmt, base_url), mimetype=fmt.mime)

    @bp.get("/tables")
    def tables() -> Response:
        document = tables_document((*PUBLISHED_SCHEMAS, TAP_SCHEMA))
        return Response(document_bytes(document), mimetype="application/xml")

    @bp.get("/capabilities")
    def capabilities() -> Response:
        listed = [
            tap_capability("/tap"),
            Capability(StandardID.VOSI_CAPABILITIES, "/tap/capabilities"),
            Capability(StandardID.VOSI_TABLES, "/tap/tables", version="1.1"),
            Capability(StandardID.VOSI_AVAILABILITY, "/availability"),
            Capability(
                "ivo://ivoa.net/std/DALI#examples",
                "/tap/examples",
                interface_type="vr:WebBrowser",
                role=None,
            ),
        ]
        document = capabilities_document(listed, base_url)
        return Response(document_bytes(document), mimetype="application/xml")

    @bp.get("/examples")
    def examples() -> Response:
        return Response(examples_document(), mimetype="application/xhtml+xml")

    @bp.get("")
    def home() -> Response:
        return Response(
            "TAP 1.1 service: /tap/sync, /tap/async, /tap/tables, /tap/capabilities, "
            "/tap/examples\n",
            mimetype="text/plain",
        )

    return bp


def install_tap(
    app: Flask,
    settings: Settings,
    engine: Engine,
    store: JobStore,
    identity: IdentityPolicy,
    clients: AnonymousClients | None = None,
) -> None:
    """Mount ``/tap`` (``async`` as a UWS job list of kind ``tap``), ``/scs`` and ``/sia`` and
    register their capabilities (VOSI ``/capabilities`` and the registry record)."""
    from vo_service._jobs import build_service, tap_kinds

    base_url = settings.public_base_url
    recorded = threading.Event()

    def record_service_info() -> None:
        # The science windows' ObsCore rows are built with the identifier and public URL, and
        # TAP_SCHEMA follows the declarations of this version.
        if recorded.is_set():
            return
        try:
            with engine.begin() as connection:
                set_service_info(connection, settings.ivoid, base_url)
                if ensure_tap_schema(connection):
                    log.info("TAP_SCHEMA rewritten from the table declarations")
        except SQLAlchemyError as exc:  # the database is down: the next request tries again
            log.warning("TAP: cannot record the service identity yet: %s", exc)
            return
        recorded.set()

    record_service_info()
    bp = tap_blueprint(engine, base_url)
    bp.before_request(record_service_info)
    app.register_blueprint(bp)
    service = build_service(settings, store, tap_kinds(settings))
    async_bp = create_uws_blueprint(
        service,
        identity,
        name="tap_async",
        url_prefix="/tap/async",
        sync_path=None,
        public_url=base_url,
        clients=clients,
    )
    folder = upload_folder(settings)
    # Kept uploads outlive the longest a job may wait (its destruction time at most).
    max_age_s = settings.max_destruction_days * 86400.0
    async_bp.before_request(lambda: keep_request_uploads(folder, LIMITS, max_age_s))
    app.register_blueprint(async_bp)
    capabilities_of(app).add(tap_capability("/tap"))
    from vo_service._scs import install_scs
    from vo_service._sia import install_sia

    # The simple protocols query the same tables through the same translation.
    install_scs(app, engine, base_url)
    install_sia(app, engine, base_url)
