"""Database objects of the published tables, built from their declarations.

On PostgreSQL the tables live in the schemas ``ivoa``, ``isgri`` and ``tap_schema`` and
positions are indexed with pgsphere (GiST over ``spoint(radians(ra), radians(dec))``, the
expression the ADQL translation produces, so a cone search uses the index). SQLite has no
schemas: a table is named by its qualified name (``"isgri.detections"``), which the ADQL
translation produces for it (:mod:`vo_service._tap_adql`).

``isgri.scw`` and the science-window half of ``ivoa.obscore`` are views over the archive
index; published products go into ``tap_product_obscore`` (the other half of the view) and
their sources into ``isgri.detections`` (:mod:`vo_service._tap_publish`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
    cast,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.types import TypeEngine, UserDefinedType

from processing.instruments import DEFAULT_INSTRUMENT, get_instrument
from registry import Column as ColumnDecl
from registry import Table as TableDecl
from vo_service._tap_sphere import pgsphere_circle
from vo_service._tap_tables import (
    DETECTIONS,
    FOREIGN_KEYS,
    IJD_TO_MJD,
    OBSCORE,
    PUBLISHED_SCHEMAS,
    SCW,
    TAP_SCHEMA,
    TAP_SCHEMA_TABLES,
)

__all__ = [
    "PRODUCT_OBSCORE",
    "create_region_objects",
    "create_tap_objects",
    "db_name",
    "drop_region_objects",
    "drop_tap_objects",
    "ensure_tap_schema",
    "fill_tap_schema",
    "is_postgres",
    "set_service_info",
    "sql_table",
    "sql_table_name",
    "tap_tables",
]

#: Products' ObsCore rows (the view ``ivoa.obscore`` adds the science windows).
PRODUCT_OBSCORE = "tap_product_obscore"
#: One row: the service's IVOA identifier and public URL (for the science windows' rows).
SERVICE_INFO = "tap_service_info"
#: h c in keV m (lambda = hc / E).
_HC_KEV_M = 1.2398419843320026e-09
#: ISGRI partially coded field of view: 29 x 29 deg; the region is the circle around it.
SCW_FOV_DEG = 29.0
#: A science window's region on PostgreSQL: the view's expression, which a GiST index on
#: ``archive_scw`` holds too (the radius written as a number, so the two match as text).
_SCW_REGION_PG = (
    f"scircle(spoint(radians(ra_x), radians(dec_x)), {math.radians(SCW_FOV_DEG / 2)!r})"
)
_SCHEMAS = ("ivoa", "isgri", "tap_schema")
_TYPES: dict[str, type[TypeEngine[Any]]] = {
    "double": Float,
    "float": Float,
    "int": Integer,
    "short": Integer,
    "long": BigInteger,
    "char": Text,
    "unicodeChar": Text,
    "boolean": Boolean,
}


def is_postgres(connection: Connection) -> bool:
    """Whether the connection is to PostgreSQL (else SQLite)."""
    return connection.dialect.name == "postgresql"


def sql_table_name(qualified: str, postgres: bool) -> str:
    """How SQL names a published table: ``isgri.scw`` or ``"isgri.scw"`` (SQLite)."""
    schema, _, name = qualified.lower().partition(".")
    return f"{schema}.{name}" if postgres else f'"{schema}.{name}"'


def _column_type(datatype: str) -> TypeEngine[Any]:
    kind = _TYPES[datatype]
    return kind(53) if kind is Float else kind()  # type: ignore[call-arg]


def db_name(column: ColumnDecl) -> str:
    """The database name of a column (a delimited ADQL name such as ``"size"`` loses its
    quotes)."""
    return column.name.strip('"')


def sql_table(declaration: TableDecl, metadata: MetaData, postgres: bool) -> Table:
    """A SQLAlchemy table with the declared columns."""
    schema, _, name = declaration.name.lower().partition(".")
    columns = [
        Column(db_name(c), _column_type(c.datatype), primary_key="primary" in c.flags)
        for c in declaration.columns
    ]
    if postgres:
        return Table(name, metadata, *columns, schema=schema)
    return Table(f"{schema}.{name}", metadata, *columns)


class SphereCircle(UserDefinedType[str]):
    """pgsphere's ``scircle``, written from STC-S (``CIRCLE ICRS ra dec r``)."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "scircle"

    def bind_processor(self, dialect: Any) -> Any:
        return lambda value: None if value is None else pgsphere_circle(value)

    def bind_expression(self, bindvalue: BindParameter[str]) -> ColumnElement[str]:
        return cast(bindvalue, self)


