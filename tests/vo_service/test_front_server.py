"""The front server of `vo-service serve` keeps answering while clients hold connections open
idle or send their headers slowly (issue 17 defect 3), and answers what it cannot parse with a
DALI document."""

from __future__ import annotations

import socket
import time

import requests

from tests.uws._xsd import validate

VOTABLE = "application/x-votable+xml"


def _address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


def _raw(base: str, payload: bytes) -> tuple[int, str, bytes]:
    with socket.create_connection(_address(base), timeout=30) as sock:
        sock.sendall(payload)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (x.split(": ", 1) for x in lines[1:] if ": " in x)}
    return int(lines[0].split()[1]), headers.get("content-type", ""), body


def test_idle_and_slow_clients_do_not_block_the_service(live_service: str) -> None:
    held = []
    try:
        for _ in range(200):  # connected, nothing sent
            held.append(socket.create_connection(_address(live_service), timeout=30))
        for _ in range(16):  # slowloris: a request line and one header, then nothing
            sock = socket.create_connection(_address(live_service), timeout=30)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            held.append(sock)
        time.sleep(0.5)
        # Far more requests than request threads, one after the other: each is answered
        # (the timeout is a hang guard, not a speed requirement).
        for _ in range(40):
            assert requests.get(f"{live_service}/health", timeout=20).status_code == 200
        created = requests.post(
            f"{live_service}/async",
            data={"src_name": "Crab", "radius": "20"},
            allow_redirects=False,
            timeout=20,
        )
        assert created.status_code == 303, created.text
    finally:
        for sock in held:
            sock.close()


def test_unparsable_requests_get_dali_documents(live_service: str) -> None:
    host = live_service.removeprefix("http://")
    cases = [
        (b"NONSENSE\r\n\r\n", 400),
        (
            f"GET /health HTTP/1.1\r\nHost: {host}\r\nX-Big: {'y' * 70000}\r\n\r\n".encode(),
            431,
        ),
    ]
    for payload, status in cases:
        got, content_type, body = _raw(live_service, payload)
        assert got == status, (payload[:40], got, body[:200])
        assert content_type == VOTABLE
        validate(body)
