"""The job service describes its parameters: DataLink service descriptors at /async/params and
/sync/params, and VODataService input params in /capabilities, all from the request model."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import requests
from lxml import etree
from pyvo.dal import DALResults
from pyvo.dal.adhoc import AdhocServiceResultsMixin

from processing.instruments import get_instrument, instrument_names
from tests.datalink.conftest import votlint
from tests.registry.xsd import assert_valid as validate_registry
from tests.uws._xsd import validate
from vo_service._request import PARAMETERS, PRODUCT_TYPES, RequestError, parse_request

V = "{http://www.ivoa.net/xml/VOTable/v1.3}"
_BY_NAME = {p.name: p for p in PARAMETERS}


class DescriptorResults(AdhocServiceResultsMixin, DALResults):
    """A DAL result with service descriptors, as pyvo reads SIA or SSA results."""


def _document(live_service: str, endpoint: str, **query: str) -> tuple[bytes, etree._Element]:
    response = requests.get(f"{live_service}/{endpoint}/params", params=query, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/x-votable+xml")
    return response.content, validate(response.content)


def _descriptor(root: etree._Element, resource_id: str) -> dict[str, etree._Element]:
    (resource,) = root.findall(f"{V}RESOURCE[@ID='{resource_id}']")
    assert resource.get("type") == "meta" and resource.get("utype") == "adhoc:service"
    return {p.get("name"): p for p in resource.iterfind(f"{V}GROUP[@name='inputParams']/{V}PARAM")}


@pytest.mark.parametrize("endpoint", ["async", "sync"])
def test_descriptors_carry_what_the_model_declares(
    live_service: str, endpoint: str, tmp_path: Path
) -> None:
    body, root = _document(live_service, endpoint)
    path = tmp_path / "params.vot"
    path.write_bytes(body)
    report = votlint(path)
    assert not report.errors and not report.warnings, report.output
    rows = root.findall(f"{V}RESOURCE[@type='results']/{V}TABLE/{V}DATA/{V}TABLEDATA/{V}TR")
    assert [r[0].text for r in rows] == list(PRODUCT_TYPES)
    for product_type in PRODUCT_TYPES:
        params = _descriptor(root, f"{endpoint}-{product_type}")
        access = root.find(
            f"{V}RESOURCE[@ID='{endpoint}-{product_type}']/{V}PARAM[@name='accessURL']"
        )
        assert access is not None and access.get("value") == f"{live_service}/{endpoint}"
        fixed = params["product_type"]
        assert fixed.get("value") == product_type
        assert [o.get("value") for o in fixed.iterfind(f"{V}VALUES/{V}OPTION")] == [product_type]
        assert ("PHASE" in params) == (endpoint == "async")
        for spec in PARAMETERS:
            assert (spec.name in params) == spec.applies_to(product_type), (product_type, spec)
            if spec.name not in params or spec.name == "product_type":
                continue
            param = params[spec.name]
            assert param.get("datatype") == spec.datatype
            assert (param.get("unit") or "") == spec.unit
            assert (param.get("ucd") or "") == spec.ucd
            assert param.findtext(f"{V}DESCRIPTION").startswith(spec.description)
            values = param.find(f"{V}VALUES")
            if spec.minimum is not None:
                assert float(values.find(f"{V}MIN").get("value")) == spec.minimum
                assert float(values.find(f"{V}MAX").get("value")) == spec.maximum
            if spec.choices:
                options = [o.get("value") for o in values.iterfind(f"{V}OPTION")]
                assert options == list(spec.choices)
            if spec.default is None:
                assert param.get("value") == ""
            else:
                assert param.get("value") == str(spec.default) or float(
                    param.get("value")
                ) == float(spec.default)


def test_values_drawn_from_the_descriptor_alone_validate(live_service: str) -> None:
    """Values inside every VALUES range are accepted; just outside, refused naming the param."""
    _, root = _document(live_service, "async")
    rng = random.Random()
    for product_type in PRODUCT_TYPES:
        params = _descriptor(root, f"async-{product_type}")
        base = [("product_type", product_type), ("src_name", "Crab")]
        for name, param in params.items():
            values = param.find(f"{V}VALUES")
            if name in {"product_type", "PHASE"} or values is None:
                continue
            options = [o.get("value") for o in values.iterfind(f"{V}OPTION")]
            if options:
                for option in options:
                    parse_request([*base, (name, option)])
                with pytest.raises(RequestError) as bad:
                    parse_request([*base, (name, "no-such-option")])
                assert bad.value.param == name
                continue
            low = float(values.find(f"{V}MIN").get("value"))
            top = values.find(f"{V}MAX")
            high = float(top.get("value"))
            exclusive = top.get("inclusive") == "no"
            integer = param.get("datatype") == "int"
            # Pairs travel together: RA with DEC, and a band stays ordered.
            partner = {
                "RA": [("DEC", "0")],
                "DEC": [("RA", "10")],
                "E1_keV": [("E2_keV", "1000")],
                "E2_keV": [("E1_keV", "15")],
            }.get(name, [])
            for _ in range(5):
                value = rng.uniform(low, math.nextafter(high, low) if exclusive else high)
                if name in ("E1_keV", "E2_keV"):
                    # The range is every instrument's together: a band edge goes with the
                    # instrument whose grid holds it, and the other edge at least a channel away.
                    value, band_partner = _band_edge(name, value)
                    text = repr(value)
                    parse_request([*base, (name, text), *band_partner])
                    continue
                text = str(round(value)) if integer else repr(value)
                parse_request([*base, (name, text), *partner])
            outside = [low - 1.0, high + 1.0] + ([high] if exclusive else [])
            for value in outside:
                text = str(int(value)) if integer else repr(value)
                with pytest.raises(RequestError) as bad:
                    parse_request([*base, (name, text), *partner])
                assert bad.value.param == name, (name, text, bad.value)


def _band_edge(name: str, value: float) -> tuple[float, list[tuple[str, str]]]:
    """A band edge moved inside the grid of the instrument that holds it, with the other edge
    and that instrument (so that the band spans at least one channel)."""
    for instrument in instrument_names():
        edges = get_instrument(instrument).channel_edges
        if edges[0] <= value <= edges[-1]:
            break
    if name == "E1_keV":
        value = min(value, edges[-2])
        return value, [("E2_keV", repr(edges[-1])), ("instrument", instrument)]
    value = max(value, edges[1])
    return value, [("E1_keV", repr(edges[0])), ("instrument", instrument)]


def _request_from(resource: object, **given: object) -> tuple[str, dict[str, str]]:
    """A request built from a descriptor as pyvo parses it: the accessURL, each input PARAM's
    value (fixed or default) unless the user gives one, and nothing the descriptor lacks.

    (pyvo's ``DatalinkQuery.from_resource`` cannot be used: it fails on any scalar numeric
    input PARAM with an empty value, such as RA and DEC, which astropy reads as ``None``.)"""
    access = next(p for p in resource.params if p.name == "accessURL")
    (group,) = [g for g in resource.groups if g.name == "inputParams"]
    params = {p.name: p for p in group.entries}
    assert set(given) <= set(params), set(given) - set(params)
    sent = {}
    for name, param in params.items():
        if name in given:
            sent[name] = str(given[name])
        elif param.value is not None and str(param.value) != "":
            value = param.value
            sent[name] = str(int(value)) if param.datatype == "int" else str(value)
    return str(access.value), sent


def test_pyvo_reads_the_descriptor_and_the_request_built_from_it_runs(live_service: str) -> None:
    results = DescriptorResults.from_result_url(f"{live_service}/sync/params?product_type=spectrum")
    assert [str(r["product_type"]) for r in results] == ["spectrum"]
    resource = results.get_adhocservice_by_id("sync-spectrum")
    (group,) = [g for g in resource.groups if g.name == "inputParams"]
    radius = next(p for p in group.entries if p.name == "radius")
    assert (radius.unit, radius.ucd) == ("deg", "pos.angDistance")
    spec = _BY_NAME["radius"]
    assert (float(radius.values.min), float(radius.values.max)) == (spec.minimum, spec.maximum)
    url, sent = _request_from(resource, src_name="Crab", radius=20)
    assert url == f"{live_service}/sync"
    assert sent["product_type"] == "spectrum" and sent["src_name"] == "Crab"
    # The descriptor's defaults went along, and only parameters a spectrum uses.
    assert "E1_keV" not in sent and "detection_threshold" not in sent
    assert int(sent["max_pointings"]) == _BY_NAME["max_pointings"].default
    response = requests.get(url, params=sent, allow_redirects=False, timeout=900)
    assert response.status_code == 303, response.text
    location = response.headers["Location"]
    assert location.endswith(".pha"), location
    assert requests.get(location, timeout=60).content[:6] == b"SIMPLE"

    # The same for a job: the descriptor fixes PHASE=RUN, so the job is queued at creation.
    jobs = DescriptorResults.from_result_url(f"{live_service}/async/params?product_type=image")
    url, fields = _request_from(jobs.get_adhocservice_by_id("async-image"), src_name="Crab")
    assert fields["PHASE"] == "RUN" and url == f"{live_service}/async"
    created = requests.post(url, data=fields, allow_redirects=False, timeout=60)
    assert created.status_code == 303, created.text
    phase = requests.get(created.headers["Location"] + "/phase", timeout=30).text
    assert phase in {"QUEUED", "EXECUTING", "COMPLETED"}


@pytest.mark.parametrize(
    ("query", "param"),
    [("product_type=hologram", "product_type"), ("RA=10", "RA")],
)
def test_bad_descriptor_queries_are_400_naming_the_parameter(
    live_service: str, query: str, param: str
) -> None:
    response = requests.get(f"{live_service}/async/params?{query}", timeout=30)
    assert response.status_code == 400
    root = (
        validate(response.content)
        if b"v1.3" in response.content
        else etree.fromstring(response.content)
    )
    status = root.find(".//{*}INFO[@name='QUERY_STATUS']")
    assert status is not None and status.get("value") == "ERROR"
    assert param in (status.text or "")


def test_capabilities_list_the_parameters(live_service: str) -> None:
    body = requests.get(f"{live_service}/capabilities", timeout=30).content
    root = validate_registry(body)
    for path in ("/async", "/sync"):
        (interface,) = [
            i for i in root.iter("interface") if i.findtext("accessURL") == f"{live_service}{path}"
        ]
        params = {p.findtext("name"): p for p in interface.iterfind("param")}
        assert set(params) == set(_BY_NAME)
        for name, param in params.items():
            spec = _BY_NAME[name]
            assert param.get("std") == "false"
            assert (param.findtext("unit") or "") == spec.unit
            assert (param.findtext("ucd") or "") == spec.ucd
            assert param.findtext("dataType") == spec.datatype
    described = [i.findtext("accessURL") for i in root.iter("interface")]
    assert f"{live_service}/async/params" in described
    assert f"{live_service}/sync/params" in described
