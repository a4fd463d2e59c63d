"""The ``vo-service`` command line: one group, one module per topic."""

from __future__ import annotations

from vo_service.cli import _archive, _serve, _worker  # noqa: F401  (registers the sub-commands)
from vo_service.cli._main import main

__all__ = ["main"]
