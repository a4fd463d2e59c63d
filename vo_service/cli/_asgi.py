"""The front server of ``vo-service serve``: uvicorn's event loop reads every request, and only
complete requests reach the Flask application, in a pool of threads (imported when ``serve``
runs).

A threaded WSGI server (gunicorn's gthread worker) gives a thread to a connection as soon as it
is readable, so a few idle or slow-header ("slowloris") clients held every thread and blocked
the service (issue 17). Here an idle or slow connection costs a coroutine, not a thread.
Over-long request lines (414), header sections (431) and malformed requests (400) are answered
with a DALI error VOTable, as the application answers everything else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import h11
import uvicorn
from a2wsgi import WSGIMiddleware
from uvicorn.protocols.http.h11_impl import H11Protocol

from uws import render_error_votable

__all__ = ["LIMIT_HEADER_BYTES", "LIMIT_REQUEST_LINE", "DaliH11Protocol", "serve_wsgi"]

log = logging.getLogger(__name__)

#: Longest request line read (an ODA client's GET is at most about 1,000 characters; longer
#: requests should use POST).
LIMIT_REQUEST_LINE = 8190
#: Longest request head (request line and headers) read.
LIMIT_HEADER_BYTES = 65536

_REASONS = {400: "Bad Request", 414: "URI Too Long", 431: "Request Header Fields Too Large"}


class DaliH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with DALI answers to requests it cannot parse."""

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            # The head of the next request, as h11 will see it (checked before parsing: h11
            # bounds only heads that arrive in pieces).
            head = self.conn.trailing_data[0] + data
            line_end = head.find(b"\n")
            head_end = head.find(b"\r\n\r\n")
            if (line_end < 0 and len(head) > LIMIT_REQUEST_LINE) or line_end > LIMIT_REQUEST_LINE:
                self._refuse(
                    414,
                    f"the request line is longer than {LIMIT_REQUEST_LINE} bytes; "
                    "send the parameters in a POST body",
                )
                return
            if (head_end < 0 and len(head) > LIMIT_HEADER_BYTES) or head_end > LIMIT_HEADER_BYTES:
                self._refuse(431, f"the request head is longer than {LIMIT_HEADER_BYTES} bytes")
                return
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        pending = self.conn.trailing_data[0]
        if len(pending) > LIMIT_HEADER_BYTES:
            end = pending.find(b"\n")
            if end < 0 or end > LIMIT_REQUEST_LINE:
                self._refuse(414, f"the request line is longer than {LIMIT_REQUEST_LINE} bytes")
            else:
                self._refuse(431, f"the request headers are longer than {LIMIT_HEADER_BYTES} bytes")
        else:
            self._refuse(400, "the request is not valid HTTP/1.1")

    def _refuse(self, status: int, message: str) -> None:
        client = (self.client or ("",))[0]
        log.warning("refused a request from %s: %d %s", client, status, _REASONS[status])
        body = render_error_votable(f"UsageError: {message}")
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nConnection: close\r\n"
            "Content-Type: application/x-votable+xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + body)
        self.transport.close()


def serve_wsgi(
    application: Any,
    *,
    host: str,
    port: int,
    threads: int,
    max_connections: int = 2048,
    on_start: Callable[[], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> None:
    """Serve a WSGI application until SIGINT/SIGTERM.

    Parameters
    ----------
    threads
        Threads running the application (requests beyond wait in the event loop).
    max_connections
        Open connections and requests above which new ones are answered 503.
    on_start, on_stop
        Called before serving and after the server stopped (the embedded job runner).
    """
    config = uvicorn.Config(
        WSGIMiddleware(application, workers=threads),
        host=host,
        port=port,
        http=DaliH11Protocol,
        lifespan="off",
        interface="asgi3",
        timeout_keep_alive=5,
        limit_concurrency=max_connections,
        h11_max_incomplete_event_size=LIMIT_HEADER_BYTES,
        server_header=False,
    )
    server = uvicorn.Server(config)
    if on_start is not None:
        on_start()
    try:
        server.run()
    finally:
        if on_stop is not None:
            on_stop()
