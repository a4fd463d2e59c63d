"""Alembic environment of the ``uws`` tables (version table ``alembic_version_uws``).

Run through :func:`vo_service.db.upgrade_database`, which passes the engine and the
version table in ``config.attributes``.
"""

from __future__ import annotations

from alembic import context

from uws._schema import Base

config = context.config
engine = config.attributes["connection_engine"]
version_table = config.attributes.get("version_table", "alembic_version_uws")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=version_table,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
