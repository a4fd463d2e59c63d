"""Alembic environment of the service's own tables (product store)."""

from __future__ import annotations

from alembic import context

from vo_service._store_tables import ServiceBase

config = context.config
engine = config.attributes["connection_engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=ServiceBase.metadata,
        version_table=config.attributes.get("version_table", "alembic_version_service"),
    )
    with context.begin_transaction():
        context.run_migrations()
