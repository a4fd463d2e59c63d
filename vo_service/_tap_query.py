"""Running a translated ADQL query: read-only, bounded in time and rows, with uploads.

PostgreSQL runs the query in a read-only transaction with a statement timeout; uploaded
tables are temporary tables of that transaction. SQLite gets the geometry functions, an
authorizer that lets the statement read only the published tables (and the uploads), and a
progress handler that stops it at the time limit.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from astropy.table import Table as AstropyTable
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from registry import Column as ColumnDecl
from vo_service._tap_adql import AdqlError, translate
from vo_service._tap_db import PRODUCT_OBSCORE, SERVICE_INFO, is_postgres, sql_table_name
from vo_service._tap_sphere import (
    register_sphere_functions,
    stcs_from_encoded,
    stcs_from_pgsphere,
)
from vo_service._tap_tables import PUBLISHED_TABLES, TAP_SCHEMA_TABLES

__all__ = ["QueryResult", "TapLimits", "run_query", "upload_name"]

_ALLOWED = {t.name.lower(): t for t in (*PUBLISHED_TABLES, *TAP_SCHEMA_TABLES)}
#: Tables the views read (SQLite names them, not the view, when it flattens a view); a query
#: cannot name them itself (the ADQL check refuses every table not published).
_VIEW_SOURCES = {"archive_scw", PRODUCT_OBSCORE, SERVICE_INFO}
_SQLITE_OK = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
_SPHERE_TYPES = ("spoint", "scircle", "spoly")
#: Type OIDs of pgsphere's geometries, per database (they differ between databases).
_sphere_oids: dict[str, dict[int, str]] = {}


def _sphere_types(connection: Connection) -> dict[int, str]:
    key = connection.engine.url.render_as_string(hide_password=True)
    if key not in _sphere_oids:
        rows = connection.execute(
            text("SELECT CAST(oid AS INTEGER), typname FROM pg_type WHERE typname = ANY(:names)"),
            {"names": list(_SPHERE_TYPES)},
        )
        _sphere_oids[key] = {int(oid): name for oid, name in rows}
    return _sphere_oids[key]


def _encoded(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with the geometries a SQLite query selected (``POINT(...)``) in STC-S.

    A column is a geometry column when its first value that is not NULL is one.
    """
    if not rows:
        return rows
    columns = []
    for i in range(len(rows[0])):
        first = next((row[i] for row in rows if row[i] is not None), None)
        if first is not None and stcs_from_encoded(first) is not first:
            columns.append(i)
    if not columns:
        return rows
    converted = []
    for row in rows:
        values = list(row)
        for i in columns:
            values[i] = stcs_from_encoded(values[i])
        converted.append(tuple(values))
    return converted


def _as_stcs(
    description: Sequence[Any] | None, rows: list[tuple[Any, ...]], types: Mapping[int, str]
) -> list[tuple[Any, ...]]:
    """Rows with their pgsphere values (``s_region``, a selected geometry) in STC-S."""
    geometry = [
        (i, types[column[1]]) for i, column in enumerate(description or ()) if column[1] in types
    ]
    if not geometry:
        return rows
    converted = []
    for row in rows:
        values = list(row)
        for i, typename in geometry:
            values[i] = stcs_from_pgsphere(values[i], typename)
        converted.append(tuple(values))
    return converted


@dataclass(frozen=True)
class TapLimits:
    """Row and time limits of the TAP service (advertised in TAPRegExt)."""

    default_maxrec: int = 10_000
    hard_maxrec: int = 1_000_000
    timeout_s: float = 60.0
    upload_max_rows: int = 100_000
    upload_max_bytes: int = 16 * 1024**2


@dataclass
class QueryResult:
    """Rows of a query with the declared metadata of its columns."""

    names: list[str]
    rows: list[tuple[Any, ...]]
    overflow: bool
    columns: list[ColumnDecl | None] = field(default_factory=list)


def upload_name(name: str) -> str:
    """Check a ``TAP_UPLOAD`` table name (an ADQL regular identifier)."""
    if not name or not (name[0].isascii() and name[0].isalpha()):
        raise AdqlError(f"upload table name {name!r} must start with a letter")
    if not all(c.isascii() and (c.isalnum() or c == "_") for c in name) or len(name) > 64:
        raise AdqlError(f"upload table name {name!r}: letters, digits and _ only (64 at most)")
    return name.lower()


def _sql_type(column: Any) -> str:
    kind = column.dtype.kind
    if kind == "b":
        return "BOOLEAN"
    if kind in "iu":
        return "BIGINT"
    if kind == "f":
        return "DOUBLE PRECISION"
    return "TEXT"


