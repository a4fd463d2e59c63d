"""A real ``vo-service serve`` process over the tiny archive, shared by the tests that talk to
the service as its users' clients do (pyvo, requests, the package's own client)."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from processing.simulator import SimulationResult
from vo_service.testing import serving

if TYPE_CHECKING:
    from vo_service._context import ServiceContext


@pytest.fixture(scope="session")
def live_service(
    tmp_path_factory: pytest.TempPathFactory, tiny_archive: SimulationResult
) -> Iterator[str]:
    """Base URL of a ``vo-service serve`` process on a copy of the tiny archive (one per test
    session: its product cache is shared, so tests must not assume a cold cache)."""
    root = tmp_path_factory.mktemp("live_service")
    shutil.copytree(tiny_archive.root, root / "var" / "archive")
    with serving(root / "var", "--threads", "4") as base:
        yield base


@dataclass
class InProcessService:
    """The application built by :func:`in_process_service`, with what the caller prepared."""

    app: Flask
    context: ServiceContext
    base_url: str
    prepared: Any = None


@contextmanager
def in_process_service(
    root: Path,
    archive: SimulationResult,
    *,
    serve: bool = False,
    prepare: Callable[[ServiceContext], Any] | None = None,
    **overrides: Any,
) -> Iterator[InProcessService]:
    """The application over a copy of ``archive`` in ``root`` with a job runner in this
    process; with ``serve``, also over HTTP on a free local port (its ``public_base_url``).
    ``prepare`` runs on the context after the ingest, before the application is built."""
    from werkzeug.serving import make_server

    from vo_service._context import ServiceContext
    from vo_service._jobs import UWS_EXTENSION, build_runner
    from vo_service.app import create_app
    from vo_service.settings import Settings

    shutil.copytree(archive.root, root / "archive")
    port = 0
    if serve:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        overrides.setdefault("public_base_url", f"http://127.0.0.1:{port}")
    settings = Settings.load(
        data_dir=root / "var",
        archive_path=root / "archive",
        executor="inline",
        network_resolvers=False,
        uws_identity="none",
        runner_poll_interval=0.05,
        **overrides,
    )
    context = ServiceContext.build(settings)
    context.archive.ingest()
    prepared = prepare(context) if prepare is not None else None
    app = create_app(settings, context)
    runner = build_runner(settings, app.extensions[UWS_EXTENSION])
    runner.start()
    server = make_server("127.0.0.1", port, app, threaded=True) if serve else None
    if server is not None:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield InProcessService(app, context, settings.public_base_url, prepared)
    finally:
        if server is not None:
            server.shutdown()
        runner.stop()
        app.extensions[UWS_EXTENSION].close()  # its PostgreSQL listener, before a drop
        context.engine.dispose()


@contextmanager
def service_with_runner(
    root: Path, archive: SimulationResult
) -> Iterator[tuple[FlaskClient, ServiceContext]]:
    """The application over a copy of ``archive`` in ``root``, with a job runner in this
    process: a Flask test client and the service context."""
    with in_process_service(root, archive) as service:
        yield service.app.test_client(), service.context
