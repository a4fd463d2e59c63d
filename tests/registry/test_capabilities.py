"""One capability registry feeds VOSI /capabilities; it matches what is actually mounted."""

from __future__ import annotations

import io
import warnings

import pytest
from flask import Blueprint, Flask
from lxml import etree
from pyvo.io.vosi import parse_capabilities

from registry import (
    REGISTRY_RESOURCE,
    AvailabilityMonitor,
    Capability,
    CapabilityError,
    CapabilityRegistry,
    StandardID,
    capabilities_of,
    capability_element,
    install_capabilities,
    register_capability,
    vosi_blueprint,
)
from tests.registry.conftest import BASE_URL, RegistryApp
from tests.registry.xsd import assert_valid

#: Endpoints that are pages for humans or infrastructure, not protocol endpoints.
#: Pages for people (the landing page, the web front end and its assets), not protocol roots.
EXEMPT_BLUEPRINTS = {"pages", "web", "web_vendor"}
EXEMPT_ENDPOINTS = {"static"}


def mounted_mismatches(app: Flask) -> list[str]:
    """Walk the URL map; report capabilities that are not served and roots not published."""
    adapter = app.url_map.bind("localhost")
    paths = [c.path for c in capabilities_of(app)]
    problems = []
    for path in paths:
        try:
            adapter.match(path, method="GET")
        except Exception:  # NotFound or MethodNotAllowed: nothing serves GET there
            try:
                adapter.match(path, method="POST")
            except Exception:
                problems.append(f"capability {path} is not mounted")
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        if rule.endpoint in EXEMPT_ENDPOINTS or blueprint in EXEMPT_BLUEPRINTS:
            continue
        if rule.arguments:
            continue  # a child resource (a job, a table) is reached through its root
        if not any(rule.rule == p or rule.rule.startswith(p.rstrip("/") + "/") for p in paths):
            problems.append(f"endpoint {rule.rule} ({rule.endpoint}) has no capability")
    return problems


def test_service_capabilities_match_mounted_endpoints(service_app: Flask) -> None:
    assert len(capabilities_of(service_app)) >= 4
    assert mounted_mismatches(service_app) == []


def test_url_map_walk_catches_an_unpublished_blueprint(service_app: Flask) -> None:
    """The check above can fail: a protocol blueprint without a capability is reported."""
    hidden = Blueprint("hidden", __name__)
    hidden.add_url_rule("/secret", "secret", lambda: "x")
    service_app.register_blueprint(hidden)
    assert mounted_mismatches(service_app) == ["endpoint /secret (hidden.secret) has no capability"]


def test_url_map_walk_catches_a_capability_without_endpoint(service_app: Flask) -> None:
    capabilities_of(service_app).add(Capability(StandardID.DATALINK, "/links"))
    assert mounted_mismatches(service_app) == ["capability /links is not mounted"]


def test_a_blueprint_registers_with_one_call_and_its_prefix(service_app: Flask) -> None:
    """How UWS, DataLink and SODA publish themselves."""
    uws = Blueprint("uws_demo", __name__)
    uws.add_url_rule("/async", "jobs", lambda: "jobs", methods=["GET", "POST"])
    uws.add_url_rule("/async/<job>", "job", lambda job: job)
    register_capability(
        uws,
        Capability(StandardID.UWS, "/async", "Jobs.", use="base", query_types=("GET", "POST")),
    )
    service_app.register_blueprint(uws, url_prefix="/products")
    assert mounted_mismatches(service_app) == []
    response = service_app.test_client().get("/capabilities")
    root = assert_valid(response.data)
    urls = root.xpath("//capability[@standardID=$id]/interface/accessURL/text()", id=StandardID.UWS)
    assert "https://vo.example.org/isgri/products/async" in urls


def test_capabilities_document_is_valid_and_complete(registry_app: RegistryApp) -> None:
    response = registry_app.app.test_client().get("/capabilities")
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    root = assert_valid(response.data)
    assert root.tag == "{http://www.ivoa.net/xml/VOSICapabilities/v1.0}capabilities"
    listed = {
        (c.get("standardID"), c.findtext("interface/accessURL")) for c in root.findall("capability")
    }
    assert listed == {
        (StandardID.VOSI_CAPABILITIES, f"{BASE_URL}/capabilities"),
        (StandardID.VOSI_AVAILABILITY, f"{BASE_URL}/availability"),
        (StandardID.VOSI_TABLES, f"{BASE_URL}/tables"),
        (StandardID.REGISTRY, f"{BASE_URL}/oai"),
    }
    harvest = root.xpath("capability[@standardID=$id]", id=StandardID.REGISTRY)[0]
    assert harvest.findtext("maxRecords") == "100"
    xsi = "{http://www.w3.org/2001/XMLSchema-instance}type"
    assert harvest.get(xsi) == "vg:Harvest"
    assert harvest.find("interface").get(xsi) == "vg:OAIHTTP"


