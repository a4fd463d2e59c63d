"""Cached repeats through the service: ``python -m benchmarks.bench_repeat [--scw 8] [--n 40]``.

The README's image request (Crab, radius 20, 20-40 keV) on a simulated archive of ``--scw``
science windows, served by gunicorn and a ``vo-service worker`` exactly as deployed, on SQLite
and on PostgreSQL. After one cold run, each repeat is timed from the POST (PHASE=RUN) through
the job document (COMPLETED) to the catalog VOTable fetched: what a script or TOPCAT user
waits for when asking again. Repeats are answered at creation (the job is stored COMPLETED with
its results, no runner round trip: ``vo_service._answers``). Target (issue 21): p50 <= 50 ms.
Writes ``benchmarks/results/bench_repeat.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import requests
from lxml import etree

from benchmarks.bench_uws_support import deployment, postgres_database, summary_ms, write_result
from processing.simulator import Scenario, simulate_archive
from vo_service._context import ServiceContext
from vo_service.settings import Settings

NS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0", "xlink": "http://www.w3.org/1999/xlink"}
REQUEST = {"product_type": "image", "src_name": "Crab", "radius": "20", "E1_keV": "20"}
REQUEST["E2_keV"] = "40"


def _ask(session: requests.Session, base: str) -> tuple[float, str]:
    """One request: POST, the job document until COMPLETED, the catalog; (seconds, phase)."""
    start = time.perf_counter()
    created = session.post(f"{base}/async", data={**REQUEST, "PHASE": "RUN"}, allow_redirects=False)
    url = created.headers["Location"]
    while True:
        root = etree.fromstring(session.get(url, params={"WAIT": "30"}).content)
        phase = str(root.findtext("uws:phase", namespaces=NS))
        if phase in {"COMPLETED", "ERROR", "ABORTED"}:
            break
    if phase == "COMPLETED":
        catalog = next(
            r.get(f"{{{NS['xlink']}}}href")
            for r in root.iterfind("uws:results/uws:result", NS)
            if r.get("id") == "catalog.vot"
        )
        assert session.get(catalog).status_code == 200
    return time.perf_counter() - start, phase


def run(database_url: str, archive: Path, n: int) -> dict[str, object]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-repeat-"))
    settings = Settings.load(
        database_url=database_url, archive_path=archive, data_dir=data_dir, network_resolvers=False
    )
    ServiceContext.build(settings).archive.ingest()
    env = {
        "VO_SERVICE_ARCHIVE_PATH": str(archive),
        "VO_SERVICE_NETWORK_RESOLVERS": "false",
        "VO_SERVICE_UWS_DEMO_KINDS": "false",
    }
    try:
        with deployment(database_url, extra_env=env) as dep:
            session = requests.Session()
            cold, phase = _ask(session, dep.base)
            if phase != "COMPLETED":
                raise RuntimeError(f"the cold request ended in {phase}")
            times = [_ask(session, dep.base)[0] for _ in range(n)]
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return {"cold_s": round(cold, 2), "repeat": summary_ms(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scw", type=int, default=8)
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "archive"
        scenario = Scenario.model_validate(
            {
                "name": "bench-repeat",
                "seed": 21,
                "pointings": [
                    {
                        "target": "Crab",
                        "start": 54000.0,
                        "n_scw": args.scw,
                        "pattern": "5x5",
                        "scw_duration_s": 1000.0,
                    }
                ],
            }
        )
        simulate_archive(scenario, archive)
        result: dict[str, object] = {"n_scw": args.scw, "load_average": os.getloadavg()}
        result["sqlite"] = run(f"sqlite:///{Path(tmp) / 'bench.sqlite'}", archive, args.n)
        with postgres_database() as url:
            result["postgresql"] = run(url, archive, args.n)
    write_result("bench_repeat", result)
    for db in ("sqlite", "postgresql"):
        r = result[db]
        assert isinstance(r, dict)
        rep = r["repeat"]
        print(
            f"{db}: cold {r['cold_s']} s; repeat create -> COMPLETED -> catalog p50 "
            f"{rep['p50_ms']} ms, p90 {rep['p90_ms']} ms (n={rep['n']})"
        )
    print(f"load average {result['load_average']}")


if __name__ == "__main__":
    main()
