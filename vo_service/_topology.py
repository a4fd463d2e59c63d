"""The distributed deployment as separate processes on one machine, for tests and benchmarks.

:class:`LocalTopology` starts what ``docker/compose.yaml`` runs as containers: a ``dask
scheduler``, Dask workers (``dask worker``, each with its nanny), ``vo-service worker`` job
runners and the web service (``vo-service serve --no-runner``), all sharing one data root and
one database. Each process runs in its own process group with its output in
``<data root>/logs/<name>.log``; leaving the ``with`` block ends every one of them, by SIGKILL
when SIGTERM is not enough. The Dask workers get no ``VO_SERVICE_*`` setting, a working folder
and a home of their own: what they need must reach them through their tasks.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import requests

__all__ = ["LocalTopology", "ManagedProcess", "free_port", "service_environment"]


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def service_environment(
    data_dir: Path, database_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a service process: this one's, less any ``VO_SERVICE_*`` setting,
    plus the data root, the database and ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("VO_SERVICE_")}
    return {
        **base,
        "VO_SERVICE_DATA_DIR": str(data_dir),
        "VO_SERVICE_DATABASE_URL": database_url,
        "VO_SERVICE_NETWORK_RESOLVERS": "false",
        **(extra or {}),
    }


@dataclass
class ManagedProcess:
    """One started process (the leader of its own process group)."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """Process id (also the process group id)."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the process and its group (a nanny's worker, a runner's job processes)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(30)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL what is left of the group after ``timeout`` seconds."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        self.kill()

    def tail(self, chars: int = 3000) -> str:
        """The end of its log."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@dataclass
class LocalTopology:
    """Scheduler, Dask workers, job runners and web service as separate local processes.

    Parameters
    ----------
    data_dir
        The shared data root (archive, cache, products, job folders under it).
    database_url
        The database of the runners and the web service (PostgreSQL for several runners).
    dask_workers, runners
        How many of each to start.
    settings
        Extra ``VO_SERVICE_*`` settings of the runners and the web service.
    worker_args
        Extra arguments of every ``dask worker`` (e.g. ``--preload``).
    worker_env
        Extra environment of the Dask workers.
    startup_timeout
        Seconds each part gets to come up.
    """

    data_dir: Path
    database_url: str
    dask_workers: int = 2
    runners: int = 2
    settings: Mapping[str, str] = field(default_factory=dict)
    worker_args: Sequence[str] = ()
    worker_env: Mapping[str, str] = field(default_factory=dict)
    worker_memory: str = "3GiB"
    startup_timeout: float = 120.0
    processes: list[ManagedProcess] = field(default_factory=list)
    scheduler_address: str = ""
    port: int = 0
    base_url: str = ""

    # Starting -------------------------------------------------------------------------------
    def _start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path
    ) -> ManagedProcess:
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{name}.log"
        with log.open("ab") as sink:
            popen = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: kill() reaches its children
            )
        process = ManagedProcess(name, popen, log)
        self.processes.append(process)
        return process

    def _deadline_check(self, process: ManagedProcess, deadline: float, what: str) -> None:
        if not process.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start:\n{process.tail()}")

    def _worker_environment(self, home: Path) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("VO_SERVICE_")}
        return {**base, "HOME": str(home), **self.worker_env}

    def start_scheduler(self) -> None:
        """Start ``dask scheduler`` on a free port; wait for its address."""
        home = self.data_dir.parent / "dask-scheduler"
        home.mkdir(parents=True, exist_ok=True)
        address_file = home / "scheduler.json"
        address_file.unlink(missing_ok=True)
        process = self._start(
            "dask-scheduler",
            [
                _bin("dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(address_file),
            ],
            self._worker_environment(home),
            home,
        )
        deadline = time.monotonic() + self.startup_timeout
        while not address_file.is_file():
            self._deadline_check(process, deadline, "the Dask scheduler")
            time.sleep(0.2)
        while not self.scheduler_address:
            try:
                self.scheduler_address = str(json.loads(address_file.read_text())["address"])
            except (ValueError, KeyError):  # being written
                self._deadline_check(process, deadline, "the Dask scheduler")
                time.sleep(0.1)

    def start_dask_worker(self, index: int) -> ManagedProcess:
        """Start one ``dask worker`` (with its nanny) in a folder and home of its own."""
        home = self.data_dir.parent / f"dask-worker-{index}"
        home.mkdir(parents=True, exist_ok=True)
        return self._start(
            f"dask-worker-{index}",
            [
                _bin("dask"),
                "worker",
                self.scheduler_address,
                "--name",
                f"worker-{index}",
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--memory-limit",
                self.worker_memory,
                "--no-dashboard",
                "--local-directory",
                str(home / "dask-scratch"),
                *self.worker_args,
            ],
            {**self._worker_environment(home), "MALLOC_MMAP_THRESHOLD_": str(64 * 1024**2)},
            home,
        )

    def wait_for_dask_workers(self, count: int) -> None:
        """Block until the scheduler knows ``count`` workers."""
        from distributed import Client

        with Client(self.scheduler_address, timeout=self.startup_timeout) as client:
            client.wait_for_workers(count, timeout=self.startup_timeout)

    def _service_environment(self) -> dict[str, str]:
        # The runners write product links with the public URL: it must be the web service's.
        return service_environment(
            self.data_dir,
            self.database_url,
            {
                "VO_SERVICE_EXECUTOR": "dask",
                "VO_SERVICE_DASK_SCHEDULER": self.scheduler_address,
                "VO_SERVICE_PUBLIC_BASE_URL": self.base_url,
                **self.settings,
            },
        )

    def start_runner(self, index: int) -> ManagedProcess:
        """Start one ``vo-service worker`` job runner; return once it claims jobs (it has
        warmed the Dask workers and says ``runner <id>: kinds ...``)."""
        process = self._start(
            f"runner-{index}",
            [_bin("vo-service"), "worker"],
            self._service_environment(),
            self.data_dir,
        )
        deadline = time.monotonic() + self.startup_timeout
        while not re.search(r"^runner \S+: kinds ", process.tail(100_000), re.MULTILINE):
            self._deadline_check(process, deadline, f"runner {index}")
            time.sleep(0.2)
        return process

    def start_web(self) -> None:
        """Start ``vo-service serve --no-runner --no-demo`` on its port; wait for /health."""
        process = self._start(
            "web",
            [_bin("vo-service"), "serve", "--no-runner", "--no-demo", "--threads", "8"],
            {**self._service_environment(), "VO_SERVICE_PORT": str(self.port)},
            self.data_dir,
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                if requests.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            self._deadline_check(process, deadline, "the web service")
            time.sleep(0.3)

    def __enter__(self) -> LocalTopology:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        try:
            self.start_scheduler()
            for index in range(self.dask_workers):
                self.start_dask_worker(index)
            self.wait_for_dask_workers(self.dask_workers)
            for index in range(self.runners):
                self.start_runner(index)
            self.start_web()
        except BaseException:
            self.close()
            raise
        return self

    # Using ----------------------------------------------------------------------------------
    def named(self, name: str) -> ManagedProcess:
        """The process called ``name`` (``runner-0``, ``dask-worker-1``, ``web``...)."""
        return next(p for p in self.processes if p.name == name)

    def close(self) -> None:
        """End every process: web first, then runners, workers and the scheduler."""
        for process in reversed(self.processes):
            process.stop()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