def _python(value: Any) -> Any:
    if value is np.ma.masked or value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _create_upload(connection: Connection, name: str, table: AstropyTable, postgres: bool) -> None:
    target = f"tap_upload_{name}" if postgres else f'"tap_upload.{name}"'
    columns = []
    for colname in table.colnames:
        if not colname.replace("_", "").isalnum() or not colname.isascii():
            raise AdqlError(f"upload {name}: column name {colname!r} is not an ADQL identifier")
        columns.append(f'"{colname.lower()}" {_sql_type(table[colname])}')
    temp = "TEMPORARY TABLE" if postgres else "TEMP TABLE"
    connection.execute(text(f"CREATE {temp} {target} ({', '.join(columns)})"))
    marks = ", ".join(f":c{i}" for i in range(len(table.colnames)))
    rows = [{f"c{i}": _python(row[c]) for i, c in enumerate(table.colnames)} for row in table]
    if rows:
        connection.execute(text(f"INSERT INTO {target} VALUES ({marks})"), rows)


def _column_metadata(
    names: Sequence[str], tables: Sequence[str], uploads: Mapping[str, AstropyTable]
) -> list[ColumnDecl | None]:
    known: dict[str, ColumnDecl] = {}
    for table in tables:
        declaration = _ALLOWED.get(table)
        if declaration is not None:
            for column in declaration.columns:
                known.setdefault(column.name.strip('"').lower(), column)
    for table in uploads.values():
        for key, column in table.meta.get("tap_upload_columns", {}).items():
            known.setdefault(key, column)
    return [known.get(n.lower()) for n in names]


def _sqlite_guard(raw: sqlite3.Connection, allowed: set[str], deadline: float) -> None:
    def authorize(
        action: int, arg1: str | None, _arg2: str | None, _db: str | None, view: str | None
    ) -> int:
        if action in _SQLITE_OK:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ and (
            (arg1 or "").lower() in allowed or (view or "").lower() in allowed
        ):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    raw.set_authorizer(authorize)
    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)


def run_query(
    engine: Engine,
    adql: str,
    *,
    maxrec: int,
    limits: TapLimits,
    uploads: Mapping[str, AstropyTable] | None = None,
) -> QueryResult:
    """Translate and run ``adql``; at most ``maxrec`` rows (``overflow`` when there were more).

    Raises
    ------
    AdqlError
        For a query the parser or the database refuses, or one over the time limit.
    """
    uploads = dict(uploads or {})
    allowed = set(_ALLOWED) | {f"tap_upload.{n}" for n in uploads}
    with engine.connect() as connection:
        postgres = is_postgres(connection)
        translation = translate(adql, postgres=postgres, allowed=allowed)
        raw: sqlite3.Connection | None = None
        try:
            for name, table in uploads.items():
                _create_upload(connection, name, table, postgres)
            if postgres:
                timeout_ms = int(limits.timeout_s * 1000)
                # One round trip; geometries come back in degrees, written as STC-S below.
                connection.exec_driver_sql(
                    f"SET LOCAL statement_timeout = {timeout_ms}; "
                    "SET LOCAL transaction_read_only = on; SELECT set_sphere_output('DEG')"
                )
                sphere_types = _sphere_types(connection)
            else:
                raw = connection.connection.dbapi_connection  # type: ignore[assignment]
                assert raw is not None
                register_sphere_functions(raw)
                readable = {sql_table_name(t, False).strip('"') for t in allowed} | _VIEW_SOURCES
                _sqlite_guard(raw, readable, time.monotonic() + limits.timeout_s)
            result = connection.execution_options(stream_results=postgres).execute(
                text(translation.sql.replace(":", r"\:"))
            )
            names = list(result.keys())
            # The description, before the cursor closes when the rows run out.
            description = result.cursor.description if postgres else None
            rows = [tuple(r) for r in result.fetchmany(maxrec + 1)]
            rows = _as_stcs(description, rows, sphere_types) if postgres else _encoded(rows)
            result.close()
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise  # the database went away: a 503 (the application's handler), not the user
            reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "query failed"
            if "interrupted" in reason or "statement timeout" in reason:
                reason = f"the query ran longer than {limits.timeout_s:g} s"
            elif "not authorized" in reason:
                reason = "the query reads something that is not a published table"
            raise AdqlError(reason) from exc
        except SQLAlchemyError as exc:
            raise AdqlError("the query could not be run") from exc
        finally:
            if raw is not None:
                raw.set_authorizer(None)
                raw.set_progress_handler(None, 0)
            connection.rollback()
            if raw is not None:
                for name in uploads:  # SQLite's temporary tables outlive the transaction
                    raw.execute(f'DROP TABLE IF EXISTS temp."tap_upload.{name}"')
                raw.commit()
    overflow = len(rows) > maxrec
    return QueryResult(
        names,
        rows[:maxrec],
        overflow,
        _column_metadata(names, sorted(translation.tables), uploads),
    )
