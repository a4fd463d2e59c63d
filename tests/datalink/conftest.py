"""Fixtures of the DataLink/SODA tests: a folder of real FITS products, the app, linters.

The products come from :class:`datalink.testing.FolderProductSource`: a mosaic (a TAN
image with a Gaussian source at a known RA/Dec, several extensions), a spectrum (not
cuttable) whose progenitor is the mosaic.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from datalink import install_datalink
from datalink.testing import FolderProductSource, files_blueprint
from registry import install_capabilities

BASE_URL = "http://testserver.example"
#: Where the mosaic's Gaussian source sits (not the image centre, to test WCS shifts).
SOURCE_RA, SOURCE_DEC = 84.1, 22.4
IMAGE_RA, IMAGE_DEC = 83.6, 22.0

#: Terms of the IVOA datalink/core vocabulary (http://www.ivoa.net/rdf/datalink/core,
#: the snapshot pyvo ships in its tests). STILTS 3.4.7 checks against an older built-in
#: list when it cannot fetch the vocabulary (the tests are offline); its "unknown
#: predicate" errors for terms in this set are reported as warnings.
CURRENT_CORE_TERMS = frozenset(
    {
        "auxiliary",
        "bias",
        "calibration",
        "coderived",
        "counterpart",
        "cutout",
        "dark",
        "derivation",
        "detached-header",
        "documentation",
        "error",
        "flat",
        "noise",
        "package",
        "preview",
        "preview-image",
        "preview-plot",
        "proc",
        "progenitor",
        "this",
        "thumbnail",
        "weight",
    }
)


@dataclass
class Products:
    source: FolderProductSource
    mosaic: str
    spectrum: str


@pytest.fixture
def products(tmp_path: Path) -> Products:
    source = FolderProductSource(tmp_path / "products", did_base="ivo://example.org/isgri")
    mosaic = source.add_image(
        "a1b2c3d4e5",
        ra=IMAGE_RA,
        dec=IMAGE_DEC,
        size=200,
        pixel_deg=0.05,
        extensions=4,
        source_ra=SOURCE_RA,
        source_dec=SOURCE_DEC,
    )
    spectrum = source.add_spectrum("f6e5d4c3b2", progenitor=mosaic)
    return Products(source, mosaic, spectrum)


def make_app(source: FolderProductSource, public_url: str | None = BASE_URL) -> Flask:
    app = Flask("datalink-test")
    install_capabilities(app)
    install_datalink(app, source, public_url=public_url, async_path=None)
    app.register_blueprint(files_blueprint(source))
    return app


@pytest.fixture
def app(products: Products) -> Flask:
    return make_app(products.source)


@pytest.fixture
def live_url(products: Products) -> Iterator[str]:
    """The app behind a real threaded HTTP server; links point at that server."""
    holder: dict[str, str] = {}
    server = make_server("127.0.0.1", 0, Flask("placeholder"), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    server.app = make_app(products.source, public_url=url)  # type: ignore[attr-defined]
    holder["url"] = url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join(5)


@dataclass
class LintReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    output: str = ""


_LINE = re.compile(r"^([EWF])-(\w+)-\d+ (.*)$")
_UNKNOWN_TERM = re.compile(r"Unknown predicate '([^']+)' from core DataLink vocabulary")


def _run_stilts(task: str, target: str) -> str:
    result = subprocess.run(
        ["stilts", task, target],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return result.stdout + result.stderr


def votlint(path: Path) -> LintReport:
    """STILTS votlint; every output line that is not a summary is a problem."""
    output = _run_stilts("votlint", f"votable={path}")
    report = LintReport(output=output)
    for line in output.splitlines():
        if not line.strip():
            continue
        (report.warnings if "WARNING" in line else report.errors).append(line)
    return report


def datalinklint(target: str | Path) -> LintReport:
    """STILTS datalinklint on a file or URL: E-/F- lines are errors, W- lines warnings."""
    output = _run_stilts("datalinklint", f"votable={target}")
    report = LintReport(output=output)
    for line in output.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        level, _code, text = match.groups()
        term = _UNKNOWN_TERM.search(text)
        if level == "W" or (term and term.group(1) in CURRENT_CORE_TERMS):
            report.warnings.append(line)
        else:
            report.errors.append(line)
    assert "Totals:" in output, output
    return report


@pytest.fixture(scope="session")
def lint_warnings() -> Iterator[list[str]]:
    """Warnings of every lint run in the session, printed at the end."""
    collected: list[str] = []
    yield collected
    if collected:
        print("\nSTILTS warnings:\n  " + "\n  ".join(sorted(set(collected))))
