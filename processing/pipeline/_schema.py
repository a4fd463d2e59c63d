"""The cache index tables (SQLAlchemy 2 typed ORM) and their Alembic migration entry point."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import BigInteger, Boolean, DateTime, Dialect, Engine, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "VERSION_TABLE",
    "CacheEntryRow",
    "CacheLeaseRow",
    "PipelineBase",
    "upgrade_cache_schema",
]

#: Alembic version table of this package (see ``vo_service.db.MIGRATION_PACKAGES``).
VERSION_TABLE = "alembic_version_pipeline"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class PipelineBase(DeclarativeBase):
    """Declarative base of the pipeline's tables (its own metadata)."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "pk": "pk_%(table_name)s",
        }
    )


class CacheEntryRow(PipelineBase):
    """One published cache entry."""

    __tablename__ = "pipeline_cache_entries"

    provenance_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit: Mapped[str] = mapped_column(String(128), index=True)
    unit_version: Mapped[str] = mapped_column(String(64))
    codec: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    hit_count: Mapped[int] = mapped_column(Integer, default=0)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)


class CacheLeaseRow(PipelineBase):
    """A running job's claim on an entry (present or still to be computed)."""

    __tablename__ = "pipeline_cache_leases"

    provenance_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


def upgrade_cache_schema(engine: Engine) -> None:
    """Create or upgrade the cache index tables with this package's Alembic migrations.

    ``vo_service.db.upgrade_database`` does the same for every package; this function lets
    :mod:`processing` be used without the service.
    """
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("processing.pipeline") / "migrations")
    )
    config.attributes["connection_engine"] = engine
    config.attributes["version_table"] = VERSION_TABLE
    command.upgrade(config, "head")
