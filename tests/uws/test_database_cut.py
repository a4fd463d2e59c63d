"""Fault injection: the database connection is cut in the middle of running jobs (a TCP proxy
between the service and PostgreSQL drops every connection and refuses new ones for a while).
Afterwards every job completes and none stays EXECUTING (issue 17, "faults")."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.uws._helpers import create
from tests.uws.conftest import UWSEnv, start_runner, uws_env
from uws import ExecutionPhase

pytestmark = pytest.mark.postgres


class CuttableProxy:
    """A TCP forwarder that can drop every connection and refuse new ones until restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.stopping = False
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()  # the database is "down": refuse
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, server]
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    def cut(self) -> None:
        self.up.clear()
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._open.clear()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.stopping = True
        self.cut()
        self.listener.close()


@pytest.fixture
def proxied(postgres_url: str, tmp_path: Path) -> Iterator[tuple[UWSEnv, CuttableProxy]]:
    url = make_url(postgres_url)
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        with uws_env(through, tmp_path) as env:
            yield env, proxy
    finally:
        proxy.close()
        engine = create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()


def test_jobs_complete_after_the_database_comes_back(
    proxied: tuple[UWSEnv, CuttableProxy],
) -> None:
    env, proxy = proxied
    client = env.client()
    runner = start_runner(env, slots=2, poll_interval=0.1, heartbeat_interval=0.3, stale_after=2.0)
    try:
        jobs = [create(client, KIND="sleep", PHASE="RUN", SECONDS="1", STEPS="4") for _ in range(6)]
        time.sleep(1.2)  # some jobs running, some queued
        proxy.cut()
        time.sleep(3.0)  # every query fails meanwhile: claims, progress, completions
        proxy.restore()
        deadline = time.monotonic() + 90
        phases: dict[str, str | None] = {}
        while time.monotonic() < deadline:
            try:
                phases = {j: env.store.get_phase(j) for j in jobs}
            except Exception:  # the pool may still hold a dropped connection: ask again
                time.sleep(0.2)
                continue
            if all(p == ExecutionPhase.COMPLETED for p in phases.values()):
                break
            time.sleep(0.2)
        assert all(p == ExecutionPhase.COMPLETED for p in phases.values()), phases
        counts = env.store.count_by_phase()
        assert ExecutionPhase.EXECUTING.value not in counts, counts
    finally:
        runner.stop()
