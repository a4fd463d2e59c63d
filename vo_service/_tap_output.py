"""TAP results as VOTable (TABLEDATA, BINARY2), CSV or FITS.

VOTables carry the declared unit, UCD, utype and xtype of every column that comes from a
published table, a ``COOSYS`` (ICRS) for positions and a ``TIMESYS`` (MJD, TT) for times,
the DataLink service descriptor of the identifier columns, and ``QUERY_STATUS`` (``OK``
before the table; ``OVERFLOW`` after it when MAXREC cut the result, as DALI asks).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.io import votable
from astropy.io.votable.tree import CooSys, Info, Param, Resource, TimeSys
from astropy.table import MaskedColumn
from astropy.table import Table as AstropyTable
from lxml import etree

from registry import Column as ColumnDecl
from vo_service._tap_query import QueryResult

__all__ = ["FORMATS", "OutputFormat", "output_format", "render_result", "result_table"]

_VOT = "http://www.ivoa.net/xml/VOTable/v1.3"
#: Columns whose values are DataLink IDs.
ID_COLUMNS = ("obs_publisher_did", "product_id", "detection_id")


@dataclass(frozen=True)
class OutputFormat:
    """A RESPONSEFORMAT: its MIME type and the short names clients also use."""

    mime: str
    aliases: tuple[str, ...]
    extension: str


FORMATS = (
    OutputFormat("application/x-votable+xml", ("votable", "votable/td"), "vot"),
    OutputFormat(
        "application/x-votable+xml;serialization=BINARY2", ("votable/b2", "binary2"), "vot"
    ),
    OutputFormat("text/csv;header=present", ("csv", "text/csv"), "csv"),
    OutputFormat("application/fits", ("fits",), "fits"),
)


def output_format(value: str | None) -> OutputFormat:
    """The format named by a RESPONSEFORMAT value (MIME type or short name)."""
    if value is None or not value.strip():
        return FORMATS[0]
    wanted = value.strip().lower().replace(" ", "")
    for fmt in FORMATS:
        if wanted == fmt.mime.lower() or wanted in fmt.aliases:
            return fmt
    if wanted in ("text/xml", "application/x-votable+xml;serialization=tabledata"):
        return FORMATS[0]
    raise ValueError(f"unknown format {value!r}; one of " + ", ".join(f.mime for f in FORMATS))


def _column(name: str, values: list[Any], decl: ColumnDecl | None) -> Any:
    mask = [v is None for v in values]
    datatype = decl.datatype if decl is not None else None
    present = next((v for v in values if v is not None), None)
    if datatype == "boolean" or (datatype is None and isinstance(present, bool)):
        data = np.array([bool(v) if v is not None else False for v in values], dtype=bool)
    elif datatype in ("int", "long", "short") or (
        datatype is None and isinstance(present, int) and not isinstance(present, bool)
    ):
        width = {"short": np.int16, "int": np.int32}.get(datatype or "", np.int64)
        data = np.array([int(v) if v is not None else 0 for v in values], dtype=width)
    elif datatype in ("double", "float") or (datatype is None and isinstance(present, float)):
        floats = [float(v) if v is not None else np.nan for v in values]
        return np.array(floats, dtype=np.float32 if datatype == "float" else np.float64)
    else:
        data = np.array(["" if v is None else str(v) for v in values], dtype=object).astype(str)
    if any(mask):
        return MaskedColumn(data, name=name, mask=mask)
    return data


def result_table(result: QueryResult) -> AstropyTable:
    """The result as an astropy table (declared units attached)."""
    columns = list(zip(*result.rows, strict=True)) if result.rows else [()] * len(result.names)
    names = _unique(result.names)
    table = AstropyTable()
    for name, values, decl in zip(names, columns, result.columns, strict=True):
        table[name] = _column(name, list(values), decl)
        if decl is not None and decl.unit:
            table[name].unit = decl.unit
    return table


def _unique(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        key = name.lower()
        seen[key] = seen.get(key, 0) + 1
        out.append(name if seen[key] == 1 else f"{name}_{seen[key]}")
    return out


def _ascii(result: QueryResult, index: int) -> bool:
    return all(row[index] is None or str(row[index]).isascii() for row in result.rows)


def _votable(result: QueryResult, base_url: str, binary2: bool) -> bytes:
    table = result_table(result)
    vot = votable.from_table(table)
    vot.version = "1.4"
    resource = vot.resources[0]
    resource.type = "results"
    resource.infos.append(Info(name="QUERY_STATUS", value="OK"))
    vot_table = resource.tables[0]
    has_pos = has_time = False
    ids: list[str] = []
    for index, (fld, decl) in enumerate(zip(vot_table.fields, result.columns, strict=True)):
        if fld.datatype in ("char", "unicodeChar"):
            # Variable width, and char (as TAP_SCHEMA declares) unless a value needs unicode.
            fld.arraysize = "*"
            fld.datatype = "char" if _ascii(result, index) else "unicodeChar"
        if decl is None:
            continue
        if decl.datatype == "boolean":
            fld.datatype = "boolean"  # astropy writes masked booleans as bit
        fld.ucd = decl.ucd
        if decl.unit:
            fld.unit = decl.unit  # as declared, not astropy's rendering of it
        fld.utype = decl.utype
        if decl.xtype:
            fld.xtype = decl.xtype
        if decl.description:
            fld.description = decl.description
        if decl.ucd and decl.ucd.startswith("pos.eq."):
            fld.ref = "icrs"
            has_pos = True
        elif decl.unit == "d" and decl.ucd and decl.ucd.startswith("time."):
            fld.ref = "mjd_tt"
            has_time = True
        if decl.name in ID_COLUMNS and fld.name == decl.name:
            fld.ID = fld.name  # the DataLink descriptor's ID parameter refers to it
            ids.append(fld.ID)
    if has_pos:
        resource.coordinate_systems.append(CooSys(ID="icrs", system="ICRS"))
    if has_time:
        resource.time_systems.append(
            TimeSys(ID="mjd_tt", timeorigin=2400000.5, timescale="TT", refposition="TOPOCENTER")
        )
    for field_id in ids:
        _datalink_descriptor(vot, field_id, base_url)
    buffer = io.BytesIO()
    votable.writeto(vot, buffer, tabledata_format="binary2" if binary2 else "tabledata")
    data = buffer.getvalue()
    if result.overflow:
        data = _append_overflow(data)
    return data


def _datalink_descriptor(vot: Any, field_id: str, base_url: str) -> None:
    meta = Resource(type="meta", utype="adhoc:service")
    meta.ID = f"links_{field_id}"
    meta.params.append(
        Param(
            vot,
            name="standardID",
            datatype="char",
            arraysize="*",
            value="ivo://ivoa.net/std/DataLink#links-1.1",
        )
    )
    meta.params.append(
        Param(
            vot,
            name="accessURL",
            datatype="char",
            arraysize="*",
            value=f"{base_url.rstrip('/')}/datalink/links",
        )
    )
    group = votable.tree.Group(vot, name="inputParams")
    param = Param(vot, name="ID", datatype="char", arraysize="*", value="", ref=field_id)
    param.ucd = "meta.id;meta.main"
    group.entries.append(param)
    meta.groups.append(group)
    vot.resources.append(meta)


def _append_overflow(data: bytes) -> bytes:
    root = etree.fromstring(data, etree.XMLParser(huge_tree=True))
    resource = root.find(f"{{{_VOT}}}RESOURCE")
    assert resource is not None
    info = etree.SubElement(resource, f"{{{_VOT}}}INFO", name="QUERY_STATUS", value="OVERFLOW")
    info.text = "MAXREC reached: more rows match the query"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _csv(result: QueryResult) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(result.names)
    for row in result.rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue().encode()


def _fits(result: QueryResult) -> bytes:
    buffer = io.BytesIO()
    result_table(result).write(buffer, format="fits")
    return buffer.getvalue()


def render_result(result: QueryResult, fmt: OutputFormat, base_url: str) -> bytes:
    """The result serialised in ``fmt``."""
    if fmt.mime.startswith("application/x-votable+xml"):
        return _votable(result, base_url, binary2="BINARY2" in fmt.mime)
    if fmt.mime.startswith("text/csv"):
        return _csv(result)
    return _fits(result)
