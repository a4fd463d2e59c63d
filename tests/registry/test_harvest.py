"""A real harvester (sickle) collects the records over HTTP from a running server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from lxml import etree
from sickle import Sickle
from werkzeug.serving import make_server

from tests.registry.conftest import RegistryApp
from tests.registry.xsd import assert_valid

RI = "http://www.ivoa.net/xml/RegistryInterface/v1.0"


@pytest.fixture
def served(make_registry_app: Callable[..., RegistryApp]) -> Iterator[tuple[str, RegistryApp]]:
    """The registry app on a real HTTP server in a thread, two records per page."""
    # The base URL needs the port, which the server only knows once bound.
    holder: list[RegistryApp] = []
    server = make_server("127.0.0.1", 0, lambda env, start: holder[0].app(env, start))
    base = f"http://127.0.0.1:{server.server_port}"
    app = make_registry_app(page_size=2, base_url=base)
    holder.append(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base, app
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_sickle_harvests_ivo_vor(served: tuple[str, RegistryApp]) -> None:
    base, _ = served
    sickle = Sickle(f"{base}/oai", max_retries=0, timeout=10)
    identify = sickle.Identify()
    assert identify.baseURL == f"{base}/oai"
    records = list(sickle.ListRecords(metadataPrefix="ivo_vor", set="ivo_managed"))
    assert [r.header.identifier for r in records] == [
        "ivo://vo.example.org/svc",
        "ivo://vo.example.org/registry",
        "ivo://vo.example.org",
    ]  # three records over two pages: sickle followed the resumption token
    for record in records:
        assert not record.deleted
        assert "ivo_managed" in record.header.setSpecs
        resource = record.xml.find(f".//{{{RI}}}Resource")
        assert_valid(etree.fromstring(etree.tostring(resource)))
    formats = {f.metadataPrefix for f in sickle.ListMetadataFormats()}
    assert formats == {"ivo_vor", "oai_dc"}
    dc = sickle.GetRecord(identifier="ivo://vo.example.org/svc", metadataPrefix="oai_dc")
    assert dc.metadata["title"] == ["Test coded-mask service"]
