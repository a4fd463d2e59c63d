"""Database engine creation and schema migrations for every package that owns tables.

Each package keeps its own Alembic migration folder and its own version table, so the
packages stay independent (``uws`` knows nothing of the telescope) while one command
brings the whole database up to date.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text

__all__ = ["MIGRATION_PACKAGES", "database_revisions", "make_engine", "upgrade_database"]

#: Key of the PostgreSQL advisory lock that serialises migrations ("vomigrat" in ASCII).
_MIGRATION_LOCK = 0x766F6D6967726174

#: Packages holding an Alembic ``migrations`` folder, with the version table each one uses.
MIGRATION_PACKAGES: dict[str, str] = {
    "processing.archive": "alembic_version_archive",
    "processing.pipeline": "alembic_version_pipeline",
    "uws": "alembic_version_uws",
    "vo_service": "alembic_version_service",
}


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL mode and a busy timeout so that threads can share it."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _config(engine: Engine, package: str, version_table: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files(package) / "migrations"))
    config.attributes["connection_engine"] = engine
    config.attributes["version_table"] = version_table
    return config


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, one process at a time migrates: a web service and several runners that
    start together would otherwise race to create the same tables."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
            connection.commit()


def upgrade_database(engine: Engine) -> None:
    """Apply every package's migrations up to its head revision (one process at a time)."""
    with _migration_lock(engine):
        for package, version_table in MIGRATION_PACKAGES.items():
            command.upgrade(_config(engine, package, version_table), "head")


def database_revisions(engine: Engine) -> dict[str, tuple[str | None, str | None]]:
    """Each package's (current, head) revision; current is ``None`` before its first migration.

    Raises
    ------
    sqlalchemy.exc.OperationalError
        When the database cannot be reached.
    """
    found: dict[str, tuple[str | None, str | None]] = {}
    with engine.connect() as connection:
        for package, version_table in MIGRATION_PACKAGES.items():
            script = ScriptDirectory.from_config(_config(engine, package, version_table))
            context = MigrationContext.configure(connection, opts={"version_table": version_table})
            found[package] = (context.get_current_revision(), script.get_current_head())
    return found
