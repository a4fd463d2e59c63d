"""The web front end for astronomers: request form, job list, product pages.

Server-rendered pages (Flask + Jinja2) over the same UWS product jobs and product store as
``/async`` and DataLink; small progressive scripts add live progress, inline validation, the
sky view (Aladin Lite) and plots (Plotly), all served by the service itself from the npm
packages installed by ``scripts/_bootstrap.sh`` (``vo_service/web/package-lock.json``).
See ``docs/web.md``.
"""

from __future__ import annotations

from vo_service.web import _account  # noqa: F401  (registers the account pages)
from vo_service.web._views import install_web

__all__ = ["install_web"]
