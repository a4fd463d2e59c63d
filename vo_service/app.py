"""The Flask application factory. No application is built at import time."""

from __future__ import annotations

from flask import Flask

from datalink import install_datalink
from registry import install_capabilities
from vo_service import _astguard
from vo_service._context import ServiceContext
from vo_service._datalink import StoreProductSource
from vo_service._downloads import downloads
from vo_service._errors import install_error_documents
from vo_service._jobs import register_uws
from vo_service._pages import pages
from vo_service._publishing import install_publishing
from vo_service.settings import Settings
from vo_service.web import install_web

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, context: ServiceContext | None = None) -> Flask:
    """Build the web application.

    Parameters
    ----------
    settings
        The service settings; read from the environment when omitted.
    context
        Shared service objects (database engine, archive index...). Built from
        ``settings`` when omitted; tests pass their own.
    """
    # The service runs threads (HTTP, job runners) that may parse at once: CPython 3.11.7 and
    # older can then fail ``ast.parse`` (werkzeug compiling routes, a traceback's caret lines).
    _astguard.install()
    settings = settings or Settings.load()
    context = context or ServiceContext.build(settings)
    app = Flask(__name__)
    app.config["SERVICE_CONTEXT"] = context
    app.extensions["vo_service"] = context
    install_error_documents(app, settings)
    # The capability registry first: every protocol blueprint registers its endpoint in it.
    install_capabilities(app)
    app.register_blueprint(pages)
    app.register_blueprint(downloads)
    register_uws(app, settings, context.engine)
    install_datalink(
        app,
        StoreProductSource(settings),
        public_url=settings.public_base_url,
        async_path="/soda/async",
    )
    install_publishing(app, context)
    install_web(app, settings, context)  # the pages for people, at /
    return app
