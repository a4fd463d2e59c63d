"""``vo-service registry``: the VOResource record for operators who register by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vo_service.cli._main import load_settings, main

__all__ = ["registry"]


@main.group()
def registry() -> None:
    """Publish the service in the IVOA registry."""


@registry.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the record to this file instead of standard output.",
)
@click.option(
    "--which",
    type=click.Choice(["service", "registry", "authority"]),
    default="service",
    show_default=True,
    help="Which record: the data service, the publishing registry or the naming authority.",
)
def record(output: Path | None, which: str) -> None:
    """Write a VOResource record (the same one OAI-PMH serves)."""
    from registry import document_bytes
    from vo_service._publishing import publication_of
    from vo_service.app import create_app

    settings = load_settings()
    publication = publication_of(create_app(settings))
    identifier = {
        "service": publication.identity.service_id,
        "registry": publication.identity.registry_id,
        "authority": publication.identity.authority_id,
    }[which]
    document = document_bytes(publication.resource(identifier))
    if output is None:
        sys.stdout.buffer.write(document)
    else:
        output.write_bytes(document)
        click.echo(f"wrote {identifier} to {output}", err=True)
