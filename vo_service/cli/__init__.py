"""The ``vo-service`` command line: one group, one module per topic.

Importing it loads click and the command declarations only; each command imports what it needs
when it runs, so ``--help`` answers at once.
"""

from __future__ import annotations

from vo_service.cli import (  # noqa: F401  (registers the sub-commands)
    _archive,
    _cache,
    _db,
    _registry,
    _serve,
    _tap,
    _tokens,
    _users,
    _worker,
)
from vo_service.cli._main import main

__all__ = ["main"]
