"""A ready WSGI application under gunicorn's production server (imported when ``serve`` runs)."""

from __future__ import annotations

import socket
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.workers.gthread import ThreadWorker

from uws import render_error_votable

__all__ = ["LIMIT_REQUEST_LINE", "DaliErrorWorker", "GunicornServer"]

#: Longest request line gunicorn reads (its maximum; its default is 4094). A GET of the
#: ODA clients is at most about 1,000 characters; longer requests should use POST.
LIMIT_REQUEST_LINE = 8190


class DaliErrorWorker(ThreadWorker):
    """gunicorn's threaded worker, answering an over-long request line (414) or header
    section (431) with a DALI error VOTable instead of gunicorn's HTML page: those requests
    never reach the application, whose errors are all DALI documents."""

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        """Write the DALI answer for the two size limits; gunicorn's own for anything else."""
        if isinstance(exc, LimitRequestLine):
            status = "414 URI Too Long"
            message = f"the request line is longer than {self.cfg.limit_request_line} bytes"
            message += "; send the parameters in a POST body"
        elif isinstance(exc, LimitRequestHeaders):
            status, message = "431 Request Header Fields Too Large", "the headers are too large"
        else:
            super().handle_error(req, client, addr, exc)
            return
        self.log.warning("refused a request from %s: %s", (addr or ("",))[0], status)
        body = render_error_votable(f"UsageError: {message}")
        head = (
            f"HTTP/1.1 {status}\r\nConnection: close\r\n"
            "Content-Type: application/x-votable+xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        try:
            client.sendall(head.encode("latin-1") + body)
        except OSError:
            self.log.debug("could not send the error answer")


class GunicornServer(BaseApplication):
    """Run a ready WSGI application under gunicorn with the given settings.

    Parameters
    ----------
    application
        The WSGI application, already built (gunicorn does not import it).
    options
        Gunicorn settings by name (``bind``, ``workers``, server hooks, ...).
    """

    def __init__(self, application: Any, options: dict[str, Any]) -> None:
        self._application = application
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._application
