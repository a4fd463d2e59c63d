"""``vo-service db``: the database schema (every package's migrations)."""

from __future__ import annotations

import click

from vo_service.cli._main import load_settings, main

__all__ = ["db"]


@main.group()
def db() -> None:
    """Bring the database schema up to date, or check it."""


@db.command()
def upgrade() -> None:
    """Apply every pending migration (idempotent; concurrent starts on PostgreSQL wait)."""
    from vo_service.db import database_revisions, make_engine, upgrade_database

    settings = load_settings()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade_database(engine)
        for package, (current, _) in database_revisions(engine).items():
            click.echo(f"{package}: {current}")
    finally:
        engine.dispose()


@db.command()
def check() -> None:
    """Exit 0 when the database answers and every package is at its head revision (a health
    check of runners and web servers)."""
    from sqlalchemy.exc import SQLAlchemyError

    from vo_service.db import database_revisions, make_engine

    settings = load_settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        revisions = database_revisions(engine)
    except SQLAlchemyError as exc:
        # The driver's message may name the host; the exception class says enough.
        raise click.ClickException(f"database unreachable ({type(exc).__name__})") from exc
    finally:
        engine.dispose()
    behind = [f"{p} at {c} (head {h})" for p, (c, h) in revisions.items() if c != h]
    if behind:
        raise click.ClickException("database not upgraded: " + "; ".join(behind))
    click.echo("database up to date")