def tap_tables(postgres: bool) -> dict[str, Table]:
    """The real tables (not the views): detections, product ObsCore rows, TAP_SCHEMA."""
    metadata = MetaData()
    tables = {DETECTIONS.name: sql_table(DETECTIONS, metadata, postgres)}
    for declaration in TAP_SCHEMA_TABLES:
        tables[declaration.name] = sql_table(declaration, metadata, postgres)
    obscore = [
        Column(
            c.name,
            SphereCircle() if postgres and c.name == "s_region" else _column_type(c.datatype),
            primary_key="primary" in c.flags,
        )
        for c in OBSCORE.columns
    ]
    tables[PRODUCT_OBSCORE] = Table(PRODUCT_OBSCORE, metadata, *obscore)
    tables[SERVICE_INFO] = Table(
        SERVICE_INFO,
        metadata,
        Column("ivoid", Text, primary_key=True),
        Column("base_url", Text, nullable=False),
    )
    return tables


def _scw_view(postgres: bool) -> str:
    mjd = f"{IJD_TO_MJD!r}"
    return (
        f"CREATE VIEW {sql_table_name(SCW.name, postgres)} AS SELECT "
        "scw_id, revolution, ra_x AS ra, dec_x AS dec, "
        f"tstart + {mjd} AS t_min, tstop + {mjd} AS t_max, ontime, deadc, "
        "CAST(n_events AS BIGINT) AS n_events, CAST(file_size AS BIGINT) AS file_size "
        "FROM archive_scw"
    )


def _obscore_view(postgres: bool, regions: bool = True) -> str:
    """ObsCore rows of the science windows (event lists), then the published products'.

    ``s_region`` is STC-S text on SQLite (its geometry functions read STC-S) and a pgsphere
    ``scircle`` on PostgreSQL (``regions``; ``False`` gives revision s003's STC-S text).
    """
    mjd = f"{IJD_TO_MJD!r}"
    radius = SCW_FOV_DEG / 2
    # The default camera's energy range as wavelengths (m): lambda = hc / E.
    spec = get_instrument(DEFAULT_INSTRUMENT)
    e_lo, e_hi = spec.energy_range_kev
    em_min, em_max = _HC_KEV_M / e_hi, _HC_KEV_M / e_lo
    events_file = spec.layout.events_file
    scw_values = {
        "dataproduct_type": "CAST('event' AS TEXT)",
        "calib_level": "1",
        "obs_collection": "CAST('INTEGRAL/ISGRI' AS TEXT)",
        "obs_id": "scw_id",
        "obs_publisher_did": "i.ivoid || '/scw?' || scw_id",
        "access_url": f"i.base_url || '/archive/scw/' || scw_id || '/{events_file}'",
        "access_format": "CAST('application/fits' AS TEXT)",
        "access_estsize": "CAST(file_size / 1024 AS BIGINT)",
        "target_name": "CAST('ScW ' AS TEXT) || scw_id",
        "s_ra": "ra_x",
        "s_dec": "dec_x",
        "s_fov": f"{SCW_FOV_DEG!r}",
        "s_region": (
            _SCW_REGION_PG
            if postgres and regions
            else "CAST('CIRCLE ICRS ' AS TEXT) || CAST(ra_x AS TEXT) || ' ' || "
            f"CAST(dec_x AS TEXT) || ' {radius!r}'"
        ),
        "s_resolution": "720.0",
        "s_xel1": "CAST(NULL AS BIGINT)",
        "s_xel2": "CAST(NULL AS BIGINT)",
        "t_xel": "CAST(n_events AS BIGINT)",
        "t_min": f"tstart + {mjd}",
        "t_max": f"tstop + {mjd}",
        "t_exptime": "ontime * deadc",
        "t_resolution": "6.1e-05",
        "em_xel": "CAST(2048 AS BIGINT)",
        "em_min": f"{em_min!r}",
        "em_max": f"{em_max!r}",
        "em_res_power": "CAST(NULL AS DOUBLE PRECISION)",
        "o_ucd": "CAST('phot.count' AS TEXT)",
        "pol_states": "CAST(NULL AS TEXT)",
        "pol_xel": "CAST(NULL AS BIGINT)",
        "facility_name": "CAST('INTEGRAL' AS TEXT)",
        "instrument_name": "CAST('IBIS/ISGRI' AS TEXT)",
    }
    names = [c.name for c in OBSCORE.columns]
    scw = ", ".join(f"{scw_values[n]} AS {n}" for n in names)
    products = ", ".join(names)
    return (
        f"CREATE VIEW {sql_table_name(OBSCORE.name, postgres)} AS "
        f"SELECT {scw} FROM archive_scw CROSS JOIN {SERVICE_INFO} AS i "
        f"UNION ALL SELECT {products} FROM {PRODUCT_OBSCORE}"
    )


