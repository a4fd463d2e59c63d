"""Archive index at archive scale (issue 18 item 4): cone + time selection over 10^5 science
windows on SQLite and PostgreSQL, and the planning of a 1,000-ScW image request.

Run: ``python -m benchmarks.bench_archive_scale [--rows 100000] [--plan-scw 1000]``. Writes
``benchmarks/results/bench_archive_scale.json``. Rows are generated (no event files):
pointings dithered around ~300 targets, most near the Galactic plane, hour-long windows back to
back over ~12 years, as INTEGRAL's archive is laid out. Target: a selection
(``ArchiveIndex.query``, the call the request validation makes, rows to objects included)
≤ 50 ms on both back ends.

The planning part builds the image DAG of 1,000 indexed science windows and plans it against an
empty cache (``Pipeline.plan``: every node looked up and leased level by level), measuring its
wall time and the peak memory of the process (``ru_maxrss``, in a fresh process).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, insert, text

from benchmarks._harness import write_result
from processing.archive import ArchiveIndex
from processing.archive._tables import ScienceWindowRow
from processing.instrument import radec_to_unit
from vo_service.db import make_engine, upgrade_database

POSTGRES_ADMIN = os.environ.get(
    "VO_SERVICE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IJD_START = 1000.0  # 2002-09-27
HOUR = 1.0 / 24.0


def generate_rows(n: int, seed: int = 18, n_targets: int = 300) -> list[dict[str, Any]]:
    """``n`` index rows: 5-degree dithers around targets, consecutive hour-long windows."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(-180.0, 180.0, n_targets)
    lat = np.where(rng.random(n_targets) < 0.7, rng.normal(0.0, 5.0, n_targets), 0.0)
    lat = np.where(lat == 0.0, np.degrees(np.arcsin(rng.uniform(-1, 1, n_targets))), lat)
    from astropy.coordinates import SkyCoord

    targets = SkyCoord(l=lon, b=lat, unit="deg", frame="galactic").icrs
    campaign = rng.integers(0, n_targets, size=n // 40 + 1)  # ~40 ScWs per visit
    target = np.repeat(campaign, 40)[:n]
    ra = (targets.ra.deg[target] + rng.normal(0.0, 2.5, n)) % 360.0
    dec = np.clip(targets.dec.deg[target] + rng.normal(0.0, 2.5, n), -89.9, 89.9)
    tstart = IJD_START + np.arange(n) * HOUR * 1.05
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        cx, cy, cz = radec_to_unit(float(ra[i]), float(dec[i]))
        revolution = int((tstart[i] - IJD_START) / 3.0) + 30
        rows.append(
            {
                "scw_id": f"{revolution:04d}{i % 10000:04d}0010.001",
                "revolution": revolution,
                "ra_x": float(ra[i]),
                "dec_x": float(dec[i]),
                "ra_z": float((ra[i] + 90.0) % 360.0),
                "dec_z": 0.0,
                "cx": float(cx),
                "cy": float(cy),
                "cz": float(cz),
                "tstart": float(tstart[i]),
                "tstop": float(tstart[i] + HOUR),
                "ontime": 3400.0,
                "deadc": 0.8,
                "n_events": 0,
                "path": f"scw/{revolution:04d}/{revolution:04d}{i % 10000:04d}0010.001/"
                "isgri_events.fits.gz",
                "checksum": f"{i:064x}",
                "file_size": 0,
                "simulated": 1,
                "ingested_at": now,
            }
        )
    return rows


def fill(url: str, rows: list[dict[str, Any]]) -> ArchiveIndex:
    engine = make_engine(url)
    upgrade_database(engine)
    with engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(insert(ScienceWindowRow), rows[start : start + 5000])
    with engine.connect() as connection:  # as ArchiveIndex.ingest does after adding rows
        connection.execute(text("ANALYZE archive_scw"))
        connection.commit()
    return ArchiveIndex(engine, Path("/nonexistent"))


def queries(rows: list[dict[str, Any]], count: int, seed: int = 5) -> list[dict[str, float]]:
    """Cones (15 degrees, the default radius) on pointed fields, one-year time ranges."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(rows), count)
    t_lo, t_hi = rows[0]["tstart"], rows[-1]["tstop"]
    found = []
    for i in picks:
        t1 = float(rng.uniform(t_lo, t_hi - 365.0))
        found.append(
            {
                "ra": rows[i]["ra_x"],
                "dec": rows[i]["dec_x"],
                "radius_deg": 15.0,
                "t1": t1,
                "t2": t1 + 365.0,
            }
        )
    return found


def time_selection(index: ArchiveIndex, cases: list[dict[str, float]]) -> dict[str, Any]:
    for case in cases[:5]:  # warm the connection pool and the page cache
        index.query(**case)
    times, sizes = [], []
    for case in cases:
        t0 = time.perf_counter()
        selected = index.query(**case)
        times.append(time.perf_counter() - t0)
        sizes.append(len(selected))
    # A cone over the whole mission (no time range): the worst case of a selection.
    cone_times = []
    for case in cases[:20]:
        t0 = time.perf_counter()
        index.query(ra=case["ra"], dec=case["dec"], radius_deg=15.0)
        cone_times.append(time.perf_counter() - t0)
    ms = sorted(t * 1000 for t in times)
    return {
        "queries": len(cases),
        "p50_ms": statistics.median(ms),
        "p95_ms": ms[int(0.95 * (len(ms) - 1))],
        "max_ms": ms[-1],
        "selected_median": statistics.median(sizes),
        "selected_max": max(sizes),
        "cone_all_times_p50_ms": statistics.median(cone_times) * 1000,
        "cone_all_times_max_ms": max(cone_times) * 1000,
    }


def index_benchmark(n_rows: int, n_queries: int) -> dict[str, Any]:
    rows = generate_rows(n_rows)
    cases = queries(rows, n_queries)
    result: dict[str, Any] = {"rows": n_rows}
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = time_selection(fill(f"sqlite:///{tmp}/index.sqlite", rows), cases)
    name = f"bench_scale_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        index = fill(POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}", rows)
        result["postgresql"] = time_selection(index, cases)
        index.engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return result


def _plan_in_this_process(n_scw: int) -> dict[str, Any]:
    """Build and plan the image DAG of ``n_scw`` indexed ScWs (run in a fresh process)."""
    from processing.instrument import load_instrument
    from processing.isgri import ImageRequest, build_image_graph
    from processing.pipeline import CacheStore, InlineExecutor, Pipeline, ProductCache
    from processing.simulator import PointingPlan, Scenario, simulate_archive

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # Calibration and reference catalog from a one-ScW archive; the index rows are generated.
        one = PointingPlan(target="Crab", start=53500.0, n_scw=1, scw_duration_s=100)
        simulate_archive(Scenario(name="plan", seed=1, pointings=[one]), root / "archive")
        instrument = load_instrument(root / "archive")
        engine = make_engine(f"sqlite:///{root}/plan.sqlite")
        upgrade_database(engine)
        rows = generate_rows(n_scw, n_targets=1)  # one deep field
        with engine.begin() as connection:
            connection.execute(insert(ScienceWindowRow), rows)
        index = ArchiveIndex(engine, root / "archive")
        scws = index.all()
        base = (time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        request = ImageRequest(
            ra=float(scws[0].ra_x),
            dec=float(scws[0].dec_x),
            radius_deg=20.0,
            e_min=20.0,
            e_max=40.0,
            scw_ids=tuple(s.scw_id for s in scws),
            max_scw=len(scws),
        )
        t0 = time.perf_counter()
        graph, image_node, _ = build_image_graph(index, instrument, request)
        built = time.perf_counter() - t0
        pipeline = Pipeline(ProductCache(CacheStore(root / "cache"), engine), InlineExecutor())
        t0 = time.perf_counter()
        plan = pipeline.plan([image_node], holder="bench")
        planned = time.perf_counter() - t0
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "scw": len(scws),
            "nodes": len(list(graph)),
            "to_compute": len(plan.to_compute),
            "build_graph_s": built,
            "plan_s": planned,
            "peak_rss_mib": peak_kib / 1024,
            "rss_before_graph_mib": base[1] / 1024,
        }


def plan_benchmark(n_scw: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_archive_scale", "--plan-only", str(n_scw)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--plan-scw", type=int, default=1000)
    parser.add_argument("--plan-only", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plan_only is not None:
        print(json.dumps(_plan_in_this_process(args.plan_only)))
        return
    selection = index_benchmark(args.rows, args.queries)
    planning = plan_benchmark(args.plan_scw)
    path = write_result("bench_archive_scale", {"selection": selection, "planning": planning})
    for backend in ("sqlite", "postgresql"):
        r = selection[backend]
        print(
            f"{backend:10} {selection['rows']} ScWs: cone 15 deg + 1 yr p50 {r['p50_ms']:.1f} ms, "
            f"p95 {r['p95_ms']:.1f} ms, max {r['max_ms']:.1f} ms ({r['selected_median']:.0f} "
            f"selected); cone over all times p50 {r['cone_all_times_p50_ms']:.1f} ms"
        )
    print(
        f"planning {planning['scw']} ScWs: {planning['nodes']} nodes, graph "
        f"{planning['build_graph_s']:.2f} s, plan {planning['plan_s']:.2f} s, "
        f"peak RSS {planning['peak_rss_mib']:.0f} MiB"
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
