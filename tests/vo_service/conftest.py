"""A real ``vo-service serve`` process over the tiny archive, shared by the tests that talk to
the service as its users' clients do (pyvo, requests, the package's own client)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from flask.testing import FlaskClient

from processing.simulator import SimulationResult

if TYPE_CHECKING:
    from vo_service._context import ServiceContext


def start_server(
    data_dir: Path, extra_env: dict[str, str] | None = None
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start ``vo-service serve`` on a free port with its data in ``data_dir``; (base URL,
    process) once ``/health`` answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "VO_SERVICE_DATA_DIR": str(data_dir),
        "VO_SERVICE_PORT": str(port),
        "VO_SERVICE_PUBLIC_BASE_URL": base,
        "VO_SERVICE_EXECUTOR": "inline",
        "VO_SERVICE_NETWORK_RESOLVERS": "false",
        **(extra_env or {}),
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "vo-service"), "serve", "--threads", "4"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(f"{base}/health", timeout=2).status_code == 200:
                return base, server
        except requests.RequestException:
            pass
        if server.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            server.terminate()
            raise RuntimeError("the server did not start")
        time.sleep(0.3)


@pytest.fixture(scope="session")
def live_service(
    tmp_path_factory: pytest.TempPathFactory, tiny_archive: SimulationResult
) -> Iterator[str]:
    """Base URL of a ``vo-service serve`` process on a copy of the tiny archive (one per test
    session: its product cache is shared, so tests must not assume a cold cache)."""
    root = tmp_path_factory.mktemp("live_service")
    shutil.copytree(tiny_archive.root, root / "var" / "archive")
    base, server = start_server(root / "var")
    try:
        yield base
    finally:
        server.terminate()
        server.wait(30)


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
