"""Detection identifiers, without the web app: the catalog's links block names every row, and a
row's ID is described (catalog, progenitor, cut-out, light-curve and spectrum requests) or
refused with the reason (issue 22 item 4)."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import numpy as np
import pytest
from astropy.io.votable import parse
from astropy.table import Table

from datalink import ProductNotFoundError
from processing.codedmask._votable import write_catalog_votable
from tests.datalink.conftest import votlint
from tests.uws._xsd import validate
from vo_service._detections import (
    describe_detection,
    detection_id,
    split_detection_key,
)
from vo_service._linkblock import add_links_block
from vo_service._store import StoredFile, StoredProduct

HASH = "ab" * 32
PRODUCT_ID = f"ivo://example.org/isgri?{HASH}"
LINKS_URL = "http://vo.example.org/datalink/links"
SCWS = [f"0{n}4200010010.001" for n in range(1, 4)]
SOURCES = [("Crab", 83.63308, 22.0145), ("J0535.1+2201", 83.77, 22.02), ("A&B", 90.5, -1.25)]


def _write_catalog(path: Path) -> None:
    table = Table(
        {
            "name": np.array([s[0] for s in SOURCES], dtype="U32"),
            "ra": np.array([s[1] for s in SOURCES]),
            "dec": np.array([s[2] for s in SOURCES]),
        }
    )
    columns = [
        ("name", None, "meta.id;meta.main", "source name"),
        ("ra", "deg", "pos.eq.ra;meta.main", "right ascension"),
        ("dec", "deg", "pos.eq.dec;meta.main", "declination"),
    ]
    write_catalog_votable(path, table, columns, time_range_ijd=(1521.0, 1522.0), description="x")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A stored image product's folder: the catalog with its links block, as the service keeps it."""
    _write_catalog(tmp_path / "original.vot")
    target = tmp_path / "product" / "catalog.vot"
    assert add_links_block(
        tmp_path / "original.vot",
        target,
        PRODUCT_ID,
        LINKS_URL,
        row_id=functools.partial(detection_id, PRODUCT_ID),
    )
    return target.parent


def _stored(
    folder: Path, *, selected_catalog: str | None = None, files: tuple[str, ...] = ()
) -> StoredProduct:
    names = files or ("image.fits", "catalog.vot", "catalog.fits", "preview.png")
    types = {
        ".fits": "application/fits",
        ".pha": "application/fits",
        ".vot": "application/x-votable+xml",
        ".png": "image/png",
    }
    return StoredProduct(
        hash=HASH,
        product_type="image",
        created_at=datetime.now(UTC),
        files=tuple(StoredFile(n, types[Path(n).suffix], 100, "#this", n) for n in names),
        metadata={
            "scw_ids": SCWS,
            "request": {
                "e1_kev": 25.0,
                "e2_kev": 60.0,
                "radius_deg": 12.0,
                "selected_catalog": selected_catalog,
            },
        },
        progenitors=(),
    )


def test_identifier_round_trips_through_url_encoding() -> None:
    identifier = detection_id(PRODUCT_ID, 12)
    assert identifier == f"{PRODUCT_ID}/source/12"
    assert unquote(quote(identifier, safe="")) == identifier
    assert split_detection_key(identifier.split("?", 1)[1]) == (HASH, "source/12")
    assert split_detection_key(HASH) == (HASH, None)


def test_links_block_names_each_row_and_points_the_descriptor_at_it(
    folder: Path, tmp_path: Path
) -> None:
    body = (folder / "catalog.vot").read_bytes()
    validate(body)
    report = votlint(folder / "catalog.vot")
    assert report.errors == [], report.output
    votable = parse(str(folder / "catalog.vot"))
    rows = votable.get_first_table().to_table()
    assert list(rows["source_id"]) == [f"{PRODUCT_ID}/source/{n}" for n in (1, 2, 3)]
    assert set(rows["product_id"]) == {PRODUCT_ID}
    fields = {f.name: f for f in votable.get_first_table().fields}
    assert fields["source_id"].ucd == "meta.ref.ivoid;src"
    assert fields["ra"].ref is not None  # the COOSYS reference survives the rewrite
    descriptor = next(r for r in votable.resources if r.type == "meta")
    (id_param,) = [p for p in descriptor.groups[0].entries if p.name == "ID"]
    assert id_param.ref == "source_id"
    # Other result tables keep one product ID per row.
    plain = tmp_path / "plain.vot"
    assert add_links_block(tmp_path / "original.vot", plain, PRODUCT_ID, LINKS_URL)
    assert "source_id" not in parse(str(plain)).get_first_table().to_table().colnames


