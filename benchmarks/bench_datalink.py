"""DataLink and SODA speed through a real WSGI server: ``python -m benchmarks.bench_datalink``.

Serves the ``datalink`` blueprints with gunicorn (one gthread worker) over a mosaic-sized
product (600 x 600 float32 pixels x 4 image extensions, TAN WCS) of the test-double
product source, and measures with one keep-alive HTTP client:

* ``{links}`` of one product (12-column VOTable with two SODA service descriptors), p50,
  warm (the same product again: its rendered table and descriptors are memoised) and
  cold (every request a product never asked for before, at a different sky position);
* SODA sync spatial cut-out (CIRCLE of 2 deg = 80 x 80 pixels in each of the 4
  extensions, FITS), p50; and a larger one (CIRCLE of 6 deg).

Targets (issue 8): ``{links}`` p50 <= 10 ms, SODA sync cut-out p50 <= 20 ms (DaCHS
measures 21 ms and 26 ms here).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import requests
from flask import Flask

from benchmarks.bench_uws_support import summary_ms, write_result

ROOT = Path(__file__).resolve().parent.parent
_ROOT_ENV = "BENCH_DATALINK_ROOT"
_URL_ENV = "BENCH_DATALINK_URL"
KEY = "b0a1c2d3e4f5a6b7c8d9"
DID_BASE = "ivo://example.org/isgri"


def bench_app() -> Flask:
    """The WSGI application gunicorn serves (configured through the environment)."""
    from datalink import install_datalink
    from datalink.testing import FolderProductSource, files_blueprint
    from registry import install_capabilities

    source = FolderProductSource(Path(os.environ[_ROOT_ENV]), did_base=DID_BASE)
    app = Flask("bench-datalink")
    install_capabilities(app)
    install_datalink(app, source, public_url=os.environ[_URL_ENV], async_path="/soda/async")
    app.register_blueprint(files_blueprint(source))
    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _timed(session: requests.Session, url: str, n: int, warmup: int) -> tuple[list[float], int]:
    times = []
    size = 0
    for i in range(n + warmup):
        start = time.perf_counter()
        response = session.get(url)
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
        size = len(response.content)
        if i >= warmup:
            times.append(elapsed)
    return times, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="requests per measurement")
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()

    from datalink.testing import FolderProductSource

    folder = Path(tempfile.mkdtemp(prefix="bench-datalink-"))
    source = FolderProductSource(folder, did_base=DID_BASE)
    product = source.add_image(
        KEY, ra=83.63, dec=22.01, size=600, pixel_deg=0.05, extensions=4, source_ra=84.5
    )
    cold_ids = [
        source.add_image(f"c{i:06d}", ra=(7.3 * i) % 360, dec=-30 + (i % 60), size=16)
        for i in range(args.n + args.warmup)
    ]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, _ROOT_ENV: str(folder), _URL_ENV: base}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "2",
            "--worker-class",
            "gthread",
            "--log-level",
            "warning",
            "benchmarks.bench_datalink:bench_app()",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        session = requests.Session()
        for _ in range(100):
            try:
                session.get(f"{base}/datalink/links?ID=x", timeout=10)
                break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.1)
        pid = quote(product, safe="")
        links, links_size = _timed(session, f"{base}/datalink/links?ID={pid}", args.n, args.warmup)
        cold = []
        for i, cold_id in enumerate(cold_ids):
            url = f"{base}/datalink/links?ID={quote(cold_id, safe='')}"
            start = time.perf_counter()
            response = session.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code}")
            if i >= args.warmup:
                cold.append(time.perf_counter() - start)
        cut, cut_size = _timed(
            session, f"{base}/soda/sync?ID={pid}&CIRCLE=84.5%2022.01%202", args.n, args.warmup
        )
        big, big_size = _timed(
            session, f"{base}/soda/sync?ID={pid}&CIRCLE=83.63%2022.01%206", args.n, args.warmup
        )
    finally:
        server.terminate()
        server.wait(10)
    result = {
        "server": "gunicorn, 1 gthread worker, 2 threads; one keep-alive client",
        "image": "600 x 600 float32 x 4 image extensions, TAN, 0.05 deg/pixel",
        "links": {**summary_ms(links), "bytes": links_size, "target_p50_ms": 10},
        "links_cold": {**summary_ms(cold), "bytes": links_size, "target_p50_ms": 10},
        "soda_sync_cutout_r2deg": {**summary_ms(cut), "bytes": cut_size, "target_p50_ms": 20},
        "soda_sync_cutout_r6deg": {**summary_ms(big), "bytes": big_size},
    }
    path = write_result("bench_datalink", result)
    for name in ("links", "links_cold", "soda_sync_cutout_r2deg", "soda_sync_cutout_r6deg"):
        row = result[name]
        assert isinstance(row, dict)
        print(
            f"{name:26s} p50 {row['p50_ms']:7.2f} ms  p90 {row['p90_ms']:7.2f} ms  "
            f"({row['bytes']} bytes)"
        )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
