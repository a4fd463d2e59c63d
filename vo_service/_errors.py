"""Error documents for what no protocol blueprint answers itself.

Each protocol answers its own errors (UWS and DataLink: DALI VOTables; SODA sync: text/plain
with the SODA code; OAI-PMH: its ``error`` element). What reaches the application instead is
answered here, never with Flask's HTML pages:

* HTTP errors raised outside a view: unknown paths (an encoded slash in a job id), methods a
  path does not take, bodies over ``max_request_bytes`` (413, before the body is read);
* the database not being reachable: 503 with ``Retry-After``, whichever endpoint asked it;
* anything unexpected: 500 with a short DALI document (the traceback goes to the log only).

A path segment holding a character XML forbids (NUL among them, which PostgreSQL refuses)
names nothing: such a request is a 404 before any view looks it up.

The document is a DALI VOTable error, except under SODA sync, whose errors are text/plain.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, abort, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from uws import DATABASE_DOWN, render_error_votable, xml_safe
from vo_service.settings import Settings

__all__ = ["RETRY_AFTER_S", "install_error_documents"]

log = logging.getLogger(__name__)

#: Seconds a client is asked to wait when the database is unavailable.
RETRY_AFTER_S = 10
_VOTABLE = "application/x-votable+xml"
#: Blueprints whose errors are SODA text/plain documents (SODA 1.0 §5).
_PLAIN_TEXT_BLUEPRINTS = frozenset({"soda_sync"})


def _document(status: int, code: str, message: str) -> Response:
    if request.blueprint in _PLAIN_TEXT_BLUEPRINTS:
        return Response(f"{code}: {message}\n", status=status, mimetype="text/plain")
    return Response(render_error_votable(f"{code}: {message}"), status=status, mimetype=_VOTABLE)


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    status = exc.code or 500
    if status >= 500:
        # An unexpected exception (Flask has logged its traceback): say nothing about it.
        return _document(status, "Error", "internal error; the operators have the details")
    response = _document(status, "UsageError", exc.description or exc.name)
    original = exc.get_response()
    for header in ("Allow", "WWW-Authenticate", "Retry-After"):
        if header in original.headers:
            response.headers[header] = original.headers[header]
    return response


def _database_down(exc: Exception) -> ResponseReturnValue:
    # The driver's message names the host and the database: the log keeps it, the client not.
    log.error("database unavailable while answering %s: %s", request.path, exc)
    response = _document(503, "ServiceUnavailable", "the database is unavailable; retry later")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _refuse_impossible_paths() -> None:
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and xml_safe(value) != value:
            abort(404, description="no such resource (the path holds a control character)")


def install_error_documents(app: Flask, settings: Settings) -> None:
    """Bound request bodies and answer every unhandled error with a protocol document."""
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    # Flask 3.1 also caps one form field (500 kB by default): a user catalog may be larger.
    app.config["MAX_FORM_MEMORY_SIZE"] = settings.max_request_bytes
    app.before_request(_refuse_impossible_paths)
    app.register_error_handler(HTTPException, _http_error)
    for error in DATABASE_DOWN:
        app.register_error_handler(error, _database_down)
