"""Browser libraries from npm, served by the service itself (never from a CDN).

``scripts/_bootstrap.sh`` runs ``npm ci`` in ``vo_service/web/`` (``package-lock.json``), which
puts the packages under ``vo_service/web/node_modules/``; only the files named here are served,
at ``/web/vendor/<name>``. Pages ask :func:`vendor_available` before linking a library, so a
checkout without them shows the pages without the sky view and plots, never a broken script.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_file
from flask.typing import ResponseReturnValue

__all__ = ["VENDOR_FILES", "vendor_available", "vendor_blueprint"]

NODE_MODULES = Path(__file__).parent / "node_modules"
#: Served name -> file under node_modules.
VENDOR_FILES = {
    "aladin.js": "aladin-lite/dist/aladin.js",
    "plotly-basic.min.js": "plotly.js-basic-dist-min/plotly-basic.min.js",
}


def vendor_available(name: str) -> bool:
    """Whether the library file ``name`` is installed."""
    return name in VENDOR_FILES and (NODE_MODULES / VENDOR_FILES[name]).is_file()


def vendor_blueprint() -> Blueprint:
    """``GET /web/vendor/<name>``: the installed library files, cached a day by browsers."""
    bp = Blueprint("web_vendor", __name__)

    @bp.get("/web/vendor/<name>")
    def vendor(name: str) -> ResponseReturnValue:
        if not vendor_available(name):
            abort(404, description="no such library file")
        return send_file(
            NODE_MODULES / VENDOR_FILES[name],
            mimetype="text/javascript",
            conditional=True,
            max_age=86400,
        )

    return bp