def test_a_row_is_described_by_its_catalog_cutout_and_requests(folder: Path) -> None:
    identifier = detection_id(PRODUCT_ID, 2)
    product = describe_detection(identifier, "source/2", _stored(folder), folder, PRODUCT_ID)
    assert product.id == identifier
    by = {(f.semantics, f.content_qualifier): f for f in product.files}
    this = by["#this", None]
    assert this.access_url == f"/products/{HASH}/catalog.vot" and "row 2" in this.description
    assert [p.id for p in product.progenitors] == [PRODUCT_ID]
    assert not product.soda_capable  # nothing to cut or re-derive on a row itself
    cutout = urlsplit(by["#cutout", "#image"].access_url)
    assert cutout.path == "/soda/sync"
    query = parse_qs(cutout.query)
    assert query["ID"] == [PRODUCT_ID]
    assert [float(v) for v in query["CIRCLE"][0].split()] == [83.77, 22.02, 1.0]
    curve = parse_qs(urlsplit(by["#proc", "#timeseries"].access_url).query)
    spectrum = parse_qs(urlsplit(by["#proc", "#spectrum"].access_url).query)
    for request, product_type in ((curve, "light_curve"), (spectrum, "spectrum")):
        assert request["product_type"] == [product_type]
        assert request["src_name"] == ["J0535.1+2201"]
        assert (request["RA"], request["DEC"]) == (["83.77"], ["22.02"])
        assert request["scw_list"] == [",".join(SCWS)]
        assert request["radius"] == ["12"]
        assert "selected_catalog" not in request
    assert (curve["E1_keV"], curve["E2_keV"]) == (["25"], ["60"])
    assert "E1_keV" not in spectrum  # a spectrum covers every channel


def test_a_user_sky_model_is_replaced_by_the_catalog_with_the_source_first(folder: Path) -> None:
    stored = _stored(folder, selected_catalog='[{"name": "Crab", "ra": 83.6, "dec": 22.0}]')
    product = describe_detection(
        detection_id(PRODUCT_ID, 3), "source/3", stored, folder, PRODUCT_ID
    )
    curve = next(f for f in product.files if f.content_qualifier == "#timeseries")
    model = json.loads(parse_qs(urlsplit(curve.access_url).query)["selected_catalog"][0])
    assert [m["name"] for m in model] == ["A&B", "Crab", "J0535.1+2201"]
    assert (model[0]["ra"], model[0]["dec"]) == (90.5, -1.25)


@pytest.mark.parametrize(
    ("part", "reason"),
    [
        ("source/4", "has 3 rows, not 4"),
        ("source/0", "malformed detection key"),
        ("source/-1", "malformed detection key"),
        ("source/1x", "malformed detection key"),
        ("source/1/2", "malformed detection key"),
        ("source/1\n", "malformed detection key"),
        ("source/99999999999", "malformed detection key"),
        ("row/1", "malformed detection key"),
        ("", "malformed detection key"),
    ],
)
def test_unknown_or_malformed_rows_raise_not_found_with_the_reason(
    folder: Path, part: str, reason: str
) -> None:
    with pytest.raises(ProductNotFoundError) as caught:
        describe_detection(f"{PRODUCT_ID}/{part}", part, _stored(folder), folder, PRODUCT_ID)
    assert reason in caught.value.reason
    assert str(folder) not in caught.value.reason


def test_a_product_without_catalog_has_no_detections(folder: Path) -> None:
    stored = _stored(folder, files=("spectrum.pha",))
    with pytest.raises(ProductNotFoundError, match="has no source catalog"):
        describe_detection(f"{PRODUCT_ID}/source/1", "source/1", stored, folder, PRODUCT_ID)
