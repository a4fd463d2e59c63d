"""Shared harness of the UWS benchmarks: a fresh PostgreSQL database, gunicorn, runners.

Not a benchmark itself; ``bench_uws`` and ``bench_uws_load`` use it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from vo_service.db import make_engine, upgrade_database

ADMIN_URL = os.environ.get(
    "VO_SERVICE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(values: list[float]) -> dict[str, float]:
    """p50/p90/p99/mean of durations given in seconds, in milliseconds."""
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p90_ms": round(percentile(values, 90) * 1000, 2),
        "p99_ms": round(percentile(values, 99) * 1000, 2),
        "mean_ms": round(statistics.fmean(values) * 1000, 2) if values else float("nan"),
    }


def write_result(name: str, result: dict[str, object]) -> Path:
    """Save ``result`` (plus machine facts) as ``benchmarks/results/NAME.json``."""
    RESULTS.mkdir(exist_ok=True)
    result = {
        "benchmark": name,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **result,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    return path


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database with the schema migrated, dropped afterwards."""
    name = f"bench_uws_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade_database(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    """A running service: gunicorn web workers plus separate runner processes."""

    base: str
    database_url: str
    processes: list[subprocess.Popen[bytes]]


@contextmanager
def deployment(
    database_url: str,
    *,
    web_workers: int = 2,
    threads: int = 8,
    runners: int = 1,
    slots: int = 2,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Deployment]:
    """Start gunicorn (gthread) and ``vo-service worker`` processes on ``database_url``
    (``extra_env``: more ``VO_SERVICE_*`` settings)."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-uws-"))
    port = _free_port()
    env = {
        **os.environ,
        "VO_SERVICE_DATABASE_URL": database_url,
        "VO_SERVICE_DATA_DIR": str(data_dir),
        "VO_SERVICE_UWS_DEMO_KINDS": "true",
        "VO_SERVICE_EXECUTOR": "inline",
        "VO_SERVICE_UWS_IDENTITY": "none",
        "VO_SERVICE_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "VO_SERVICE_RUNNER_SLOTS": str(slots),
        "VO_SERVICE_RUNNER_POLL_INTERVAL": "0.2",
        **(extra_env or {}),
    }
    bin_dir = Path(sys.executable).parent
    web = subprocess.Popen(
        [
            str(bin_dir / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(web_workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--log-level",
            "warning",
            "vo_service.app:create_app()",
        ],
        cwd=ROOT,
        env=env,
    )
    workers = [
        subprocess.Popen(
            [str(bin_dir / "vo-service"), "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
        )
        for _ in range(runners)
    ]
    processes = [web, *workers]
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/async", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.2)
        time.sleep(3)  # let the runners' worker processes come up
        yield Deployment(base, database_url, processes)
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
