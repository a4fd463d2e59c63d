"""Database engine creation and schema migrations for every package that owns tables.

Each package keeps its own Alembic migration folder and its own version table, so the
packages stay independent (``uws`` knows nothing of the telescope) while one command
brings the whole database up to date.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

__all__ = ["MIGRATION_PACKAGES", "make_engine", "upgrade_database"]

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


def upgrade_database(engine: Engine) -> None:
    """Apply every package's migrations up to its head revision."""
    for package, version_table in MIGRATION_PACKAGES.items():
        folder = resources.files(package) / "migrations"
        config = Config()
        config.set_main_option("script_location", str(folder))
        config.attributes["connection_engine"] = engine
        config.attributes["version_table"] = version_table
        command.upgrade(config, "head")
