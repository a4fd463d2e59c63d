"""The service's edges against a hostile client and a failing database (issue 17, defects 5
and 15): bodies over the limit, unknown paths and odd methods, an unreachable database, and
request lines as long as the front server allows, each answered with the protocol's own document."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask

from processing.simulator import SimulationResult
from tests.uws._helpers import error_message
from tests.uws._xsd import validate
from vo_service._context import ServiceContext
from vo_service.app import create_app
from vo_service.cli._asgi import LIMIT_REQUEST_LINE
from vo_service.settings import Settings

VOTABLE = "application/x-votable+xml"


@pytest.fixture
def service(
    tmp_path: Path, tiny_archive: SimulationResult
) -> Iterator[tuple[Flask, ServiceContext]]:
    shutil.copytree(tiny_archive.root, tmp_path / "archive")
    settings = Settings.load(
        data_dir=tmp_path / "var",
        archive_path=tmp_path / "archive",
        executor="inline",
        network_resolvers=False,
        max_request_bytes=4096,
    )
    context = ServiceContext.build(settings)
    context.archive.ingest()
    yield create_app(settings, context), context
    context.engine.dispose()


def _dali_error(response: object, status: int) -> str:
    assert response.status_code == status, response.data  # type: ignore[attr-defined]
    assert response.mimetype == VOTABLE  # type: ignore[attr-defined]
    body: bytes = response.data  # type: ignore[attr-defined]
    validate(body)
    return error_message(body)


@pytest.mark.parametrize("path", ["/async", "/sync", "/datalink/links", "/oai", "/soda/async"])
def test_a_body_over_the_limit_is_413_unread(
    service: tuple[Flask, ServiceContext], path: str
) -> None:
    app, _ = service
    body = "src_name=" + "x" * 5000
    response = app.test_client().post(
        path, data=body, content_type="application/x-www-form-urlencoded"
    )
    assert "UsageError" in _dali_error(response, 413)


def test_the_body_limit_is_a_setting_with_a_16_mib_default() -> None:
    assert Settings.load().max_request_bytes == 16 * 1024**2


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/async/a%2Fb", 404),
        ("GET", "/async/abc/results/a%2F..%2F..%2Fetc", 404),
        ("GET", "/nowhere", 404),
        ("GET", "/datalink/links/x", 404),
        ("PUT", "/async", 405),
        ("PATCH", "/oai", 405),
        ("DELETE", "/capabilities", 405),
        ("GET", "/products/ab%00cd", 404),
        ("GET", "/archive/scw/%00/isgri_events.fits.gz", 404),
    ],
)
def test_unrouted_requests_get_dali_documents(
    service: tuple[Flask, ServiceContext], method: str, path: str, status: int
) -> None:
    app, _ = service
    response = app.test_client().open(path, method=method)
    assert response.status_code == status
    assert b"<html" not in response.data.lower()
    if response.mimetype == VOTABLE:
        _dali_error(response, status)
    else:  # the download endpoints answer JSON, as they always did
        assert response.mimetype == "application/json"


def test_database_down_is_503_everywhere_it_is_asked(
    service: tuple[Flask, ServiceContext],
) -> None:
    app, context = service
    client = app.test_client()
    database = Path(context.settings.resolved_database_url.removeprefix("sqlite:///"))
    context.engine.dispose()
    for leftover in database.parent.glob(database.name + "*"):
        leftover.unlink()
    database.mkdir()  # a folder where the file was: SQLite cannot open it
    product = f"{context.settings.ivoid}?{'ab' * 32}"
    for method, path, data in [
        ("GET", "/async", None),
        ("POST", "/async", {"src_name": "Crab"}),
        ("GET", "/async/0123456789abcdef0123", None),
        ("POST", "/sync", {"src_name": "Crab"}),
        ("GET", "/soda/async", None),
        ("GET", "/datalink/links", {"ID": product}),
        ("GET", "/tap/sync", {"LANG": "ADQL", "QUERY": "SELECT TOP 1 * FROM isgri.scw"}),
        ("POST", "/tap/async", {"LANG": "ADQL", "QUERY": "SELECT TOP 1 * FROM isgri.scw"}),
        ("GET", "/scs", {"RA": "83.6", "DEC": "22", "SR": "1"}),
        ("GET", "/sia/query", {"POS": "CIRCLE 83.6 22 1"}),
    ]:
        kwargs = {"query_string": data} if method == "GET" else {"data": data}
        response = client.open(path, method=method, **kwargs)
        message = _dali_error(response, 503)
        assert message.startswith("ServiceUnavailable:"), (path, message)
        assert response.headers["Retry-After"].isdigit()
        assert str(database) not in message and "sqlite" not in message
    soda = client.get("/soda/sync", query_string={"ID": product, "CIRCLE": "83.6 22 1"})
    assert soda.status_code == 503 and soda.mimetype == "text/plain"
    assert soda.get_data(as_text=True).startswith("ServiceUnavailable:")
    assert soda.headers["Retry-After"].isdigit()


# Through the front server of vo-service serve ---
def _raw_request(base: str, target: str) -> tuple[int, dict[str, str], bytes]:
    """Send one GET with a request line of any length; (status, headers, body)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def test_long_get_requests_are_served_and_longer_ones_get_a_dali_414(live_service: str) -> None:
    # A GET longer than common server defaults (4094) is served.
    padding = "x" * 6000
    status, _, body = _raw_request(live_service, f"/async?LAST=1&padding={padding}")
    assert status == 200, body[:300]
    status, headers, body = _raw_request(
        live_service, "/async?x=" + "y" * (LIMIT_REQUEST_LINE + 10)
    )
    assert status == 414
    assert headers["content-type"] == VOTABLE
    validate(body)
    assert "POST" in error_message(body)


def test_encoded_slashes_through_the_front_server_are_dali_404(live_service: str) -> None:
    for path in ("/async/a%2Fb", "/async/a%2F..%2F..%2Fcapabilities", "/soda/async/%2F"):
        response = requests.get(live_service + path, timeout=30)
        assert response.status_code == 404, path
        assert response.headers["Content-Type"].startswith(VOTABLE)
        validate(response.content)


def test_an_instrument_the_archive_holds_no_data_of_is_a_400(
    service: tuple[Flask, ServiceContext],
) -> None:
    """JEM-X asked of an ISGRI-only archive (no JEM-X events, no JEM-X IC files): refused as a
    request whose selection is empty, never a 500 from the missing calibration."""
    app, context = service
    client = app.test_client()
    for path in ("/async", "/sync"):
        response = client.post(path, data={"instrument": "jemx", "src_name": "Crab"})
        message = _dali_error(response, 400)
        assert "science window" in message, message
    assert context.archive.count() > 0  # the archive does hold ISGRI data