def create_tap_objects(connection: Connection) -> None:
    """Create schemas, tables, views and indexes (PostgreSQL: pgsphere first)."""
    postgres = is_postgres(connection)
    if postgres:
        try:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_sphere"))
        except DBAPIError as exc:
            raise RuntimeError(
                "TAP on PostgreSQL needs the pgsphere extension (Debian postgresql-15-pgsphere, "
                "installed and corrected by scripts/_bootstrap.sh; see docs/tap.md) and a role "
                f"that may create it: {str(exc.orig).splitlines()[0]}"
            ) from exc
        for schema in _SCHEMAS:
            # Left over when the database lost only its public schema (the migration is not
            # recorded there any more): start again from the declarations.
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        # queryparser writes DISTANCE(...) < r as spoint_dwithin, which pgsphere has only
        # from 1.3 on; as an inlined containment it uses the GiST indexes.
        connection.execute(
            text(
                "CREATE OR REPLACE FUNCTION public.spoint_dwithin(spoint, spoint, double "
                "precision) RETURNS boolean AS 'SELECT $1 @ scircle($2, $3)' "
                "LANGUAGE SQL IMMUTABLE STRICT"
            )
        )
        for axis, fn in (("1", "long"), ("2", "lat")):
            connection.execute(
                text(
                    f"CREATE OR REPLACE FUNCTION public.coord{axis}(spoint) RETURNS double "
                    f"precision AS 'SELECT degrees({fn}($1))' LANGUAGE SQL IMMUTABLE STRICT"
                )
            )
    tables = tap_tables(postgres)
    for table in tables.values():
        table.create(connection, checkfirst=True)
    connection.execute(text(_scw_view(postgres)))
    connection.execute(text(_obscore_view(postgres)))
    detections = sql_table_name(DETECTIONS.name, postgres)
    connection.execute(text(f"CREATE INDEX ix_detections_product ON {detections} (product_id)"))
    connection.execute(
        text(f"CREATE INDEX ix_product_obscore_t ON {PRODUCT_OBSCORE} (t_min, t_max)")
    )
    if postgres:
        for name, indexed, ra, dec in (
            ("ix_detections_pos", detections, "ra", "dec"),
            ("ix_product_obscore_pos", PRODUCT_OBSCORE, "s_ra", "s_dec"),
            ("ix_archive_scw_pos", "archive_scw", "ra_x", "dec_x"),
        ):
            connection.execute(
                text(
                    f"CREATE INDEX {name} ON {indexed} USING gist "
                    f"(spoint(radians({ra}), radians({dec})))"
                )
            )
    else:
        connection.execute(text(f"CREATE INDEX ix_detections_dec ON {detections} (dec)"))
    create_region_objects(connection)
    fill_tap_schema(connection)


