"""VOSI /tables describes the published tables (the ones /tap serves) with units and UCDs."""

from __future__ import annotations

import io
import warnings

import pytest
from flask import Flask
from pyvo.io.vosi import parse_tables

from registry import Column, Table
from tests.registry.xsd import assert_valid
from vo_service._tables import DETECTION_TABLE, OBSCORE_TABLE, SCW_TABLE


def test_tables_document_validates_and_lists_both_catalogs(service_app: Flask) -> None:
    response = service_app.test_client().get("/tables")
    assert response.status_code == 200
    root = assert_valid(response.data)
    assert root.tag == "{http://www.ivoa.net/xml/VOSITables/v1.0}tableset"
    assert root.xpath("schema/table/name/text()")[:3] == [
        "ivoa.obscore",
        "isgri.scw",
        "isgri.detections",
    ]
    assert "TAP_SCHEMA.columns" in root.xpath("schema/table/name/text()")


def test_pyvo_reads_units_and_ucds(service_app: Flask) -> None:
    data = service_app.test_client().get("/tables").data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tableset = parse_tables(io.BytesIO(data))
    tables = {t.name: t for t in tableset.iter_tables()}
    detections = {c.name: c for c in tables["isgri.detections"].columns}
    assert detections["ra"].unit == "deg"
    assert detections["ra"].ucd == "pos.eq.ra;meta.main"
    assert detections["rate"].unit == "count/s"
    assert detections["significance"].ucd == "stat.snr"
    obscore = {c.name: c for c in tables["ivoa.obscore"].columns}
    assert obscore["em_min"].unit == "m"
    assert obscore["t_min"].ucd == "time.start;obs.exposure"
    assert obscore["s_region"].datatype.content == "char"
    # pyvo 1.9 drops dataType/@extendedType when parsing; read the DALI xtype from the XML.
    root = assert_valid(data)
    region = root.xpath("//table[name='ivoa.obscore']/column[name='s_region']/dataType")[0]
    assert region.get("extendedType") == "adql:REGION"


@pytest.mark.parametrize("table", [OBSCORE_TABLE, SCW_TABLE, DETECTION_TABLE], ids=lambda t: t.name)
def test_every_column_is_described_with_position(table: Table) -> None:
    assert all(column.description and column.ucd for column in table.columns)
    ra, dec = ("s_ra", "s_dec") if table is OBSCORE_TABLE else ("ra", "dec")
    assert table.column(ra).unit == table.column(dec).unit == "deg"
    with pytest.raises(KeyError):
        table.column("nonexistent")


def test_special_characters_are_escaped_once() -> None:
    element = Column("x", "double", "a < b & c").element()
    assert element.findtext("description") == "a < b & c"


def test_unknown_datatype_is_refused() -> None:
    with pytest.raises(ValueError, match="VOTable datatype"):
        Column("x", "float64", "numpy name, not VOTable")
