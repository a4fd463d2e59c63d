"""Every script in ``examples/`` runs as a user runs it (a subprocess, the service's URL as its
first argument) against ``vo-service serve``, and prints what it promises.

The cross-match example asks "another VO service": here a stand-in Simple Cone Search service on
a local port (a thread serving a VOTable of a few known sources near the Crab, filtered by the
cone asked for), so the test needs no network.
"""

from __future__ import annotations

import io
import math
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from astropy.io.votable import writeto
from astropy.io.votable.tree import Field, Resource, TableElement, VOTableFile

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CRAB = (83.63308, 22.0145)

#: The stand-in catalog: the Crab under another name 0.3' away, a source 1.2 deg away and one
#: far outside any cone around the Crab field.
CONE_CATALOG = [
    ("M 1", CRAB[0] + 0.005 / math.cos(math.radians(CRAB[1])), CRAB[1]),
    ("Decoy 1", 84.9, 22.5),
    ("Far away", 150.0, -30.0),
]


def _separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    a1, d1, a2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    cosine = math.sin(d1) * math.sin(d2) + math.cos(d1) * math.cos(d2) * math.cos(a1 - a2)
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


def _cone_votable(ra: float, dec: float, sr: float) -> bytes:
    """SCS 1.03 answer: a table whose ID and position columns carry the UCD1s it requires."""
    votable = VOTableFile(version="1.3")
    resource = Resource()
    votable.resources.append(resource)
    table = TableElement(votable)
    resource.tables.append(table)
    table.fields.extend(
        [
            Field(votable, name="name", datatype="char", arraysize="*", ucd="ID_MAIN"),
            Field(votable, name="ra", datatype="double", unit="deg", ucd="POS_EQ_RA_MAIN"),
            Field(votable, name="dec", datatype="double", unit="deg", ucd="POS_EQ_DEC_MAIN"),
        ]
    )
    rows = [r for r in CONE_CATALOG if _separation_deg(ra, dec, r[1], r[2]) <= sr]
    table.create_arrays(len(rows))
    for i, row in enumerate(rows):
        table.array[i] = row
    buffer = io.BytesIO()
    writeto(votable, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cone_search() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    """URL of the stand-in cone search, and the queries it answered."""
    queries: list[dict[str, list[str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            queries.append(query)
            try:
                ra, dec, sr = (float(query[k][0]) for k in ("RA", "DEC", "SR"))
            except (KeyError, ValueError):
                self.send_error(400, "RA, DEC and SR are required")
                return
            body = _cone_votable(ra, dec, sr)
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/scs?", queries
    finally:
        server.shutdown()
        server.server_close()


def run_example(name: str, *args: str, cwd: Path) -> str:
    """Run ``examples/<name>`` with ``args``; its standard output."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_every_example_is_tested() -> None:
    tested = {"crab_image.py"}  # by test_readme_example
    tested |= {
        "image_catalog.py",
        "spectrum_sherpa.py",
        "light_curve.py",
        "transient_search.py",
        "cutout.py",
        "crossmatch.py",
        "tap_discovery.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_readme_client_snippet(live_service: str, tmp_path: Path) -> None:
    """The README's three lines, as written there, with the test service's URL."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    (snippet,) = [b for b in blocks if "vo_service.client" in b]
    assert snippet.count("\n") <= 4 and '"http://127.0.0.1:8080"' in snippet
    done = subprocess.run(
        [sys.executable, "-c", snippet.replace('"http://127.0.0.1:8080"', repr(live_service))],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Crab.pha" in done.stdout and "Crab.rmf" in done.stdout
    assert (tmp_path / "vo_products").is_dir()


def test_image_and_catalog(live_service: str, tmp_path: Path) -> None:
    out = run_example("image_catalog.py", live_service, cwd=tmp_path)
    assert re.search(r"product ivo://\S+\?[0-9a-f]{64}", out)
    downloaded = {p.name for p in (tmp_path / "vo_products").glob("*/*")}
    assert {"image.fits", "catalog.vot", "preview.png"} <= downloaded
    crab = re.search(r"^Crab: ([\d.]+) sigma in the map, ([\d.]+) listed$", out, re.MULTILINE)
    assert crab is not None, out
    in_map, listed = float(crab[1]), float(crab[2])
    assert listed > 20 and abs(in_map - listed) / listed < 0.2


def test_spectrum_fitted_in_sherpa(live_service: str, tmp_path: Path) -> None:
    pytest.importorskip("sherpa.astro.ui")
    out = run_example("spectrum_sherpa.py", live_service, cwd=tmp_path)
    index = re.search(r"photon index: ([\d.]+) \+/- ([\d.]+)", out)
    assert index is not None, out
    # The simulated Crab has a photon index of 2.1.
    assert abs(float(index[1]) - 2.1) < 5 * float(index[2]) + 0.05
    assert {"Crab.pha", "Crab.rmf", "Crab.arf"} <= {
        p.name for p in (tmp_path / "vo_products").glob("*/*")
    }


def test_light_curve(live_service: str, tmp_path: Path) -> None:
    out = run_example("light_curve.py", live_service, cwd=tmp_path)
    assert re.search(r"^job http://\S+/async/\S+$", out, re.MULTILINE)
    assert "  COMPLETED" in out
    summary = re.search(r"(\d+) bins, mean rate ([\d.]+) counts/s", out)
    assert summary is not None, out
    assert int(summary[1]) >= 2 and float(summary[2]) > 0
    assert re.search(r"OGIP light curve: \S+/Crab_20-40keV\.lc$", out, re.MULTILINE)


def test_transient_search(live_service: str, tmp_path: Path) -> None:
    out = run_example("transient_search.py", live_service, cwd=tmp_path)
    # The simulated Crab is steady.
    assert re.search(r"^Crab: \d+ Bayesian blocks?, 0 significant flares$", out, re.MULTILINE)
    assert "no significant transient" in out


def test_cutout_by_product_id(live_service: str, tmp_path: Path) -> None:
    out = run_example("cutout.py", live_service, cwd=tmp_path)
    product = re.search(r"^product (ivo://\S+)$", out, re.MULTILINE)
    assert product is not None, out
    assert re.search(r"^  SIGNIFICANCE +\((\d+), \1\)$", out, re.MULTILINE)
    offset = re.search(r"([\d.]+) arcmin from the Crab", out)
    assert offset is not None and float(offset[1]) < 5.0  # one sky pixel is 4.9'

    # Given the identifier, it cuts that product without making one.
    again = run_example("cutout.py", live_service, product[1], cwd=tmp_path)
    assert f"product {product[1]}" in again and "arcmin from the Crab" in again


def test_crossmatch_with_another_vo_service(
    live_service: str,
    tmp_path: Path,
    cone_search: tuple[str, list[dict[str, list[str]]]],
) -> None:
    url, queries = cone_search
    out = run_example("crossmatch.py", live_service, url, cwd=tmp_path)
    assert queries, "the cone search was not asked"
    ra, dec, sr = (float(queries[-1][k][0]) for k in ("RA", "DEC", "SR"))
    assert _separation_deg(ra, dec, *CRAB) < 1.0 and 0 < sr < 10
    match = re.search(
        r"^\s*Crab \([\d.]+ sigma, r90 [\d.]+'\) = M 1 at ([\d.]+) arcmin$", out, re.MULTILINE
    )
    assert match is not None, out
    assert float(match[1]) < 1.0
    assert "Far away" not in out


def test_crossmatch_needs_the_other_service(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "crossmatch.py"), "http://127.0.0.1:9"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "CONE_SEARCH_URL" in done.stderr


def test_tap_discovery(live_service: str, tmp_path: Path) -> None:
    out = run_example("tap_discovery.py", live_service, cwd=tmp_path)
    near = re.search(r"^(\d+) detections within 1 deg of the Crab$", out, re.MULTILINE)
    assert near is not None and int(near[1]) >= 1, out
    # The live service is shared by the session: other tests' image products hold the Crab
    # too, and each of their Crab rows is one pair; the position far from any source has none.
    pairs = re.search(r"^cross-match: (\d+) pairs within 2 arcmin$", out, re.MULTILINE)
    crab = re.findall(r"^  crab\? = Crab \([\d.]+ arcmin\)$", out, re.MULTILINE)
    assert pairs is not None and int(pairs[1]) == len(crab) >= 1, out
    assert "nothing here" not in out, out
    images = re.search(r"^SIA: (\d+) images cover the Crab$", out, re.MULTILINE)
    assert images is not None and int(images[1]) >= 1, out
    assert re.search(r"^first image ivo://\S+: http://\S+/products/\S+$", out, re.MULTILINE), out
