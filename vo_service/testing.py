"""Helpers for tests and benchmarks that talk to a real ``vo-service serve`` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

__all__ = ["serving"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(
    data_dir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 120.0,
) -> Iterator[str]:
    """``vo-service serve`` on a free local port with its data in ``data_dir``; yields its base
    URL once ``/health`` answers, and stops it afterwards.

    The inline executor and local name resolution are the defaults (``env`` overrides them and
    adds settings); ``args`` go to ``serve``. The server's output is appended to
    ``data_dir/server.log``.

    Raises
    ------
    RuntimeError
        When the server exits or does not answer within ``startup_timeout`` (with the end of
        its log).
    """
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "VO_SERVICE_DATA_DIR": str(data_dir),
        "VO_SERVICE_PORT": str(port),
        "VO_SERVICE_PUBLIC_BASE_URL": base,
        "VO_SERVICE_EXECUTOR": "inline",
        "VO_SERVICE_NETWORK_RESOLVERS": "false",
        **(env or {}),
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "server.log"
    with log.open("ab") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "vo-service"), "serve", *args],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                if requests.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
