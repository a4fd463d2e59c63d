"""Alembic environment of the archive tables (run through vo_service.db.upgrade_database)."""

from __future__ import annotations

from alembic import context

from processing.archive._tables import ArchiveBase

config = context.config
engine = config.attributes["connection_engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=ArchiveBase.metadata,
        version_table=config.attributes.get("version_table", "alembic_version_archive"),
    )
    with context.begin_transaction():
        context.run_migrations()