def create_region_objects(connection: Connection) -> None:
    """Make ``ivoa.obscore.s_region`` a pgsphere geometry with GiST indexes (revision s004).

    Idempotent: a database made by :func:`create_tap_objects` of this version has them
    already. SQLite keeps STC-S text, which its geometry functions read.
    """
    if not is_postgres(connection):
        return
    current = connection.execute(
        text(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = :t AND column_name = 's_region'"
        ),
        {"t": PRODUCT_OBSCORE},
    ).scalar_one()
    if current == "text":  # the products' STC-S circles (s003), as scircle
        obscore = sql_table_name(OBSCORE.name, True)
        connection.execute(text(f"DROP VIEW IF EXISTS {obscore}"))
        connection.execute(
            text(
                f"ALTER TABLE {PRODUCT_OBSCORE} ALTER COLUMN s_region TYPE scircle USING "
                "scircle(spoint(radians(s_ra), radians(s_dec)), radians(s_fov / 2))"
            )
        )
        connection.execute(text(_obscore_view(True)))
    connection.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS ix_product_obscore_region ON {PRODUCT_OBSCORE} "
            "USING gist (s_region)"
        )
    )
    connection.execute(
        text(
            "CREATE INDEX IF NOT EXISTS ix_archive_scw_region ON archive_scw "
            f"USING gist ({_SCW_REGION_PG})"
        )
    )
    _point_overlaps(connection, create=True)


#: INTERSECTS with a point is CONTAINS (ADQL 2.1); pgsphere has no ``&&`` for points, so
#: these inlined SQL functions give it one (and keep the GiST indexes usable).
_POINT_OVERLAPS = (
    ("spoint", "scircle"),
    ("spoint", "spoly"),
    ("scircle", "spoint"),
    ("spoly", "spoint"),
)


def _point_overlaps(connection: Connection, create: bool) -> None:
    for left, right in _POINT_OVERLAPS:
        name = f"public.tap_overlaps_{left}_{right}"
        body = "$1 @ $2" if left == "spoint" else "$2 @ $1"
        if not create:
            connection.execute(text(f"DROP OPERATOR IF EXISTS && ({left}, {right})"))
            connection.execute(text(f"DROP FUNCTION IF EXISTS {name}({left}, {right})"))
            continue
        connection.execute(
            text(
                f"CREATE OR REPLACE FUNCTION {name}({left}, {right}) RETURNS boolean AS "
                f"'SELECT {body}' LANGUAGE SQL IMMUTABLE STRICT"
            )
        )
        exists = connection.execute(
            text(
                "SELECT 1 FROM pg_operator WHERE oprname = '&&' "
                "AND oprleft = CAST(:l AS regtype) AND oprright = CAST(:r AS regtype)"
            ),
            {"l": left, "r": right},
        ).first()
        if exists is None:
            connection.execute(
                text(
                    f"CREATE OPERATOR && (LEFTARG = {left}, RIGHTARG = {right}, FUNCTION = {name})"
                )
            )


def drop_region_objects(connection: Connection) -> None:
    """Undo :func:`create_region_objects`: s_region back to STC-S text (revision s003)."""
    if not is_postgres(connection):
        return
    obscore = sql_table_name(OBSCORE.name, True)
    _point_overlaps(connection, create=False)
    connection.execute(text("DROP INDEX IF EXISTS ix_archive_scw_region"))
    connection.execute(text("DROP INDEX IF EXISTS ix_product_obscore_region"))
    connection.execute(text(f"DROP VIEW IF EXISTS {obscore}"))
    connection.execute(
        text(
            f"ALTER TABLE {PRODUCT_OBSCORE} ALTER COLUMN s_region TYPE text USING "
            "'CIRCLE ICRS ' || degrees(long(center(s_region))) "
            "|| ' ' || degrees(lat(center(s_region))) || ' ' || degrees(radius(s_region))"
        )
    )
    connection.execute(text(_obscore_view(True, regions=False)))


def set_service_info(connection: Connection, ivoid: str, base_url: str) -> None:
    """Record the identifier and public URL the science windows' ObsCore rows are built with."""
    table = tap_tables(is_postgres(connection))[SERVICE_INFO]
    row = connection.execute(table.select()).first()
    if row is not None and (row.ivoid, row.base_url) == (ivoid, base_url):
        return
    connection.execute(table.delete())
    connection.execute(table.insert(), {"ivoid": ivoid, "base_url": base_url.rstrip("/")})


