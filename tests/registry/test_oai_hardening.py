"""OAI-PMH against a hostile client (issue 17, defects 7 and 12): every answer is an OAI-PMH
document valid against the official XSD, whatever the arguments hold."""

from __future__ import annotations

import base64
import json

import pytest
from lxml import etree

from tests.registry.conftest import BASE_URL, RegistryApp
from tests.registry.test_oai import NS, SERVICE, error_code
from tests.registry.xsd import assert_valid


def _answer(app: RegistryApp, method: str = "GET", **params: str) -> etree._Element:
    client = app.app.test_client()
    if method == "GET":
        response = client.get("/oai", query_string=params)
    else:
        response = client.post("/oai", data=params)
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    return assert_valid(response.data)


def _token(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


FORGED_TOKENS = [
    _token([1, 2, 3]),
    _token("ListRecords"),
    _token({"v": "ListRecords", "m": ["ivo_vor"], "f": None, "u": None, "s": None, "o": 0}),
    _token({"v": "ListRecords", "m": "ivo_vor", "f": 20240101, "u": None, "s": None, "o": 0}),
    _token({"v": "ListRecords", "m": "ivo_vor", "f": None, "u": None, "s": None, "o": 1.5}),
    _token({"v": "ListRecords", "m": "ivo_vor", "f": None, "u": None, "s": None, "o": True}),
    _token({"v": "ListRecords", "m": "ivo_vor", "f": None, "u": None, "s": None, "o": 10**30}),
    _token({"v": "ListRecords", "m": "ivo_vor", "f": "2024-1-1", "u": None, "s": None, "o": 0}),
    base64.urlsafe_b64encode(b"[" * 100_000).decode(),
    base64.urlsafe_b64encode(b'{"o": 1' + b"0" * 5000 + b"}").decode(),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "é",
]


@pytest.mark.parametrize("token", FORGED_TOKENS, ids=range(len(FORGED_TOKENS)))
def test_forged_resumption_tokens_are_bad_resumption_token(
    registry_app: RegistryApp, token: str
) -> None:
    root = _answer(registry_app, verb="ListRecords", resumptionToken=token)
    assert error_code(root) == "badResumptionToken"


CONTROL = ["\x01", "a\x00b", "\x1b", "\ufffe"]


@pytest.mark.parametrize("value", CONTROL)
@pytest.mark.parametrize(
    "argument", ["identifier", "metadataPrefix", "from", "until", "set", "resumptionToken", "x"]
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_control_characters_in_any_argument_are_bad_argument(
    registry_app: RegistryApp, method: str, argument: str, value: str
) -> None:
    root = _answer(registry_app, method, verb="ListRecords", **{argument: value})
    assert error_code(root) == "badArgument"
    assert dict(root.find("o:request", NS).attrib) == {}


@pytest.mark.parametrize("value", CONTROL)
def test_control_characters_in_the_verb_are_bad_verb(registry_app: RegistryApp, value: str) -> None:
    assert error_code(_answer(registry_app, verb=f"Identify{value}")) == "badVerb"


@pytest.mark.parametrize(
    ("params", "code", "echoed"),
    [
        # An unknown identifier need not be a URI: it is not repeated in <request>.
        (
            {"verb": "GetRecord", "identifier": "not a uri", "metadataPrefix": "ivo_vor"},
            "idDoesNotExist",
            {"verb": "GetRecord", "metadataPrefix": "ivo_vor"},
        ),
        (
            {"verb": "GetRecord", "identifier": SERVICE, "metadataPrefix": "no such/format"},
            "cannotDisseminateFormat",
            {"verb": "GetRecord", "identifier": SERVICE},
        ),
        (
            {"verb": "ListRecords", "metadataPrefix": "ivo_vor", "set": "a set with spaces"},
            "noRecordsMatch",
            {"verb": "ListRecords", "metadataPrefix": "ivo_vor"},
        ),
        (
            {"verb": "ListRecords", "metadataPrefix": "<marc>"},
            "cannotDisseminateFormat",
            {"verb": "ListRecords"},
        ),
    ],
)
def test_error_responses_echo_only_schema_valid_arguments(
    registry_app: RegistryApp, params: dict[str, str], code: str, echoed: dict[str, str]
) -> None:
    root = _answer(registry_app, **params)
    assert error_code(root) == code
    request = root.find("o:request", NS)
    assert request.text == f"{BASE_URL}/oai"
    assert dict(request.attrib) == echoed


@pytest.mark.parametrize(
    "stamp", ["2024-1-1", "2024-01-01T00:00:00", "2024-01-01T00:00Z", "+2024-01-01"]
)
def test_datestamps_need_every_digit(registry_app: RegistryApp, stamp: str) -> None:
    root = _answer(
        registry_app, verb="ListIdentifiers", metadataPrefix="ivo_vor", **{"from": stamp}
    )
    assert error_code(root) == "badArgument"
