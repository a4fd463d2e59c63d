"""``vo-service archive``: simulate, ingest and list the event archive."""

from __future__ import annotations

from vo_service.cli._main import main

__all__ = ["archive"]


@main.group()
def archive() -> None:
    """Manage the science-window archive."""