def drop_tap_objects(connection: Connection) -> None:
    """Undo :func:`create_tap_objects` (the extension stays)."""
    postgres = is_postgres(connection)
    for view in (OBSCORE, SCW):
        connection.execute(text(f"DROP VIEW IF EXISTS {sql_table_name(view.name, postgres)}"))
    if postgres:
        connection.execute(text("DROP INDEX IF EXISTS ix_archive_scw_pos"))
        connection.execute(text("DROP INDEX IF EXISTS ix_archive_scw_region"))
    for table in tap_tables(postgres).values():
        table.drop(connection, checkfirst=True)


def _rows(tables: Iterable[TableDecl]) -> Iterable[tuple[int, TableDecl]]:
    return enumerate(tables)


def tap_schema_rows() -> dict[str, list[dict[str, Any]]]:
    """The rows of every ``TAP_SCHEMA`` table, from the declarations."""
    schemas = (*PUBLISHED_SCHEMAS, TAP_SCHEMA)
    schema_rows, table_rows, column_rows = [], [], []
    for s_index, schema in enumerate(schemas):
        schema_rows.append(
            {
                "schema_name": schema.name,
                "utype": None,
                "description": schema.description,
                "schema_index": s_index,
            }
        )
        for t_index, table in _rows(schema.tables):
            table_rows.append(
                {
                    "schema_name": schema.name,
                    "table_name": table.name,
                    "table_type": "view" if table.table_type == "view" else "table",
                    "utype": table.utype,
                    "description": table.description,
                    "table_index": 10 * s_index + t_index,
                }
            )
            std = table is OBSCORE or schema is TAP_SCHEMA
            for c_index, column in enumerate(table.columns):
                column_rows.append(
                    {
                        "table_name": table.name,
                        "column_name": column.name,
                        "datatype": column.datatype,
                        "arraysize": column.arraysize,
                        "xtype": column.xtype,
                        "size": None,  # deprecated by TAP 1.1
                        "description": column.description,
                        "utype": column.utype,
                        "unit": column.unit,
                        "ucd": column.ucd,
                        "indexed": int("indexed" in column.flags),
                        "principal": 1,
                        "std": int(std),
                        "column_index": c_index,
                    }
                )
    return {
        "TAP_SCHEMA.schemas": schema_rows,
        "TAP_SCHEMA.tables": table_rows,
        "TAP_SCHEMA.columns": column_rows,
        "TAP_SCHEMA.keys": [
            {"key_id": k, "from_table": f, "target_table": t, "description": None, "utype": None}
            for k, f, t, _, _ in FOREIGN_KEYS
        ],
        "TAP_SCHEMA.key_columns": [
            {"key_id": k, "from_column": fc, "target_column": tc}
            for k, _, _, fc, tc in FOREIGN_KEYS
        ],
    }


_FILL_ORDER = (
    "TAP_SCHEMA.schemas",
    "TAP_SCHEMA.tables",
    "TAP_SCHEMA.columns",
    "TAP_SCHEMA.keys",
    "TAP_SCHEMA.key_columns",
)


def fill_tap_schema(connection: Connection) -> None:
    """Write ``TAP_SCHEMA`` from the declarations (replacing what was there)."""
    tables = tap_tables(is_postgres(connection))
    for name in reversed(_FILL_ORDER):
        connection.execute(tables[name].delete())
    for name, rows in tap_schema_rows().items():
        connection.execute(tables[name].insert(), rows)


def _as_set(rows: Iterable[Any]) -> set[tuple[tuple[str, Any], ...]]:
    return {tuple(sorted(dict(row).items())) for row in rows}


def ensure_tap_schema(connection: Connection) -> bool:
    """Rewrite ``TAP_SCHEMA`` when it differs from the declarations (a service upgraded
    without a migration of its own); whether it was rewritten."""
    postgres = is_postgres(connection)
    tables = tap_tables(postgres)
    if postgres:  # one process rewrites; the others wait, then find it current
        connection.execute(text("LOCK TABLE tap_schema.schemas IN SHARE ROW EXCLUSIVE MODE"))
    expected = tap_schema_rows()
    for name, rows in expected.items():
        current = connection.execute(tables[name].select()).mappings()
        if _as_set(current) != _as_set(rows):
            fill_tap_schema(connection)
            return True
    return False