def test_pyvo_lists_the_capabilities(service_app: Flask) -> None:
    data = service_app.test_client().get("/capabilities").data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pyvo warns on anything it finds non-standard ...
        # ... except that it has no VORegistry types (vg:Harvest, vg:OAIHTTP) at all.
        # so it also calls vg:Harvest's maxRecords unknown. The XSD validation covers those.
        warnings.filterwarnings("ignore", message="Unknown xsi:type vg:")
        # Nor the SCS registration type (cs:ConeSearch, with maxSR, verbosity, testQuery).
        warnings.filterwarnings("ignore", message="Unknown xsi:type cs:")
        warnings.filterwarnings("ignore", message=".*Unknown element (maxSR|verbosity|testQuery)")
        warnings.filterwarnings("ignore", message=".*Unknown element maxRecords")
        # pyvo 1.9 (W17) also flags the second queryType that VODataService allows
        # (maxOccurs=2: GET and POST); the XSD validation covers it.
        warnings.filterwarnings("ignore", message=".*W17")
        # pyvo's ParamHTTP model has no VODataService input ``param`` (the job endpoints
        # describe their parameters with it); the XSD validation covers those.
        warnings.filterwarnings(
            "ignore", message=r".*Unknown element (param|name|description|unit|ucd|dataType)$"
        )
        capabilities = parse_capabilities(io.BytesIO(data))
    by_id = {c.standardid: c for c in capabilities}
    assert set(by_id) >= {
        StandardID.VOSI_CAPABILITIES,
        StandardID.VOSI_AVAILABILITY,
        StandardID.VOSI_TABLES,
        StandardID.REGISTRY,
        StandardID.UWS,
        StandardID.DATALINK,
        StandardID.SODA_SYNC,
        StandardID.SODA_ASYNC,
        "ivo://ivoa.net/std/TAP",
        "ivo://ivoa.net/std/ConeSearch",
        "ivo://ivoa.net/std/SIA#query-2.0",
    }
    assert [lang.name for lang in by_id["ivo://ivoa.net/std/TAP"].languages] == ["ADQL"]
    tables = by_id[StandardID.VOSI_TABLES]
    assert tables.interfaces[0].accessurls[0].content == "https://vo.example.org/isgri/tables"


def test_registry_refuses_duplicates_and_bad_paths() -> None:
    registry = CapabilityRegistry()
    registry.add(Capability(StandardID.DATALINK, "/links"))
    with pytest.raises(CapabilityError, match="twice"):
        registry.add(Capability(StandardID.DATALINK, "/links"))
    with pytest.raises(CapabilityError, match="plain absolute path"):
        Capability(StandardID.DATALINK, "links")
    with pytest.raises(CapabilityError, match="ivo://"):
        Capability("http://example.org/std", "/x")


def test_capabilities_of_needs_the_app_factory() -> None:
    with pytest.raises(CapabilityError, match="install_capabilities"):
        capabilities_of(Flask("bare"))


def test_resources_split_the_capabilities(registry_app: RegistryApp) -> None:
    """The OAI endpoint belongs to the registry record, VOSI to the service record."""
    capabilities = registry_app.publication.capabilities
    assert [c.standard_id for c in capabilities.for_resource(REGISTRY_RESOURCE)] == [
        StandardID.REGISTRY
    ]
    service = registry_app.publication.service_record()
    assert StandardID.REGISTRY not in service.xpath("capability/@standardID")
    assert len(service.findall("capability")) == 3
    registry = registry_app.publication.registry_record()
    assert registry.xpath("capability/@standardID") == [StandardID.REGISTRY]


def test_extra_elements_are_copied_not_moved() -> None:
    extra = etree.Element("maxRecords")
    extra.text = "5"
    capability = Capability(
        StandardID.REGISTRY, "/oai", extra=(extra,), interface_type="vg:OAIHTTP"
    )
    first = capability_element(capability, BASE_URL)
    second = capability_element(capability, BASE_URL)
    assert first.findtext("maxRecords") == second.findtext("maxRecords") == "5"


def test_publication_must_share_the_apps_registry(registry_app: RegistryApp) -> None:
    """VOSI and the records cannot drift apart: one registry per app, used by both."""
    other = Flask("other")
    install_capabilities(other)
    with pytest.raises(CapabilityError, match="this app's capability registry"):
        other.register_blueprint(vosi_blueprint(registry_app.publication, AvailabilityMonitor()))
