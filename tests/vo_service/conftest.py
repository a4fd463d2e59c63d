"""A real ``vo-service serve`` process over the tiny archive, shared by the tests that talk to
the service as its users' clients do (pyvo, requests, the package's own client)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
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


@contextmanager
def service_with_runner(
    root: Path, archive: SimulationResult
) -> Iterator[tuple[FlaskClient, ServiceContext]]:
    """The application over a copy of ``archive`` in ``root``, with a job runner in this
    process: a Flask test client and the service context."""
    from vo_service._context import ServiceContext
    from vo_service._jobs import UWS_EXTENSION, build_runner
    from vo_service.app import create_app
    from vo_service.settings import Settings

    shutil.copytree(archive.root, root / "archive")
    settings = Settings.load(
        data_dir=root / "var",
        archive_path=root / "archive",
        executor="inline",
        network_resolvers=False,
        uws_identity="none",
        runner_poll_interval=0.05,
    )
    context = ServiceContext.build(settings)
    context.archive.ingest()
    app = create_app(settings, context)
    runner = build_runner(settings, app.extensions[UWS_EXTENSION])
    runner.start()
    try:
        yield app.test_client(), context
    finally:
        runner.stop()
