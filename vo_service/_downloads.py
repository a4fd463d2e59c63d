"""Download of product files: correct content types and lengths, range requests, store only."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, abort, current_app, jsonify, request, send_file
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from processing.instruments import get_instrument, instrument_names
from vo_service._store import ProductStore

__all__ = ["downloads", "links_url", "product_url"]

downloads = Blueprint("downloads", __name__)


def product_url(base_url: str, product_hash: str, name: str | None = None) -> str:
    """Public URL of a product (or one of its files)."""
    url = f"{base_url}/products/{product_hash}"
    return f"{url}/{name}" if name else url


def links_url(base_url: str, product_id: str) -> str:
    """The DataLink ``{links}`` URL of a product's IVOA identifier."""
    return f"{base_url}/datalink/links?ID={quote(product_id, safe='')}"


@downloads.errorhandler(HTTPException)
def _error(exc: HTTPException) -> ResponseReturnValue:
    """Errors of the download endpoints as a small JSON document, not an HTML page."""
    response = jsonify(error=exc.name, message=exc.description)
    response.status_code = exc.code or 500
    for key, value in exc.get_headers():  # e.g. Content-Range of a 416
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def _byte_range(header: str, size: int) -> str | None:
    """The one range of ``header`` Werkzeug should serve, or ``None`` to serve the whole file.

    RFC 9110 §14: a suffix longer than the file means the whole file, and a server may ignore
    a Range it does not support (several ranges, or one it cannot parse); an unsatisfiable
    single range (first byte past the end) is kept so that it is answered 416.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "" or int(last) == 0:
            return None
        return "bytes=0-" if int(last) >= size else f"bytes=-{last}"
    if last and int(last) < int(first):
        return None
    return f"bytes={first}-{last}"


def _store() -> ProductStore:
    store: ProductStore = current_app.extensions["vo_service"].store
    return store


@downloads.get("/products/<product_hash>")
def product(product_hash: str) -> ResponseReturnValue:
    """A product's description: type, files with URLs, metadata."""
    stored = _store().get(product_hash)
    if stored is None:
        abort(404, description=f"no product {product_hash}")
    base = current_app.extensions["vo_service"].settings.public_base_url
    return jsonify(
        id=f"{current_app.extensions['vo_service'].settings.ivoid}?{stored.hash}",
        hash=stored.hash,
        product_type=stored.product_type,
        created=stored.created_at.isoformat(),
        files=[{**f.__dict__, "url": product_url(base, stored.hash, f.name)} for f in stored.files],
        metadata=stored.metadata,
        progenitors=list(stored.progenitors),
    )


@downloads.get("/products/<product_hash>/<name>")
def product_file(product_hash: str, name: str) -> ResponseReturnValue:
    """A product file; only files the store lists are served (nothing outside the store)."""
    store = _store()
    path = store.file_path(product_hash, name)
    if path is None:
        abort(404, description=f"no file {name!r} in product {product_hash}")
    stored = store.get(product_hash)
    assert stored is not None
    if store.damaged(stored, [name]):
        response = jsonify(
            error="Service Unavailable",
            message=f"file {name!r} of product {product_hash} failed its integrity check and "
            "is not served; submitting the request that made it again rebuilds it",
        )
        response.status_code = 503
        return response
    content_type = next(f.content_type for f in stored.files if f.name == name)
    if "HTTP_RANGE" in request.environ:
        served = _byte_range(request.environ["HTTP_RANGE"], path.stat().st_size)
        if served is None:
            del request.environ["HTTP_RANGE"]
        else:
            request.environ["HTTP_RANGE"] = served
    return send_file(
        path, mimetype=content_type, conditional=True, download_name=name, max_age=86400
    )


@downloads.get("/archive/scw/<scw_id>/<name>")
def scw_events(scw_id: str, name: str) -> ResponseReturnValue:
    """A camera's event file of a science window (the progenitor of the products made from it):
    ``name`` is the event file name of a registered instrument."""
    if name not in {get_instrument(i).layout.events_file for i in instrument_names()}:
        abort(404, description=f"no such file: {name!r} is no instrument's event file")
    archive = current_app.extensions["vo_service"].archive
    try:
        found = archive.get([scw_id])
    except (ValueError, LookupError):
        abort(404, description=f"no science window {scw_id}")
    path = archive.events_path(found[0]).with_name(name)
    if not path.is_file():
        abort(404, description=f"science window {scw_id} has no file {name}")
    return send_file(path, mimetype="application/fits", conditional=True, download_name=name)
