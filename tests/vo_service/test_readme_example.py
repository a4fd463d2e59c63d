"""The README's pyvo script runs unchanged against a server started by `vo-service serve`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from processing.simulator import SimulationResult

ROOT = Path(__file__).resolve().parents[2]


def test_readme_pyvo_script(tmp_path: Path, tiny_archive: SimulationResult) -> None:
    readme = (ROOT / "README.md").read_text()
    assert "examples/crab_image.py" in readme
    shutil.copytree(tiny_archive.root, tmp_path / "var" / "archive")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "VO_SERVICE_DATA_DIR": str(tmp_path / "var"),
        "VO_SERVICE_PORT": str(port),
        "VO_SERVICE_PUBLIC_BASE_URL": base,
        "VO_SERVICE_EXECUTOR": "inline",
        "VO_SERVICE_NETWORK_RESOLVERS": "false",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "vo-service"), "serve", "--threads", "4"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert server.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        run = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "crab_image.py"), base],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert run.returncode == 0, run.stderr
        assert "image.fits" in run.stdout and "catalog.vot" in run.stdout
        assert "Crab" in run.stdout
    finally:
        server.terminate()
        server.wait(30)
