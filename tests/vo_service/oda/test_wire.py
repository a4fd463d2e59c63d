"""The oda_api wire format read and translated into our request (no server)."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from oda_api.data_products import ApiCatalog

from vo_service.oda import TokenError, TokenPolicy, read_call, translate
from vo_service.oda._catalog import OdaCatalogError, sky_model_from_oda
from vo_service.oda._wire import OdaParameterError

SECRET = "a-shared-secret-of-32-bytes-or-more"
BASE = {"instrument": ["isgri"], "product_type": ["isgri_image"], "query_type": ["Real"]}


def _call(**params: list[str]) -> dict[str, str]:
    call = read_call({**BASE, **params}.items())
    return dict(translate(call).pairs)


def test_scw_list_repeated_or_comma_separated_is_one_list() -> None:
    repeated = _call(scw_list=["004200010010.001", "004200020010.001"])
    joined = _call(scw_list=["004200010010.001,004200020010.001"])
    assert repeated["scw_list"] == joined["scw_list"] == "004200010010.001,004200020010.001"


def test_nul_means_the_default_and_control_arguments_are_not_forwarded() -> None:
    call = read_call(
        {
            **BASE,
            "RA": ["83.6"],
            "DEC": ["22.0"],
            "T1": ["\x00"],
            "api": ["True"],
            "off_line": ["False"],
            "oda_api_version": ["1.3.5"],
            "session_id": ["ABCDEFGHIJKLMNOP"],
            "query_status": ["new"],
        }.items()
    )
    assert call.params["T1"] is None and call.session_id == "ABCDEFGHIJKLMNOP"
    pairs = dict(translate(call).pairs)
    assert pairs == {"product_type": "image", "instrument": "isgri", "RA": "83.6", "DEC": "22.0"}


def test_oda_values_map_onto_ours_with_a_note() -> None:
    call = read_call(
        {
            **BASE,
            "product_type": ["isgri_lc"],
            "time_bin": ["0.01"],
            "time_bin_format": ["jd"],
            "osa_version": ["OSA11.0"],
            "integral_data_rights": ["public"],
            "detection_threshold": ["5"],
        }.items()
    )
    translation = translate(call)
    pairs = dict(translation.pairs)
    assert translation.product_type == "light_curve"
    assert float(pairs["time_bin"]) == pytest.approx(864.0)
    assert "osa_version" not in pairs and "detection_threshold" not in pairs
    assert any("OSA11.0" in n for n in translation.notes)
    assert any("detection_threshold" in n for n in translation.notes)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"instrument": ["spi"]}, "instrument"),
        ({"product_type": ["jemx_image"]}, "product"),
        ({"query_type": ["Dummy"]}, "product_type"),
        ({"time_bin_format": ["hours"]}, "time_bin_format"),
        ({"integral_data_rights": ["mine"]}, "integral_data_rights"),
        ({"image_scale_min": ["low"]}, "image_scale_min"),
    ],
)
def test_what_we_do_not_serve_is_named(params: dict[str, list[str]], named: str) -> None:
    call = read_call({**BASE, "product_type": ["isgri_lc"], **params}.items())
    if named == "image_scale_min":
        call = read_call({**BASE, **params}.items())
    with pytest.raises(OdaParameterError) as caught:
        translate(call)
    assert caught.value.param == named


def test_jemx_num_goes_to_jemx_requests_and_is_ignored_for_isgri() -> None:
    jemx = translate(
        read_call(
            {**BASE, "instrument": ["jemx"], "product_type": ["jemx_lc"], "jemx_num": ["2"]}.items()
        )
    )
    assert ("jemx_num", "2") in jemx.pairs and ("instrument", "jemx") in jemx.pairs
    assert jemx.product_type == "light_curve"
    isgri = translate(read_call({**BASE, "product_type": ["isgri_lc"], "jemx_num": ["1"]}.items()))
    assert "jemx_num" not in dict(isgri.pairs)
    assert any("jemx_num" in n for n in isgri.notes)


def test_dispatcher_catalog_becomes_our_sky_model() -> None:
    catalog = ApiCatalog(
        {
            "cat_frame": "fk5",
            "cat_coord_units": "deg",
            "cat_lon_name": "ra",
            "cat_lat_name": "dec",
            "cat_column_names": ["meta_ID", "src_names", "significance", "ra", "dec"],
            "cat_column_list": [
                [0, 1],
                ["Crab", "3C 279"],
                [30.0, 0.0],
                [83.63, 194.05],
                [22.01, -5.79],
            ],
        }
    )
    model = json.loads(sky_model_from_oda(catalog.get_api_dictionary()))
    assert [m["name"] for m in model] == ["Crab", "3C 279"]
    assert model[1]["ra"] == pytest.approx(194.05) and model[1]["dec"] == pytest.approx(-5.79)
    # Galactic positions in radians are converted; our own formats pass through.
    galactic = json.dumps(
        {
            "cat_frame": "galactic",
            "cat_coord_units": "rad",
            "cat_column_names": ["src_names", "ra", "dec"],
            "cat_column_list": [["Crab"], [3.221134], [-0.100951]],
        }
    )
    crab = json.loads(sky_model_from_oda(galactic))[0]
    assert crab["ra"] == pytest.approx(83.63, abs=0.1) and crab["dec"] == pytest.approx(
        22.0, abs=0.1
    )
    assert sky_model_from_oda('[{"name": "X", "ra": 1, "dec": 2}]').startswith("[")
    with pytest.raises(OdaCatalogError, match="nested"):
        sky_model_from_oda("[" * 100_000)
    with pytest.raises(OdaCatalogError, match="no position"):
        sky_model_from_oda(
            json.dumps(
                {
                    "cat_column_names": ["src_names", "ra", "dec"],
                    "cat_column_list": [["A"], [None], [1.0]],
                }
            )
        )


def test_tokens_are_checked_only_with_a_secret() -> None:
    now = int(time.time())
    good = jwt.encode({"sub": "alice@example.org", "exp": now + 600}, SECRET, algorithm="HS256")
    assert TokenPolicy(None).subject(good) is None
    assert TokenPolicy(SECRET).subject(good) == "alice@example.org"
    expired = jwt.encode({"sub": "alice", "exp": now - 10}, SECRET, algorithm="HS256")
    with pytest.raises(TokenError, match="expired"):
        TokenPolicy(SECRET).subject(expired)
    with pytest.raises(TokenError, match="not valid"):
        TokenPolicy("another-secret-of-thirty-two-bytes!").subject(good)
    with pytest.raises(TokenError, match="not valid"):
        TokenPolicy(SECRET).subject("not-a-jwt")
