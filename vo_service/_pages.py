"""Human-facing pages: the landing page and a health probe."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template_string
from flask.typing import ResponseReturnValue

from vo_service._version import __version__

__all__ = ["pages"]

pages = Blueprint("pages", __name__)

_LANDING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body>
<h1>{{ title }}</h1>
<p>Coded-mask hard-X-ray archive service, version {{ version }}. IVOA identifier
<code>{{ ivoid }}</code>.</p>
<p>The archive holds {{ n_scw }} science windows{% if span %}, IJD {{ "%.2f"|format(span[0]) }}
to {{ "%.2f"|format(span[1]) }}{% endif %}. Endpoints are listed in
<a href="capabilities">capabilities</a>;
availability in <a href="availability">availability</a>.</p>
</body></html>
"""


@pages.get("/")
def landing() -> ResponseReturnValue:
    """The landing page."""
    ctx = current_app.extensions["vo_service"]
    return render_template_string(
        _LANDING,
        title="INTEGRAL/ISGRI VO service",
        version=__version__,
        ivoid=ctx.settings.ivoid,
        n_scw=ctx.archive.count(),
        span=ctx.archive.time_span(),
    )


@pages.get("/health")
def health() -> ResponseReturnValue:
    """Liveness probe for load balancers (VOSI availability is the protocol answer)."""
    return jsonify(status="ok", version=__version__)
