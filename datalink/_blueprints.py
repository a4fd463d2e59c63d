"""Flask blueprints of ``{links}``, SODA sync and SODA async, and their installation.

Handlers are thin: parse (``_params``), call (``_links``, ``_soda``), render
(``_votable``). Errors become responses here and nowhere else: DataLink request errors
are DALI VOTable error documents; SODA errors are ``text/plain`` documents starting with
the SODA error code (SODA 1.0 §5); a SODA request that does not overlap the product is
HTTP 204.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, Response, redirect, request, send_file
from flask.typing import ResponseReturnValue

from datalink._errors import DataLinkError, NoOverlap, SodaError, UsageFault
from datalink._links import DataLinkURLs, LinkBuilder
from datalink._params import RawParameters
from datalink._soda import parse_soda_request, run_soda_task
from datalink._source import ProductNotFoundError, ProductSource
from datalink._votable import DATALINK_MIME, VOTABLE_MIME, error_votable, links_document
from registry import Capability, StandardID, register_capability
from uws import xml_safe

if TYPE_CHECKING:
    from uws import AnonymousClients, IdentityPolicy, UWSService

__all__ = [
    "DATALINK_EXTENSION",
    "DataLinkEndpoints",
    "install_datalink",
    "links_blueprint",
    "soda_async_blueprint",
    "soda_sync_blueprint",
]

log = logging.getLogger(__name__)

#: Key of the :class:`LinkBuilder` factory in ``app.extensions``.
DATALINK_EXTENSION = "datalink"

#: RESPONSEFORMAT values a ``{links}`` request may give (compared without spaces, lower case).
_LINK_FORMATS = {
    "votable",
    "application/x-votable+xml",
    "application/x-votable+xml;content=datalink",
    "application/x-votable+xml;serialization=tabledata",
    "text/xml",
}


def _parameters() -> RawParameters:
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        pairs.extend(request.form.items(multi=True))
    return RawParameters(pairs)


def _base_url(public_url: str | None) -> str:
    return (public_url or request.url_root).rstrip("/")


class DataLinkEndpoints:
    """Where the endpoints are: paths, and the public base URL (else the request's root).

    Parameters
    ----------
    public_url
        The service's public base URL, or ``None`` to use each request's root URL.
    links_path, sync_path, async_path
        Absolute paths of ``{links}``, SODA sync and SODA async (``None``: not mounted).
    """

    def __init__(
        self,
        public_url: str | None,
        links_path: str,
        sync_path: str | None,
        async_path: str | None,
    ) -> None:
        self.public_url = public_url
        self.links_path = links_path
        self.sync_path = sync_path
        self.async_path = async_path

    def urls(self) -> DataLinkURLs:
        """The endpoints' absolute URLs (inside a request when ``public_url`` is ``None``)."""
        base = _base_url(self.public_url)
        return DataLinkURLs(
            base=base,
            links=base + self.links_path,
            soda_sync=None if self.sync_path is None else base + self.sync_path,
            soda_async=None if self.async_path is None else base + self.async_path,
        )


def _links_error(exc: DataLinkError) -> Response:
    return Response(error_votable(exc.document_text()), status=exc.status, mimetype=VOTABLE_MIME)


def links_blueprint(
    source: ProductSource,
    endpoints: DataLinkEndpoints,
    *,
    name: str = "datalink",
    path: str = "/links",
) -> Blueprint:
    """The DataLink 1.1 ``{links}`` endpoint (GET and POST) and the product snippets.

    Parameters
    ----------
    source
        Where products are described.
    endpoints
        The endpoints' paths (made by :func:`install_datalink`).
    name
        Blueprint name.
    path
        Path of ``{links}`` relative to the blueprint.
    """
    bp = Blueprint(name, __name__)
    register_capability(
        bp,
        Capability(
            StandardID.DATALINK,
            path,
            "DataLink 1.1: files, previews, provenance, progenitors and SODA services "
            "of every product.",
            query_types=("GET", "POST"),
            result_type=DATALINK_MIME,
        ),
    )

    @bp.errorhandler(DataLinkError)
    def _error(exc: DataLinkError) -> ResponseReturnValue:
        return _links_error(exc)

    @bp.route(path, methods=["GET", "POST"])
    def links() -> ResponseReturnValue:
        params = _parameters()
        ids = [v.strip() for v in params.getall("ID")]
        if not ids or not all(ids):
            raise UsageFault("missing or empty; give one or more product identifiers", "ID")
        fmt = params.single("RESPONSEFORMAT")
        if fmt is not None and fmt.replace(" ", "").lower() not in _LINK_FORMATS:
            raise UsageFault(f"{fmt!r} is not supported; use votable", "RESPONSEFORMAT")
        maxrec = _maxrec(params.single("MAXREC"))
        builder = LinkBuilder(source, endpoints.urls())
        rows, descriptors, overflow = builder.links(ids, maxrec)
        body = links_document(rows, descriptors, overflow=overflow)
        return Response(body, mimetype=VOTABLE_MIME, content_type=DATALINK_MIME)

    @bp.get(f"{path}/snippet")
    def snippet() -> ResponseReturnValue:
        product_id = _parameters().single("ID")
        if not product_id:
            raise UsageFault("missing; give a product identifier", "ID")
        if xml_safe(product_id) != product_id:
            message = f"NotFoundFault: {ascii(product_id)[:80]}: no product with this ID\n"
            return Response(message, status=404, mimetype="text/plain")
        try:
            product = source.describe(product_id)
        except ProductNotFoundError as exc:
            return Response(f"NotFoundFault: {exc}\n", status=404, mimetype="text/plain")
        if not product.documentation:
            message = f"NotFoundFault: {product_id}: no documentation\n"
            return Response(message, status=404, mimetype="text/plain")
        return Response(product.documentation, mimetype="text/x-python")

    return bp


def _maxrec(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        maxrec = int(value)
    except ValueError:
        raise UsageFault(f"{value!r} is not a whole number", "MAXREC") from None
    if maxrec < 0:
        raise UsageFault("must not be negative", "MAXREC")
    return maxrec


def _soda_error(exc: DataLinkError) -> Response:
    if isinstance(exc, NoOverlap):
        return Response(status=204)
    code = exc.code if isinstance(exc, SodaError) else "UsageError"
    return Response(f"{code}: {exc.message}\n", status=exc.status, mimetype="text/plain")


def soda_sync_blueprint(
    source: ProductSource,
    endpoints: DataLinkEndpoints,
    *,
    name: str = "soda_sync",
    path: str = "/sync",
) -> Blueprint:
    """The SODA 1.0 ``{sync}`` endpoint (GET and POST): one value per parameter.

    A spatial cut answers the cut-out FITS file; a BAND or TIME re-derivation answers
    the new product's ``#this`` file (or a 303 redirect to it when it has no local file).
    """
    bp = Blueprint(name, __name__)
    register_capability(
        bp,
        Capability(
            StandardID.SODA_SYNC,
            path,
            "SODA 1.0 synchronous cut-outs (POS, CIRCLE, POLYGON) and re-derivations "
            "(BAND, TIME) of products.",
            query_types=("GET", "POST"),
            result_type="application/fits",
        ),
    )

    @bp.errorhandler(DataLinkError)
    def _error(exc: DataLinkError) -> ResponseReturnValue:
        return _soda_error(exc)

    @bp.route(path, methods=["GET", "POST"])
    def sync() -> ResponseReturnValue:
        soda = parse_soda_request(_parameters(), multi_valued=False)
        task = next(soda.tasks())
        try:
            outcome = run_soda_task(source, task)
        except ProductNotFoundError as exc:
            return Response(f"UsageError: ID: {exc}\n", status=404, mimetype="text/plain")
        stem = outcome.product.id.rpartition("?")[2] or "product"
        if outcome.data is not None:
            response = Response(outcome.data, mimetype=outcome.content_type)
            response.headers["Content-Disposition"] = f'inline; filename="{stem}-cutout.fits"'
            return response
        if outcome.path is not None:
            return send_file(outcome.path, mimetype=outcome.content_type)
        assert outcome.url is not None  # a #this file has a URL
        return redirect(endpoints.urls().absolute(outcome.url), code=303)

    return bp


def soda_async_blueprint(
    service: UWSService,
    identity: IdentityPolicy,
    *,
    name: str = "soda_async",
    url_prefix: str = "/soda/async",
    public_url: str | None = None,
    clients: AnonymousClients | None = None,
) -> Blueprint:
    """The SODA 1.0 ``{async}`` endpoint: a UWS job list whose kind is :func:`soda_job_kind`.

    Parameters
    ----------
    service
        A :class:`uws.UWSService` whose kind registry holds the SODA job kind (and
        whose store the runner also serves).
    identity
        A :class:`uws.IdentityPolicy`.
    name, url_prefix, public_url, clients
        As for :func:`uws.create_uws_blueprint`.
    """
    from uws import create_uws_blueprint

    bp = create_uws_blueprint(
        service,
        identity,
        name=name,
        url_prefix=url_prefix,
        sync_path=None,
        public_url=public_url,
        clients=clients,
    )
    register_capability(
        bp,
        Capability(
            StandardID.SODA_ASYNC,
            "/" + url_prefix.strip("/"),
            "SODA 1.0 asynchronous cut-outs and re-derivations (UWS 1.1); several "
            "values give one result per combination.",
            use="base",
            query_types=("GET", "POST"),
            result_type="application/xml",
        ),
    )
    return bp


def install_datalink(
    app: Flask,
    source: ProductSource,
    *,
    public_url: str | None = None,
    links_path: str = "/datalink/links",
    sync_path: str | None = "/soda/sync",
    async_path: str | None = None,
) -> DataLinkURLs | None:
    """Mount ``{links}`` and SODA sync on ``app`` and register their capabilities.

    Call after :func:`registry.install_capabilities`. SODA async is a UWS endpoint the
    service mounts itself (:func:`soda_async_blueprint` with :func:`soda_job_kind`);
    pass its path as ``async_path`` so that ``{links}`` offers it.

    Parameters
    ----------
    app
        The application.
    source
        The product source.
    public_url
        The service's public base URL (behind a proxy); the request's root otherwise.
    links_path, sync_path, async_path
        Paths of the endpoints; ``sync_path=None`` mounts no SODA sync.

    Returns
    -------
    DataLinkURLs or None
        The endpoints' URLs when ``public_url`` is known (for embedding descriptors in
        other VOTables with :class:`LinkBuilder`).
    """
    endpoints = DataLinkEndpoints(public_url, links_path, sync_path, async_path)
    app.register_blueprint(links_blueprint(source, endpoints, path=links_path))
    if sync_path is not None:
        app.register_blueprint(soda_sync_blueprint(source, endpoints, path=sync_path))
    app.extensions[DATALINK_EXTENSION] = endpoints
    if public_url is None:
        return None
    return DataLinkURLs(
        base=public_url.rstrip("/"),
        links=public_url.rstrip("/") + links_path,
        soda_sync=None if sync_path is None else public_url.rstrip("/") + sync_path,
        soda_async=None if async_path is None else public_url.rstrip("/") + async_path,
    )
