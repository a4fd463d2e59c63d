"""The README's pyvo script runs unchanged against a server started by `vo-service serve`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_pyvo_script(live_service: str) -> None:
    readme = (ROOT / "README.md").read_text()
    assert "examples/crab_image.py" in readme
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "crab_image.py"), live_service],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr
    assert "image.fits" in run.stdout and "catalog.vot" in run.stdout
    assert "Crab" in run.stdout
