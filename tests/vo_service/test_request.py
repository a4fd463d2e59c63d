"""The request model: defaults, normalisation, and an error naming the parameter for each mistake."""

from __future__ import annotations

import pytest

from vo_service._request import PARAMETERS, ProductRequest, RequestError, parse_request


def _parse(**params: str) -> ProductRequest:
    return parse_request(params.items())


def test_defaults_and_normalisation() -> None:
    req = _parse(src_name="Crab")
    assert req.product_type == "image"
    assert (req.e1_kev, req.e2_kev) == (20.0, 40.0)
    assert req.radius_deg == 15.0 and req.max_pointings == 50
    same = parse_request(
        [("RA", "83.633"), ("dec", "22.0145"), ("E1_KEV", "20"), ("e2_kev", "40.0")]
    )
    assert same.ra == 83.633 and same.dec == 22.0145
    assert same.given_names["e1_kev"] == "E1_KEV"


@pytest.mark.parametrize(
    ("fmt", "t1", "t2"),
    [
        ("isot", "2004-03-01T00:00:00", "2004-03-02T00:00:00"),
        ("mjd", "53065.0", "53066.0"),
        ("ijd", "1521.0", "1522.0"),
    ],
)
def test_time_formats_agree(fmt: str, t1: str, t2: str) -> None:
    req = _parse(src_name="Crab", T1=t1, T2=t2, T_format=fmt)
    assert req.t1_ijd == pytest.approx(1521.0, abs=1e-9)
    assert req.t2_ijd == pytest.approx(1522.0, abs=1e-9)


def test_scw_list_is_normalised() -> None:
    req = _parse(scw_list="035200020010, 035200010010.001 035200020010")
    assert req.scw_list == ("035200010010.001", "035200020010.001")
    assert _parse(product_type="LC", scw_list="035200010010").product_type == "light_curve"


@pytest.mark.parametrize(
    ("params", "param", "reason"),
    [
        ({"src_name": "Crab", "E1_keV": "50", "E2_keV": "40"}, "E2_keV", "must be above"),
        ({"src_name": "Crab", "E1_keV": "abc"}, "E1_keV", "not a number"),
        ({"src_name": "Crab", "E2_keV": "5000"}, "E2_keV", "above the maximum"),
        ({"src_name": "Crab", "product_type": "movie"}, "product_type", "not one of"),
        ({"src_name": "Crab", "T_format": "jd"}, "T_format", "not one of"),
        ({"src_name": "Crab", "T1": "yesterday"}, "T1", "not a time"),
        (
            {"src_name": "Crab", "T1": "2005-01-01T00:00:00", "T2": "2004-01-01T00:00:00"},
            "T2",
            "after",
        ),
        ({"RA": "83.6"}, "DEC", "together"),
        ({"RA": "400", "DEC": "0"}, "RA", "above the maximum"),
        ({"scw_list": "crab"}, "scw_list", "not science-window ids"),
        ({"src_name": "Crab", "radius": "-1"}, "radius", "below the minimum"),
        ({"src_name": "Crab", "max_pointings": "2.5"}, "max_pointings", "not an integer"),
        ({"src_name": "Crab", "bogus": "1"}, "bogus", "unknown parameter"),
        ({"src_name": "Crab", "osa_version": "10.2"}, "osa_version", "only 'current'"),
        ({}, "src_name", "give src_name"),
    ],
)
def test_errors_name_the_parameter(params: dict[str, str], param: str, reason: str) -> None:
    with pytest.raises(RequestError) as info:
        _parse(**params)
    assert info.value.param == param
    assert reason in info.value.message


def test_error_uses_the_client_spelling() -> None:
    with pytest.raises(RequestError) as info:
        parse_request([("src_name", "Crab"), ("e1_KEV", "x")])
    assert info.value.param == "e1_KEV"


def test_every_parameter_is_described() -> None:
    for spec in PARAMETERS:
        assert spec.description and spec.ucd, spec.name
        if spec.datatype == "double":
            assert spec.minimum is not None or spec.name in {"RA", "DEC"}
