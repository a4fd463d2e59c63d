"""``vo-service tap``: the published tables of the TAP service."""

from __future__ import annotations

import click

from vo_service.cli._main import load_settings, main

__all__ = ["tap"]


@main.group()
def tap() -> None:
    """The tables TAP, cone search and SIA serve (ivoa.obscore, isgri.detections)."""


@tap.command()
def publish() -> None:
    """Publish every stored product again (products stored before TAP existed, or repairs)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from vo_service._context import ServiceContext
    from vo_service._store_tables import ProductRow
    from vo_service._tap_publish import publish_stored

    context = ServiceContext.build(load_settings())
    with Session(context.engine) as session:
        hashes = list(session.scalars(select(ProductRow.hash).order_by(ProductRow.created_at)))
    for product_hash in hashes:
        stored = context.store.get(product_hash)
        if stored is not None:
            publish_stored(context, [stored])
    click.echo(f"{len(hashes)} products published")
