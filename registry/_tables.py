"""Descriptions of queryable tables, rendered as VOSI ``/tables`` and as the record's tableset.

The service declares its tables once, as data (:class:`TableSchema` of :class:`Table` of
:class:`Column`), and reuses the same objects wherever it writes those columns (VOTable
output, future TAP schema); the registry only renders them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from registry._xml import NSMAP, VOSI_TABLES, sub, xsi_type

__all__ = ["Column", "ForeignKey", "Table", "TableSchema", "tables_document", "tableset_element"]

_VOTABLE_TYPES = frozenset(
    {
        "boolean",
        "bit",
        "unsignedByte",
        "short",
        "int",
        "long",
        "char",
        "unicodeChar",
        "float",
        "double",
        "floatComplex",
        "doubleComplex",
    }
)


@dataclass(frozen=True)
class Column:
    """One column: name, VOTable datatype, unit (VOUnits) and UCD.

    Parameters
    ----------
    name
        Column name as clients query it.
    datatype
        A VOTable primitive (``double``, ``long``, ``char``...).
    description
        What the value means.
    unit
        VOUnit string (``deg``, ``keV``, ``ct/s``...), ``None`` when dimensionless.
    ucd
        UCD1+ word list.
    arraysize
        VOTable arraysize (``*`` for variable-length strings).
    xtype
        DALI xtype (``timestamp``, ``point``...).
    utype
        Data-model role, when the column maps to one (e.g. ObsCore).
    flags
        VODataService flags: ``indexed``, ``primary``, ``nullable``.
    """

    name: str
    datatype: str
    description: str
    unit: str | None = None
    ucd: str | None = None
    arraysize: str | None = None
    xtype: str | None = None
    utype: str | None = None
    flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.datatype not in _VOTABLE_TYPES:
            raise ValueError(f"column {self.name}: {self.datatype!r} is not a VOTable datatype")

    def element(self) -> etree._Element:
        """The VODataService ``column`` element."""
        column = etree.Element("column", nsmap=dict(NSMAP))
        sub(column, "name", self.name)
        sub(column, "description", self.description)
        if self.unit:
            sub(column, "unit", self.unit)
        if self.ucd:
            sub(column, "ucd", self.ucd)
        if self.utype:
            sub(column, "utype", self.utype)
        # VODataService 1.2 carries the DALI xtype as dataType/@extendedType.
        datatype = sub(
            column,
            "dataType",
            self.datatype,
            {"arraysize": self.arraysize, "extendedType": self.xtype},
        )
        xsi_type(datatype, "vs:VOTableType")
        for flag in self.flags:
            sub(column, "flag", flag)
        return column


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key of a table: the target table and (from, target) column pairs."""

    target_table: str
    columns: tuple[tuple[str, str], ...]
    description: str | None = None

    def element(self) -> etree._Element:
        """The VODataService ``foreignKey`` element."""
        key = etree.Element("foreignKey", nsmap=dict(NSMAP))
        sub(key, "targetTable", self.target_table)
        for from_column, target_column in self.columns:
            pair = sub(key, "fkColumn")
            sub(pair, "fromColumn", from_column)
            sub(pair, "targetColumn", target_column)
        if self.description:
            sub(key, "description", self.description)
        return key


@dataclass(frozen=True)
class Table:
    """A queryable table: fully qualified name, description and columns."""

    name: str
    description: str
    columns: tuple[Column, ...]
    title: str | None = None
    utype: str | None = None
    table_type: str = "base_table"
    foreign_keys: tuple[ForeignKey, ...] = ()

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")

    def element(self) -> etree._Element:
        """The VODataService ``table`` element."""
        table = etree.Element("table", nsmap=dict(NSMAP))
        table.set("type", self.table_type)
        sub(table, "name", self.name)
        if self.title:
            sub(table, "title", self.title)
        sub(table, "description", self.description)
        if self.utype:
            sub(table, "utype", self.utype)
        for column in self.columns:
            table.append(column.element())
        for key in self.foreign_keys:
            table.append(key.element())
        return table


@dataclass(frozen=True)
class TableSchema:
    """A named group of tables (VODataService ``schema``)."""

    name: str
    description: str
    tables: tuple[Table, ...]
    title: str | None = None

    def element(self) -> etree._Element:
        """The VODataService ``schema`` element."""
        schema = etree.Element("schema", nsmap=dict(NSMAP))
        sub(schema, "name", self.name)
        if self.title:
            sub(schema, "title", self.title)
        sub(schema, "description", self.description)
        for table in self.tables:
            schema.append(table.element())
        return schema


def tableset_element(schemas: Sequence[TableSchema]) -> etree._Element:
    """The unqualified ``tableset`` child of a VOResource record."""
    tableset = etree.Element("tableset", nsmap=dict(NSMAP))
    for schema in schemas:
        tableset.append(schema.element())
    return tableset


def tables_document(schemas: Sequence[TableSchema]) -> etree._Element:
    """The VOSI 1.1 ``vosi:tableset`` document."""
    root = etree.Element(f"{{{VOSI_TABLES}}}tableset", nsmap={"vosi": VOSI_TABLES, **NSMAP})
    for schema in schemas:
        root.append(schema.element())
    return root
