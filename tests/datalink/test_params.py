"""DALI parameter parsing and unit conversions, without an app."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from astropy.io import fits

from datalink import (
    KEV_METRE,
    Interval,
    MultiValuedParamNotSupported,
    RawParameters,
    SkyRegion,
    SodaError,
    UnsupportedOperation,
    cut_fits,
    kev_to_metres,
    metres_to_kev,
    parse_interval,
    parse_pos,
    parse_soda_request,
    split_product_id,
)


def test_kev_metre_round_trip() -> None:
    lo, hi = kev_to_metres((20.0, 100.0))
    assert lo == pytest.approx(1.239841984e-11) and hi == pytest.approx(6.19920992e-11)
    assert metres_to_kev((lo, hi)) == pytest.approx((20.0, 100.0))
    # 1 keV is 1.2398 nm.
    assert pytest.approx(1.2398e-9, rel=1e-4) == KEV_METRE / 1.0
    assert metres_to_kev((-math.inf, math.inf)) == (0.0, math.inf)
    assert kev_to_metres((0.0, math.inf)) == (0.0, math.inf)


@pytest.mark.parametrize(
    ("text", "shape", "values"),
    [
        ("CIRCLE 10 20 1", "circle", (10, 20, 1)),
        ("circle 10 20 1", "circle", (10, 20, 1)),
        ("RANGE 10 20 -5 5", "range", (10, 20, -5, 5)),
        ("RANGE -Inf +Inf -Inf +Inf", "range", (-math.inf, math.inf, -math.inf, math.inf)),
        ("POLYGON 1 1 2 1 2 2", "polygon", (1, 1, 2, 1, 2, 2)),
    ],
)
def test_pos_shapes(text: str, shape: str, values: tuple[float, ...]) -> None:
    region = parse_pos(text)
    assert region.shape == shape and region.values == values
    assert SkyRegion.from_json(region.to_json()) == region


def test_interval_open_ends_and_json() -> None:
    interval = parse_interval("-Inf 3e-11", "BAND")
    assert interval == Interval(-math.inf, 3e-11)
    assert Interval.from_json(interval.to_json()) == interval
    assert interval.intersect(1e-11, 6e-11) == Interval(1e-11, 3e-11)
    assert interval.intersect(4e-11, 6e-11) is None


def test_raw_parameters_ignore_case() -> None:
    params = RawParameters([("id", "a"), ("Id", "b"), ("circle", "1 2 3")])
    assert params.getall("ID") == ["a", "b"]
    with pytest.raises(MultiValuedParamNotSupported):
        params.single("ID")
    assert params.single("CIRCLE") == "1 2 3"


def test_async_request_combinations() -> None:
    request = parse_soda_request(
        RawParameters(
            [("ID", "a"), ("ID", "b"), ("CIRCLE", "1 2 3"), ("TIME", "1 2"), ("TIME", "3 4")]
        ),
        multi_valued=True,
    )
    assert len(list(request.tasks())) == 4
    with pytest.raises(MultiValuedParamNotSupported):
        parse_soda_request(RawParameters([("ID", "a"), ("ID", "b")]), multi_valued=False)


def test_product_ids() -> None:
    assert split_product_id("ivo://example.org/isgri?abc") == ("ivo://example.org/isgri", "abc")
    assert split_product_id("abc") == (None, "abc")


def test_cutting_a_file_without_sky_image(tmp_path: Path) -> None:
    path = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([])]).writeto(path)
    with pytest.raises(UnsupportedOperation):
        cut_fits(path, parse_pos("CIRCLE 10 10 1"))
    with pytest.raises(SodaError):
        parse_pos("ELLIPSE 1 2 3 4 5")
