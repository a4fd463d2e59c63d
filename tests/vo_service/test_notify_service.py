"""Notifications through the service: a token's e-mail and notify defaults, a product job's
e-mail (local aiosmtpd server) and signed webhook (local receiver) with the product links."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from processing.simulator import SimulationResult
from tests.vo_service.conftest import in_process_service
from vo_service._users import build_tokens

SECRET = "a-webhook-secret-for-the-test"


@pytest.fixture
def mail() -> Iterator[tuple[int, list[Any]]]:
    from aiosmtpd.controller import Controller

    messages: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, messages
    controller.stop()


@pytest.fixture
def hook() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    calls: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            calls.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", calls
    server.shutdown()


def test_product_job_mails_and_calls_back_with_its_links(
    tmp_path: Path, tiny_archive: SimulationResult, mail, hook
) -> None:
    port, messages = mail
    url, calls = hook
    with in_process_service(
        tmp_path,
        tiny_archive,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="archive@example.org",
        notify_webhook_secret=SECRET,
        notify_backoff_seconds=0.2,
    ) as service:
        tokens = build_tokens(service.context.settings, service.context.engine)
        assert tokens is not None
        token, _ = tokens.issue(
            "alice",
            lifetime=dt.timedelta(hours=1),
            email="alice@example.org",
            notify=["email", f"webhook:{url}"],
        )
        client = service.app.test_client()
        created = client.post(
            "/async",
            data={"product_type": "spectrum", "src_name": "Crab", "radius": "10", "PHASE": "RUN"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 303, created.get_data(as_text=True)
        job_id = created.headers["Location"].rsplit("/", 1)[-1]
        deadline = time.monotonic() + 300
        while (len(messages) < 1 or len(calls) < 1) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert messages and calls, "no notification arrived"
        document = client.get(f"/async/{job_id}", headers={"Authorization": f"Bearer {token}"})
        assert b"COMPLETED" in document.data
    recipients, message = messages[0]
    assert recipients == ["alice@example.org"]
    assert message["Subject"] == f"[isgri] job {job_id} COMPLETED"
    body = message.get_payload(decode=True).decode()
    base = service.base_url
    assert f"{base}/async/{job_id}" in body
    assert f"{base}/products/" in body and f"{base}/datalink/links?ID=" in body
    headers, payload = calls[0]
    parts = dict(p.split("=", 1) for p in headers["X-UWS-Signature"].split(","))
    expected = hmac.new(
        SECRET.encode(), f"{parts['t']}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    summary = json.loads(payload)
    assert (summary["job_id"], summary["phase"], summary["owner"]) == (job_id, "COMPLETED", "alice")
    hrefs = [r["href"] for r in summary["results"]]
    assert any("/datalink/links?ID=" in h for h in hrefs)
    assert all(h in body for h in hrefs)
