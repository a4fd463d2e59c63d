"""``{links}``: the 12 columns, semantics, several IDs, errors, MAXREC, RESPONSEFORMAT, linters."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from astropy.io.votable import parse
from astropy.io.votable.tree import Resource, TableElement, VOTableFile
from flask import Flask

from datalink import (
    DATALINK_MIME,
    LINK_COLUMNS,
    SODA_SYNC_ID,
    DataLinkURLs,
    LinkBuilder,
    add_service_descriptors,
    to_bytes,
)
from registry import StandardID, capabilities_of
from tests.datalink.conftest import BASE_URL, Products, datalinklint, votlint
from tests.registry.test_capabilities import mounted_mismatches
from tests.uws._xsd import validate

LINKS = "/datalink/links"


def links_table(body: bytes) -> tuple[VOTableFile, list[dict[str, object]]]:
    votable = parse(io.BytesIO(body), verify="exception")
    table = votable.get_first_table()
    names = [f.name for f in table.fields]
    rows = [
        dict(zip(names, (_plain(record[n]) for n in names), strict=True)) for record in table.array
    ]
    return votable, rows


def _plain(value: object) -> object:
    import numpy as np

    if value is np.ma.masked:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value or None if isinstance(value, str) else value


def lint_file(tmp_path: Path, body: bytes, lint_warnings: list[str], *, links: bool = True) -> None:
    path = tmp_path / "doc.xml"
    path.write_bytes(body)
    validate(body)
    report = votlint(path)
    assert report.errors == [], report.output
    lint_warnings.extend(report.warnings)
    if links:
        dl = datalinklint(path)
        assert dl.errors == [], dl.output
        lint_warnings.extend(dl.warnings)


def test_links_of_a_mosaic_has_every_column_and_link(
    app: Flask, products: Products, tmp_path: Path, lint_warnings: list[str]
) -> None:
    response = app.test_client().get(LINKS, query_string={"ID": products.mosaic})
    assert response.status_code == 200
    assert response.content_type == DATALINK_MIME
    lint_file(tmp_path, response.data, lint_warnings)
    votable, rows = links_table(response.data)
    table = votable.get_first_table()
    assert [(f.name, f.ucd) for f in table.fields] == [(c[0], c[2]) for c in LINK_COLUMNS]
    assert table.get_field_by_id("content_length").unit == "byte"
    assert {r["ID"] for r in rows} == {products.mosaic}
    by_semantics: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_semantics.setdefault(str(row["semantics"]), []).append(row)
    this = by_semantics["#this"][0]
    assert this["access_url"] == f"{BASE_URL}/testing/files/a1b2c3d4e5/image.fits"
    assert this["content_type"] == "application/fits"
    assert this["content_length"] == (products.source.root / "a1b2c3d4e5/image.fits").stat().st_size
    assert this["content_qualifier"] == "#image"
    assert this["link_auth"] == "false" and this["link_authorized"] is True
    assert by_semantics["#preview"][0]["content_type"] == "image/png"
    assert by_semantics["#progenitor"][0]["access_url"].endswith("/scw/003600010010")
    provenance = by_semantics["#auxiliary"][0]
    assert provenance["local_semantics"] == "provenance"
    assert by_semantics["#documentation"][0]["content_type"] == "text/x-python"
    cutout = by_semantics["#cutout"][0]
    assert cutout["service_def"] == "soda-sync-0" and cutout["access_url"] is None
    # The sync service returns a cut of the primary file: clients load it by its type.
    assert cutout["content_type"] == "application/fits"
    # Exactly one of access_url, service_def, error_message per row.
    for row in rows:
        assert sum(row[k] is not None for k in ("access_url", "service_def", "error_message")) == 1


def test_service_descriptor_carries_the_products_extents(app: Flask, products: Products) -> None:
    body = app.test_client().get(LINKS, query_string={"ID": products.mosaic}).data
    votable = parse(io.BytesIO(body))
    (service,) = [r for r in votable.resources if r.type == "meta"]
    assert service.utype == "adhoc:service" and service.ID == "soda-sync-0"
    params = {p.name: p.value for p in service.params}
    assert params["standardID"] == SODA_SYNC_ID
    assert params["accessURL"] == f"{BASE_URL}/soda/sync"
    inputs = {p.name: p for p in service.groups[0].entries}
    assert set(inputs) == {"ID", "POS", "CIRCLE", "POLYGON", "BAND", "TIME"}
    assert inputs["ID"].ref == "ID"
    circle = inputs["CIRCLE"]
    assert (circle.xtype, circle.unit, circle.ucd) == ("circle", "deg", "phys.angArea;obs")
    assert list(circle.values.max) == pytest.approx([83.6, 22.0, 5.0])
    band = inputs["BAND"]
    assert (band.xtype, str(band.unit)) == ("interval", "m")
    # 20-100 keV is 1.24e-11 .. 6.20e-11 m (lambda = hc / E).
    assert float(band.values.min) == pytest.approx(1.239841984e-9 / 100.0)
    assert float(band.values.max) == pytest.approx(1.239841984e-9 / 20.0)
    time = inputs["TIME"]
    assert str(time.unit) == "d" and float(time.values.min) == 53000.0
    polygon = inputs["POLYGON"]
    assert polygon.xtype == "polygon" and len(polygon.values.max) == 16


def test_several_ids_unknown_ids_and_bare_hashes(
    app: Flask, products: Products, tmp_path: Path, lint_warnings: list[str]
) -> None:
    unknown = "ivo://example.org/isgri?0000000000"
    response = app.test_client().get(
        LINKS,
        query_string=[
            ("id", products.mosaic),
            ("Id", products.spectrum),
            ("ID", unknown),
            ("ID", "a1b2c3d4e5"),
            ("ID", "ivo://elsewhere.org/x?a1b2c3d4e5"),
        ],
    )
    assert response.status_code == 200
    lint_file(tmp_path, response.data, lint_warnings)
    votable, rows = links_table(response.data)
    ids = [r["ID"] for r in rows]
    assert set(ids) == {
        products.mosaic,
        products.spectrum,
        unknown,
        "a1b2c3d4e5",
        "ivo://elsewhere.org/x?a1b2c3d4e5",
    }
    errors = {r["ID"]: r["error_message"] for r in rows if r["error_message"]}
    assert set(errors) == {unknown, "ivo://elsewhere.org/x?a1b2c3d4e5"}
    assert all(str(m).startswith("NotFoundFault: ") for m in errors.values())
    spectrum = [r for r in rows if r["ID"] == products.spectrum]
    assert sorted(str(r["semantics"]) for r in spectrum) == [
        "#auxiliary",
        "#auxiliary",
        "#documentation",
        "#progenitor",
        "#this",
    ]
    progenitor = next(r for r in spectrum if r["semantics"] == "#progenitor")
    assert progenitor["content_type"] == DATALINK_MIME
    assert "a1b2c3d4e5" in str(progenitor["access_url"])
    # The bare hash resolves to the same product, with its own descriptor.
    bare = [r for r in rows if r["ID"] == "a1b2c3d4e5"]
    assert {r["semantics"] for r in bare} >= {"#this", "#cutout"}
    descriptor_ids = [r.ID for r in votable.resources if r.type == "meta"]
    assert len(descriptor_ids) == len(set(descriptor_ids)) == 2


def test_post_gives_the_same_links_as_get(app: Flask, products: Products) -> None:
    client = app.test_client()
    got = client.get(LINKS, query_string={"ID": products.mosaic}).data
    posted = client.post(LINKS, data={"iD": products.mosaic})
    assert posted.status_code == 200
    assert links_table(posted.data)[1] == links_table(got)[1]


@pytest.mark.parametrize(
    ("maxrec", "expected_rows", "status"),
    [("3", 3, "OVERFLOW"), ("0", 0, "OVERFLOW"), ("1000", None, "OK")],
)
def test_maxrec(
    app: Flask, products: Products, maxrec: str, expected_rows: int | None, status: str
) -> None:
    response = app.test_client().get(LINKS, query_string={"ID": products.mosaic, "MAXREC": maxrec})
    assert response.status_code == 200
    votable, rows = links_table(response.data)
    if expected_rows is not None:
        assert len(rows) == expected_rows
    else:
        assert len(rows) == 6
    infos = {i.name: i.value for i in votable.resources[0].infos}
    assert infos["QUERY_STATUS"] == status
    assert infos["standardID"] == "ivo://ivoa.net/std/DataLink#links-1.1"


@pytest.mark.parametrize(
    "fmt",
    [
        "votable",
        "application/x-votable+xml",
        "application/x-votable+xml; content=datalink",
        "TEXT/XML",
    ],
)
def test_votable_response_formats_are_accepted(app: Flask, products: Products, fmt: str) -> None:
    response = app.test_client().get(
        LINKS, query_string={"ID": products.mosaic, "RESPONSEFORMAT": fmt}
    )
    assert response.status_code == 200
    assert response.content_type == DATALINK_MIME


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({}, "ID"),
        ({"ID": ""}, "ID"),
        ({"ID": "x", "RESPONSEFORMAT": "application/json"}, "RESPONSEFORMAT"),
        ({"ID": "x", "RESPONSEFORMAT": "csv"}, "RESPONSEFORMAT"),
        ({"ID": "x", "MAXREC": "ten"}, "MAXREC"),
        ({"ID": "x", "MAXREC": "-1"}, "MAXREC"),
        ([("ID", "x"), ("MAXREC", "1"), ("MAXREC", "2")], "MAXREC"),
    ],
)
def test_bad_requests_get_a_dali_error_document(
    app: Flask, query: object, parameter: str, tmp_path: Path, lint_warnings: list[str]
) -> None:
    response = app.test_client().get(LINKS, query_string=query)
    assert response.status_code == 400
    assert response.mimetype == "application/x-votable+xml"
    validate(response.data)
    path = tmp_path / "error.xml"
    path.write_bytes(response.data)
    assert votlint(path).errors == []
    votable = parse(io.BytesIO(response.data))
    (info,) = votable.resources[0].infos
    assert (info.name, info.value) == ("QUERY_STATUS", "ERROR")
    assert info.content.split(":")[0] in {"UsageFault", "MultiValuedParamNotSupported"}
    assert parameter in info.content


def test_documentation_snippet_is_served(app: Flask, products: Products) -> None:
    client = app.test_client()
    response = client.get(f"{LINKS}/snippet", query_string={"ID": products.mosaic})
    assert response.status_code == 200
    assert response.mimetype == "text/x-python"
    compile(response.get_data(as_text=True), "snippet.py", "exec")  # runnable Python
    missing = client.get(f"{LINKS}/snippet", query_string={"ID": "ivo://example.org/isgri?00"})
    assert missing.status_code == 404


def test_capabilities_are_registered_and_mounted(app: Flask) -> None:
    standards = {c.standard_id: c.path for c in capabilities_of(app)}
    assert standards == {StandardID.DATALINK: LINKS, StandardID.SODA_SYNC: "/soda/sync"}
    problems = [p for p in mounted_mismatches(app) if "testing_files" not in p]
    assert problems == []


def test_service_block_embedded_in_another_votable(
    products: Products, tmp_path: Path, lint_warnings: list[str]
) -> None:
    """The product service can put the same descriptors into a catalog VOTable."""
    votable = VOTableFile(version="1.4")
    resource = Resource(type="results")
    votable.resources.append(resource)
    table = TableElement.from_table(votable, _catalog())
    resource.tables.append(table)
    builder = LinkBuilder(
        products.source, DataLinkURLs(BASE_URL, BASE_URL + LINKS, BASE_URL + "/soda/sync")
    )
    product = products.source.describe(products.mosaic)
    add_service_descriptors(votable, builder.descriptors(product, id_value=product.id))
    body = to_bytes(votable)
    lint_file(tmp_path, body, lint_warnings, links=False)
    parsed = parse(io.BytesIO(body))
    (service,) = [r for r in parsed.resources if r.type == "meta"]
    id_param = next(p for p in service.groups[0].entries if p.name == "ID")
    assert id_param.value == products.mosaic and id_param.ref is None


def _catalog():  # type: ignore[no-untyped-def]
    from astropy.table import Table

    return Table({"name": ["Crab"], "ra": [83.63], "dec": [22.01]})


def test_links_of_every_product_kind_pass_datalinklint(
    app: Flask, products: Products, tmp_path: Path, lint_warnings: list[str]
) -> None:
    """An image, a catalog, a spectrum and a light curve in one request."""
    catalog = products.source.add_catalog("c0ffee0001", progenitor=products.mosaic)
    light_curve = products.source.add_light_curve("1c0ffee002", progenitor=products.mosaic)
    ids = [products.mosaic, catalog, products.spectrum, light_curve]
    response = app.test_client().post(LINKS, data={"ID": ids})
    assert response.status_code == 200
    lint_file(tmp_path, response.data, lint_warnings)
    _, rows = links_table(response.data)
    semantics = {pid: {r["semantics"] for r in rows if r["ID"] == pid} for pid in ids}
    assert "#cutout" not in semantics[catalog] and "#proc" not in semantics[catalog]
    # A light curve is re-derived in time (SODA #proc), never cut spatially.
    assert "#proc" in semantics[light_curve] and "#cutout" not in semantics[light_curve]
    assert {"#this", "#cutout", "#preview"} <= semantics[products.mosaic]
