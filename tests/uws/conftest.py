"""Fixtures of the UWS tests: a migrated database, the service, a runner, a client.

Every XML response the test client receives is validated against the official UWS
1.1 or VOTable 1.3 schema before the test sees it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.uws._xsd import validate
from uws import (
    JobStore,
    KindRegistry,
    Runner,
    RunnerConfig,
    TrustedHeaderIdentity,
    UWSPolicy,
    UWSService,
    create_uws_blueprint,
    select_by_parameter,
)
from uws.testing import test_kinds
from vo_service.db import make_engine, upgrade_database


class ValidatingClient(FlaskClient):
    """A test client that validates every XML body it receives."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        mimetype = response.mimetype or ""
        if "xml" in mimetype and response.status_code != 304:
            validate(response.get_data())
        return response


@dataclass
class UWSEnv:
    store: JobStore
    service: UWSService
    app: Flask
    work_root: Path

    def client(self) -> ValidatingClient:
        return self.app.test_client()  # type: ignore[return-value]


def make_env(
    database_url: str, tmp_path: Path, kinds: KindRegistry | None = None, **policy: object
) -> UWSEnv:
    engine = make_engine(database_url)
    upgrade_database(engine)
    store = JobStore(engine)
    kinds = kinds or test_kinds()
    work_root = tmp_path / "jobs"
    service = UWSService(
        store,
        kinds,
        kind_selector=select_by_parameter("KIND", kinds, default="echo"),
        policy=UWSPolicy(
            max_execution_duration=int(policy.get("max_execution_duration", 600)),  # type: ignore[call-overload]
            default_destruction=dt.timedelta(days=7),
            wait_cap=float(policy.get("wait_cap", 10.0)),  # type: ignore[arg-type]
            poll_interval=0.5 if store.is_postgres else 0.05,
        ),
        work_root=work_root,
    )
    app = Flask("uws-test")
    app.test_client_class = ValidatingClient
    app.register_blueprint(
        create_uws_blueprint(service, TrustedHeaderIdentity("X-Remote-User"), sync_timeout=10)
    )
    return UWSEnv(store, service, app, work_root)


@contextmanager
def uws_env(
    database_url: str, tmp_path: Path, kinds: KindRegistry | None = None
) -> Iterator[UWSEnv]:
    """An environment (:func:`make_env`) closed afterwards."""
    e = make_env(database_url, tmp_path, kinds)
    try:
        yield e
    finally:
        e.store.close()
        e.store.engine.dispose()


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Iterator[UWSEnv]:
    with uws_env(database_url, tmp_path) as e:
        yield e


@pytest.fixture
def client(env: UWSEnv) -> ValidatingClient:
    return env.client()


def start_runner(env: UWSEnv, **config: object) -> Runner:
    runner = Runner(
        env.store,
        test_kinds(),
        RunnerConfig(work_root=env.work_root, **config),  # type: ignore[arg-type]
    )
    runner.start()
    return runner


@pytest.fixture
def runner(env: UWSEnv) -> Iterator[Runner]:
    r = start_runner(env, slots=2, poll_interval=0.1, cancel_grace=1.0, heartbeat_interval=0.5)
    yield r
    r.stop()


@pytest.fixture
def http_url(env: UWSEnv) -> Iterator[str]:
    """The app behind a real threaded HTTP server (for pyvo and the load test)."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, env.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
