"""Alembic environment of the pipeline's cache index tables.

The engine and the version table come from ``config.attributes`` (set by
``vo_service.db.upgrade_database`` or :func:`processing.pipeline.upgrade_cache_schema`).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from processing.pipeline._schema import VERSION_TABLE, PipelineBase

config = context.config
target_metadata = PipelineBase.metadata


def run_migrations_online() -> None:
    """Run the migrations on the engine handed over by the caller."""
    engine: Engine = config.attributes["connection_engine"]
    version_table: str = config.attributes.get("version_table", VERSION_TABLE)
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=version_table,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; run against a database")
run_migrations_online()
