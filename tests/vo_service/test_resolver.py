"""Source names: Sesame when it answers, the archive's catalog otherwise, never a wait per request.

The real Sesame client (astropy's) is pointed at local stand-ins: a server that answers as Sesame
does, one that never answers, and a closed port. Nothing here needs the internet.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from astropy.coordinates.name_resolve import sesame_url

from processing.simulator import SimulationResult
from vo_service._resolver import NameResolver, UnresolvedName, sesame

# What Sesame's text output (``nph-sesame/SNV?Crab``) carries for a SIMBAD hit: the ``%J`` line
# is the J2000 position that the client reads.
FOUND = """# Crab\t#Q1
#=S=Simbad (via url):    1
%@ 1
%I.0 M   1
%C.0 SNR
%J 083.63308 +22.01450 = 05:34:31.94 +22:00:52.2
#====Done====
"""
NOT_FOUND = """# Nowhere X-9\t#Q2
#! *** Nothing found *** \t# Simbad
#! *** Nothing found *** \t# NED
#! *** Nothing found *** \t# VizieR
#====Done====
"""


@dataclass
class FakeSesame:
    """A local HTTP server that answers every query with ``answer`` (or never, when ``None``)."""

    url: str
    answer: str | None = FOUND
    queries: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_sesame() -> Iterator[FakeSesame]:
    fake = FakeSesame(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.queries.append(self.path)
            if fake.answer is None:
                fake.release.wait(30)  # a firewall that drops the request: no answer at all
                return
            body = fake.answer.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_port}/cgi-bin/nph-sesame/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sesame_url.set([fake.url]):
            yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> Iterator[str]:
    """A Sesame URL on a local port nothing listens on: the connection is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/cgi-bin/nph-sesame/"
    with sesame_url.set([url]):
        yield url


class CountingNetwork:
    """The real Sesame client, counting its calls and the timeouts it was given."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def __call__(self, name: str, timeout: float) -> tuple[float, float]:
        self.timeouts.append(timeout)
        return sesame(name, timeout)


def test_sesame_answer_is_used_and_remembered(
    tiny_archive: SimulationResult, fake_sesame: FakeSesame
) -> None:
    resolver = NameResolver(tiny_archive.root)
    found = resolver.resolve("Crab")
    assert (found.resolver, found.ra, found.dec) == ("sesame", 83.63308, 22.01450)
    # One request asks SIMBAD, then NED, then VizieR.
    assert fake_sesame.queries == ["/cgi-bin/nph-sesame/SNV?Crab"]
    assert resolver.resolve(" crab ") == found
    assert len(fake_sesame.queries) == 1


def test_name_sesame_does_not_know_keeps_the_network_on(
    tiny_archive: SimulationResult, fake_sesame: FakeSesame
) -> None:
    fake_sesame.answer = NOT_FOUND
    resolver = NameResolver(tiny_archive.root)
    local = resolver.resolve("4U 1700-377")
    assert local.resolver == "local catalog" and local.name == "4U 1700-377"
    with pytest.raises(UnresolvedName, match="Nowhere X-9"):
        resolver.resolve("Nowhere X-9")
    # Sesame answered, so the network is not switched off: the next name asks it again.
    fake_sesame.answer = FOUND
    assert resolver.resolve("Crab").resolver == "sesame"
    assert len(fake_sesame.queries) == 3


def test_refused_connection_falls_back_and_switches_the_network_off(
    tiny_archive: SimulationResult, closed_port_url: str
) -> None:
    network = CountingNetwork()
    resolver = NameResolver(tiny_archive.root, timeout=2.5, network=network)
    crab = resolver.resolve("Crab")
    assert crab.resolver == "local catalog"
    assert (crab.ra, crab.dec) == pytest.approx((83.633, 22.014), abs=0.01)
    assert resolver.resolve("cyg x-1").name == "Cyg X-1"
    assert resolver.resolve("4u 1700-377").name == "4U 1700-377"
    # Only the first name tried the network, with the configured timeout; the others went
    # straight to the local catalog.
    assert network.timeouts == [2.5]


@pytest.mark.timeout(60)
def test_silent_server_costs_one_timeout_then_none(
    tiny_archive: SimulationResult, fake_sesame: FakeSesame
) -> None:
    """A Sesame that never answers (a firewall dropping packets) is given up after the timeout."""
    fake_sesame.answer = None
    resolver = NameResolver(tiny_archive.root, timeout=0.2)
    assert resolver.resolve("Cyg X-1").resolver == "local catalog"
    assert resolver.resolve("GX 5-1").resolver == "local catalog"
    assert len(fake_sesame.queries) == 1


def test_without_network_only_the_local_catalog_answers(tiny_archive: SimulationResult) -> None:
    network = CountingNetwork()
    resolver = NameResolver(tiny_archive.root, use_network=False, network=network)
    assert resolver.resolve("V404 Cyg").resolver == "local catalog"
    with pytest.raises(UnresolvedName, match="unknown source name"):
        resolver.resolve("Nowhere X-9")
    with pytest.raises(UnresolvedName, match="empty"):
        resolver.resolve("  ")
    assert network.timeouts == []
