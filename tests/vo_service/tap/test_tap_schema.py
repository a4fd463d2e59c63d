"""TAP_SCHEMA is made from the table declarations and follows them after an upgrade."""

from __future__ import annotations

from sqlalchemy import text

from vo_service._tap_db import ensure_tap_schema, is_postgres, sql_table_name
from vo_service._tap_tables import PUBLISHED_TABLES, TAP_SCHEMA_TABLES
from vo_service.db import make_engine, upgrade_database


def test_tap_schema_matches_the_declarations_and_is_repaired(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade_database(engine)
    try:
        with engine.begin() as connection:
            assert not ensure_tap_schema(connection)  # the migration wrote it
            columns = sql_table_name("TAP_SCHEMA.columns", is_postgres(connection))
            declared = sum(len(t.columns) for t in (*PUBLISHED_TABLES, *TAP_SCHEMA_TABLES))
            count = connection.execute(text(f"SELECT COUNT(*) FROM {columns}")).scalar()
            assert count == declared
            connection.execute(text(f"UPDATE {columns} SET unit = 'furlong' WHERE unit = 'deg'"))
            connection.execute(text(f"DELETE FROM {columns} WHERE column_name = 'r90'"))
            assert ensure_tap_schema(connection)  # an older version's TAP_SCHEMA
            assert not ensure_tap_schema(connection)
            units = connection.execute(text(f"SELECT DISTINCT unit FROM {columns}")).scalars()
            assert "furlong" not in set(units)
    finally:
        engine.dispose()
