"""The request model: defaults, normalisation, and an error naming the parameter for each mistake."""

from __future__ import annotations

import shutil
from pathlib import Path

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


@pytest.mark.parametrize("edge", ["minimum", "maximum"])
def test_the_analysis_units_accept_every_value_the_model_accepts(
    tiny_archive: object, edge: str, tmp_path: Path
) -> None:
    """The request model and the analysis units share their bounds: a request at the edge of
    every range validates here and builds its analysis graph (no 'internal error' at run time)."""
    from processing.archive import ArchiveIndex
    from processing.instrument import load_instrument
    from processing.isgri import ImageRequest, build_image_graph
    from vo_service.db import make_engine, upgrade_database

    root = tmp_path / "archive"
    shutil.copytree(tiny_archive.root, root)  # type: ignore[attr-defined]
    engine = make_engine(f"sqlite:///{tmp_path / 'index.sqlite'}")
    upgrade_database(engine)
    index = ArchiveIndex(engine, root)
    index.ingest()
    instrument = load_instrument(root)
    specs = {p.name: p for p in PARAMETERS}
    pick = {
        name: getattr(specs[name], edge) for name in ("radius", "detection_threshold", "E2_keV")
    }
    request = parse_request(
        [
            ("scw_list", ",".join(s.scw_id for s in index.all())),
            ("radius", repr(pick["radius"])),
            ("detection_threshold", repr(pick["detection_threshold"])),
            ("E1_keV", "30"),
            ("E2_keV", repr(max(pick["E2_keV"], 40.0))),
        ]
    )
    build_image_graph(
        index,
        instrument,
        ImageRequest(
            ra=83.63,
            dec=22.01,
            radius_deg=request.radius_deg,
            e_min=request.e1_kev,
            e_max=request.e2_kev,
            scw_ids=request.scw_list,
            threshold_scw=request.detection_threshold,
            threshold_mosaic=request.detection_threshold,
        ),
    )
    with pytest.raises(RequestError) as below:
        parse_request([("src_name", "Crab"), ("radius", "0")])
    assert below.value.param == "radius"
