"""A ready WSGI application under gunicorn's production server (imported when ``serve`` runs)."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

__all__ = ["GunicornServer"]


class GunicornServer(BaseApplication):
    """Run a ready WSGI application under gunicorn with the given settings.

    Parameters
    ----------
    application
        The WSGI application, already built (gunicorn does not import it).
    options
        Gunicorn settings by name (``bind``, ``workers``, server hooks, ...).
    """

    def __init__(self, application: Any, options: dict[str, Any]) -> None:
        self._application = application
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._application
