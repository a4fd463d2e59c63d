"""OAI-PMH 2.0: every verb and every error, each response valid against the official XSDs."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from lxml import etree

from registry import VERBS, OAIRepository, PointingCoverage, Publication, ResourceIdentity
from tests.registry.conftest import BASE_URL, METADATA, RegistryApp
from tests.registry.xsd import assert_valid

OAI = "http://www.openarchives.org/OAI/2.0/"
NS = {"o": OAI, "ri": "http://www.ivoa.net/xml/RegistryInterface/v1.0"}
NS["dc"] = "http://purl.org/dc/elements/1.1/"
NS["oai_dc"] = "http://www.openarchives.org/OAI/2.0/oai_dc/"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
SERVICE, REGISTRY, AUTHORITY = (
    "ivo://vo.example.org/svc",
    "ivo://vo.example.org/registry",
    "ivo://vo.example.org",
)


def oai(app: RegistryApp, method: str = "GET", **params: str | list[str]) -> etree._Element:
    client = app.app.test_client()
    if method == "GET":
        response = client.get("/oai", query_string=params)
    else:
        response = client.post("/oai", data=params)
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    return assert_valid(response.data)


def error_code(root: etree._Element) -> str | None:
    error = root.find("o:error", NS)
    return None if error is None else error.get("code")


def test_identify(registry_app: RegistryApp) -> None:
    root = oai(registry_app, verb="Identify")
    identify = root.find("o:Identify", NS)
    assert identify.findtext("o:baseURL", namespaces=NS) == f"{BASE_URL}/oai"
    assert identify.findtext("o:protocolVersion", namespaces=NS) == "2.0"
    assert identify.findtext("o:adminEmail", namespaces=NS) == "admin@example.org"
    assert identify.findtext("o:earliestDatestamp", namespaces=NS) == "2024-03-01T12:00:00Z"
    assert identify.findtext("o:granularity", namespaces=NS) == "YYYY-MM-DDThh:mm:ssZ"
    resource = identify.find("o:description/ri:Resource", NS)
    assert resource.get(XSI_TYPE) == "vg:Registry"
    assert resource.findtext("identifier") == REGISTRY
    assert root.find("o:request", NS).get("verb") == "Identify"


def test_list_metadata_formats(registry_app: RegistryApp) -> None:
    for params in ({}, {"identifier": SERVICE}):
        root = oai(registry_app, verb="ListMetadataFormats", **params)
        prefixes = root.xpath("//o:metadataPrefix/text()", namespaces=NS)
        assert prefixes == ["ivo_vor", "oai_dc"]


def test_list_sets(registry_app: RegistryApp) -> None:
    root = oai(registry_app, verb="ListSets")
    assert root.xpath("//o:setSpec/text()", namespaces=NS) == ["ivo_managed"]


@pytest.mark.parametrize("prefix", ["ivo_vor", "oai_dc"])
def test_list_identifiers(registry_app: RegistryApp, prefix: str) -> None:
    root = oai(registry_app, verb="ListIdentifiers", metadataPrefix=prefix)
    headers = root.findall("o:ListIdentifiers/o:header", NS)
    assert [h.findtext("o:identifier", namespaces=NS) for h in headers] == [
        SERVICE,
        REGISTRY,
        AUTHORITY,
    ]
    assert all(h.findtext("o:setSpec", namespaces=NS) == "ivo_managed" for h in headers)
    assert root.find("o:ListIdentifiers/o:resumptionToken", NS) is None


def test_list_records_ivo_vor(registry_app: RegistryApp) -> None:
    root = oai(registry_app, verb="ListRecords", metadataPrefix="ivo_vor")
    resources = root.findall("o:ListRecords/o:record/o:metadata/ri:Resource", NS)
    assert [r.get(XSI_TYPE) for r in resources] == [
        "vs:CatalogService",
        "vg:Registry",
        "vg:Authority",
    ]


def test_list_records_oai_dc(registry_app: RegistryApp) -> None:
    root = oai(registry_app, verb="ListRecords", metadataPrefix="oai_dc")
    records = root.findall("o:ListRecords/o:record/o:metadata/oai_dc:dc", NS)
    assert len(records) == 3
    service = records[0]
    assert service.findtext("dc:identifier", namespaces=NS) == SERVICE
    assert service.findtext("dc:title", namespaces=NS) == "Test coded-mask service"
    assert (
        service.findtext("dc:description", namespaces=NS) == "A service & its <records>, for tests."
    )
    assert service.findtext("dc:publisher", namespaces=NS) == "Test publisher"


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("prefix", ["ivo_vor", "oai_dc"])
def test_get_record(registry_app: RegistryApp, method: str, prefix: str) -> None:
    root = oai(registry_app, method, verb="GetRecord", identifier=AUTHORITY, metadataPrefix=prefix)
    header = root.find("o:GetRecord/o:record/o:header", NS)
    assert header.findtext("o:identifier", namespaces=NS) == AUTHORITY
    request = root.find("o:request", NS)
    assert dict(request.attrib) == {
        "verb": "GetRecord",
        "identifier": AUTHORITY,
        "metadataPrefix": prefix,
    }


def _forged(**changes: object) -> str:
    """A resumption token as the server writes them, with some fields changed."""
    payload = {"v": "ListRecords", "m": "ivo_vor", "f": None, "u": None, "s": None, "o": 1}
    raw = json.dumps({**payload, **changes}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


ERRORS: list[tuple[dict[str, str | list[str]], str]] = [
    ({}, "badVerb"),
    ({"verb": "ListAllTheThings"}, "badVerb"),
    ({"verb": ["Identify", "ListSets"]}, "badVerb"),
    ({"verb": "Identify", "set": "ivo_managed"}, "badArgument"),
    ({"verb": "ListRecords"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": ["ivo_vor", "oai_dc"]}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "ivo_vor", "from": "yesterday"}, "badArgument"),
    (
        {"verb": "ListRecords", "metadataPrefix": "ivo_vor", "from": "2024-03-01T12:00:00"},
        "badArgument",
    ),
    (
        {
            "verb": "ListRecords",
            "metadataPrefix": "ivo_vor",
            "from": "2024-01-01",
            "until": "2025-01-01T00:00:00Z",
        },
        "badArgument",
    ),
    (
        {
            "verb": "ListRecords",
            "metadataPrefix": "ivo_vor",
            "from": "2025-01-01",
            "until": "2024-01-01",
        },
        "badArgument",
    ),
    ({"verb": "ListRecords", "resumptionToken": "x", "metadataPrefix": "ivo_vor"}, "badArgument"),
    ({"verb": "GetRecord", "identifier": SERVICE}, "badArgument"),
    (
        {"verb": "ListIdentifiers", "metadataPrefix": "ivo_vor", "identifier": SERVICE},
        "badArgument",
    ),
    ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
    (
        {"verb": "GetRecord", "identifier": SERVICE, "metadataPrefix": "marc21"},
        "cannotDisseminateFormat",
    ),
    (
        {"verb": "GetRecord", "identifier": "ivo://other/x", "metadataPrefix": "ivo_vor"},
        "idDoesNotExist",
    ),
    ({"verb": "ListMetadataFormats", "identifier": "ivo://other/x"}, "idDoesNotExist"),
    ({"verb": "ListRecords", "metadataPrefix": "ivo_vor", "from": "2030-01-01"}, "noRecordsMatch"),
    (
        {"verb": "ListIdentifiers", "metadataPrefix": "ivo_vor", "until": "2020-01-01"},
        "noRecordsMatch",
    ),
    (
        {"verb": "ListRecords", "metadataPrefix": "ivo_vor", "set": "ivo_elsewhere"},
        "noRecordsMatch",
    ),
    ({"verb": "ListRecords", "resumptionToken": "not-a-token"}, "badResumptionToken"),
    ({"verb": "ListIdentifiers", "resumptionToken": "e30"}, "badResumptionToken"),
    ({"verb": "ListSets", "resumptionToken": "anything"}, "badResumptionToken"),
    ({"verb": "ListRecords", "resumptionToken": _forged(m="marc21")}, "badResumptionToken"),
    ({"verb": "ListRecords", "resumptionToken": _forged(f="soon")}, "badResumptionToken"),
    ({"verb": "ListRecords", "resumptionToken": _forged(o=99)}, "badResumptionToken"),
]


@pytest.mark.parametrize(
    ("params", "code"), ERRORS, ids=[f"{c}-{i}" for i, (_, c) in enumerate(ERRORS)]
)
def test_errors(registry_app: RegistryApp, params: dict[str, str | list[str]], code: str) -> None:
    root = oai(registry_app, **params)
    assert error_code(root) == code
    assert root.findtext("o:error", namespaces=NS)  # a message saying why
    request = root.find("o:request", NS)
    assert request.text == f"{BASE_URL}/oai"
    if code in ("badVerb", "badArgument"):
        assert dict(request.attrib) == {}  # OAI-PMH 3.6: no echo of a malformed request
    else:
        assert request.get("verb") == params["verb"]


def test_every_error_code_is_exercised() -> None:
    assert {code for _, code in ERRORS} == {
        "badArgument",
        "badVerb",
        "cannotDisseminateFormat",
        "idDoesNotExist",
        "noRecordsMatch",
        "badResumptionToken",
    }
    assert set(VERBS) == {
        "Identify",
        "ListMetadataFormats",
        "ListSets",
        "ListIdentifiers",
        "ListRecords",
        "GetRecord",
    }


def _two_epochs(app: RegistryApp) -> None:
    """Records stamped 2024-03-01T12:00; then the service record changes on 2024-03-03."""
    app.publication.records()
    app.clock.advance(days=2)
    app.coverage.coverage = PointingCoverage.of([10.0], [10.0], 8.0)
    app.publication.records()


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ({"from": "2024-03-02"}, [SERVICE]),
        ({"from": "2024-03-03T12:00:00Z"}, [SERVICE]),
        ({"from": "2024-03-03T12:00:01Z"}, None),
        ({"until": "2024-03-01"}, [REGISTRY, AUTHORITY]),
        ({"until": "2024-03-01T12:00:00Z"}, [REGISTRY, AUTHORITY]),
        ({"until": "2024-03-01T11:59:59Z"}, None),
        ({"from": "2024-03-01", "until": "2024-03-03"}, [SERVICE, REGISTRY, AUTHORITY]),
    ],
)
def test_from_until(
    registry_app: RegistryApp, window: dict[str, str], expected: list[str] | None
) -> None:
    _two_epochs(registry_app)
    root = oai(registry_app, verb="ListIdentifiers", metadataPrefix="ivo_vor", **window)
    if expected is None:
        assert error_code(root) == "noRecordsMatch"
    else:
        assert root.xpath("//o:header/o:identifier/text()", namespaces=NS) == expected


@pytest.mark.parametrize("verb", ["ListIdentifiers", "ListRecords"])
def test_resumption_tokens(make_registry_app: Callable[..., RegistryApp], verb: str) -> None:
    app = make_registry_app(page_size=1)
    params: dict[str, str] = {"verb": verb, "metadataPrefix": "ivo_vor"}
    seen, cursors = [], []
    while True:
        root = oai(app, **params)
        assert error_code(root) is None
        seen += root.xpath("//o:header/o:identifier/text()", namespaces=NS)
        token = root.find(f"o:{verb}/o:resumptionToken", NS)
        assert token.get("completeListSize") == "3"
        cursors.append(int(token.get("cursor")))
        if not token.text:
            break
        params = {"verb": verb, "resumptionToken": token.text}
    assert seen == [SERVICE, REGISTRY, AUTHORITY]
    assert cursors == [0, 1, 2]
    # A token belongs to its verb, and one pointing past the end is refused.
    other = "ListRecords" if verb == "ListIdentifiers" else "ListIdentifiers"
    first = oai(app, verb=verb, metadataPrefix="ivo_vor").find(f"o:{verb}/o:resumptionToken", NS)
    assert error_code(oai(app, verb=other, resumptionToken=first.text)) == "badResumptionToken"


def test_harvest_capability_advertises_page_size(
    make_registry_app: Callable[..., RegistryApp],
) -> None:
    app = make_registry_app(page_size=7)
    registry = app.publication.registry_record()
    assert registry.findtext("capability/maxRecords") == "7"


def test_a_renamed_service_leaves_a_deleted_record(registry_app: RegistryApp) -> None:
    """Harvesters must learn that the old identifier is gone (deletedRecord 'transient')."""
    old = registry_app.publication
    old.stamps.stamp("ivo://another.authority/x", "digest", registry_app.clock())
    old.records()
    registry_app.clock.advance(days=1)
    renamed = Publication(
        ResourceIdentity("vo.example.org", "svc2", BASE_URL),
        METADATA,
        old.capabilities,
        old.tables,
        old.coverage,
        old.stamps,
        cache_seconds=0,
        clock=registry_app.clock,
    )
    repository = OAIRepository(
        renamed, f"{BASE_URL}/oai", ["a@example.org"], clock=registry_app.clock
    )
    listing = assert_valid(
        repository.respond({"verb": ["ListRecords"], "metadataPrefix": ["ivo_vor"]})
    )
    records = listing.findall("o:ListRecords/o:record", NS)
    deleted = [r for r in records if r.find("o:header", NS).get("status") == "deleted"]
    assert [r.findtext("o:header/o:identifier", namespaces=NS) for r in deleted] == [SERVICE]
    assert deleted[0].find("o:metadata", NS) is None
    assert deleted[0].findtext("o:header/o:datestamp", namespaces=NS) == "2024-03-02T12:00:00Z"
    assert len(records) == 4  # svc2, registry, authority, and the deleted svc
    got = assert_valid(
        repository.respond(
            {"verb": ["GetRecord"], "identifier": [SERVICE], "metadataPrefix": ["oai_dc"]}
        )
    )
    assert got.find("o:GetRecord/o:record/o:header", NS).get("status") == "deleted"
    identify = assert_valid(repository.respond({"verb": ["Identify"]}))
    assert identify.findtext("o:Identify/o:deletedRecord", namespaces=NS) == "transient"


def test_forged_tokens_above_differ_from_a_good_one_only_in_the_changed_field(
    registry_app: RegistryApp,
) -> None:
    root = oai(registry_app, verb="ListRecords", resumptionToken=_forged())
    assert error_code(root) is None
    assert len(root.findall("o:ListRecords/o:record", NS)) == 2  # records 2 and 3 of 3
