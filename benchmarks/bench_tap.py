"""TAP, cone search and ObsCore speed on PostgreSQL + pgsphere: ``python -m benchmarks.bench_tap``.

Builds a PostgreSQL database with 10^6 detections in ``isgri.detections`` and an archive
index of 10^5 science windows (``archive_scw``, seen through ``isgri.scw`` and
``ivoa.obscore``), loaded with COPY and analysed, next to the tiny simulated archive. Then
``vo-service serve`` (uvicorn, as in production) answers, and one keep-alive client measures:

* an ADQL cone (0.5 deg) over the detections, TAP sync, p50;
* an ADQL cone (2 deg) over the science-window index (``isgri.scw``), TAP sync, p50;
* an ObsCore query by position + time + band (``ivoa.obscore``), TAP sync, p50;
* a cone search (SCS) over the detections, p50;
* the round trip of a small TAP async query (create with PHASE=RUN, wait, fetch), p50.

Targets (issue 14): the cones and the ObsCore query p50 <= 50 ms; async round trip p50 <=
100 ms. Every centre is drawn at random, so no answer comes from a cache. ``--backend sqlite``
measures the embedded default instead (10^4 detections and 10^3 ScWs unless told otherwise:
SQLite scans, see docs/tap.md), into ``bench_tap_sqlite.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from sqlalchemy import text

from benchmarks.bench_uws_support import postgres_database, summary_ms, write_result

N_DETECTIONS = 1_000_000
N_SCW = 100_000
_DETECTION_COLUMNS = (
    "detection_id, product_id, source_name, ra, dec, r90, e_min, e_max, rate, rate_err, "
    "significance, t_min, t_max, origin, in_catalog"
)
_SCW_COLUMNS = (
    "scw_id, revolution, ra_x, dec_x, ra_z, dec_z, cx, cy, cz, tstart, tstop, ontime, deadc, "
    "n_events, path, checksum, file_size, simulated, ingested_at"
)


def _sky(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform positions on the sphere (deg)."""
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    return ra, dec


def load(url: str, n_detections: int, n_scw: int) -> None:
    """Migrate the database and COPY the synthetic detections and science windows into it."""
    from vo_service.db import make_engine, upgrade_database

    engine = make_engine(url)
    upgrade_database(engine)
    detections, scws = _rows(n_detections, n_scw)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY isgri.detections ({_DETECTION_COLUMNS}) FROM STDIN") as copy:
            for row in detections:
                copy.write_row(row)
        with cursor.copy(f"COPY archive_scw ({_SCW_COLUMNS}) FROM STDIN") as copy:
            for row in scws:
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("isgri.detections", "archive_scw"):
            connection.execute(text(f"VACUUM ANALYZE {table}"))
    engine.dispose()


def _rows(
    n_detections: int, n_scw: int
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The synthetic detections and science windows, as rows in column order."""
    rng = np.random.default_rng(14)
    ra, dec = _sky(rng, n_detections)
    product = "ivo://bench.example/isgri?" + "f" * 64
    detections: list[tuple[object, ...]] = [
        (
            f"{product}/source/{i + 1}",
            product,
            f"SRC {i}",
            float(ra[i]),
            float(dec[i]),
            2.0,
            20.0,
            40.0,
            1.0,
            0.1,
            8.0,
            52700.0,
            52701.0,
            "mosaic",
            False,
        )
        for i in range(n_detections)
    ]
    ra, dec = _sky(rng, n_scw)
    start = rng.uniform(1000, 8000, n_scw)
    rad_ra, rad_dec = np.radians(ra), np.radians(dec)
    unit = np.column_stack(
        [np.cos(rad_dec) * np.cos(rad_ra), np.cos(rad_dec) * np.sin(rad_ra), np.sin(rad_dec)]
    )
    scws: list[tuple[object, ...]] = [
        (
            f"{9000 + i // 9999:04d}{i % 9999:04d}0010",
            9000 + i // 9999,
            float(ra[i]),
            float(dec[i]),
            float(ra[i]),
            float(dec[i]) * 0.5,
            *map(float, unit[i]),
            float(start[i]),
            float(start[i]) + 0.02,
            1800.0,
            0.9,
            100_000,
            f"scw/bench/{i}",
            "0" * 64,
            5_000_000,
            1,
            "2026-01-01T00:00:00+00:00",
        )
        for i in range(n_scw)
    ]
    return detections, scws


def load_sqlite(url: str, n_detections: int, n_scw: int) -> None:
    """Migrate the embedded database and insert the synthetic rows."""
    from vo_service.db import make_engine, upgrade_database

    engine = make_engine(url)
    upgrade_database(engine)
    detections, scws = _rows(n_detections, n_scw)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        marks = ", ".join("?" * len(detections[0]))
        cursor.executemany(
            f'INSERT INTO "isgri.detections" ({_DETECTION_COLUMNS}) VALUES ({marks})', detections
        )
        marks = ", ".join("?" * len(scws[0]))
        cursor.executemany(f"INSERT INTO archive_scw ({_SCW_COLUMNS}) VALUES ({marks})", scws)
        raw.commit()
    finally:
        raw.close()
    engine.dispose()


def _sync(session: requests.Session, base: str, query: str) -> int:
    response = session.post(
        f"{base}/tap/sync", data={"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "votable"}
    )
    response.raise_for_status()
    return response.content.count(b"<TR>")


def measure(base: str, repeats: int) -> dict[str, object]:
    """The timings, against a running service at ``base``."""
    session = requests.Session()
    rng = np.random.default_rng(7)
    cases = {
        "cone_detections_0.5deg": lambda ra, dec: (
            "SELECT detection_id, ra, dec, significance FROM isgri.detections WHERE 1 = "
            f"CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra!r}, {dec!r}, 0.5))"
        ),
        "cone_scw_index_2deg": lambda ra, dec: (
            "SELECT scw_id, ra, dec, t_min, t_max FROM isgri.scw WHERE 1 = "
            f"CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra!r}, {dec!r}, 2))"
        ),
        "obscore_pos_time_band": lambda ra, dec: (
            "SELECT obs_publisher_did, access_url, t_min, t_max FROM ivoa.obscore WHERE 1 = "
            f"CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', {ra!r}, {dec!r}, 3)) "
            "AND t_min < 59000 AND t_max > 53000 AND em_min < 6e-11 AND em_max > 3e-11"
        ),
    }
    results: dict[str, object] = {}
    for name, make in cases.items():
        times, rows = [], []
        for _ in range(repeats):
            ra, dec = float(rng.uniform(0, 360)), float(np.degrees(np.arcsin(rng.uniform(-1, 1))))
            t0 = time.perf_counter()
            rows.append(_sync(session, base, make(ra, dec)))
            times.append(time.perf_counter() - t0)
        results[name] = {**summary_ms(times), "rows_mean": float(np.mean(rows))}
    times = []
    for _ in range(repeats):
        ra, dec = float(rng.uniform(0, 360)), float(np.degrees(np.arcsin(rng.uniform(-1, 1))))
        t0 = time.perf_counter()
        session.get(f"{base}/scs", params={"RA": ra, "DEC": dec, "SR": 0.5}).raise_for_status()
        times.append(time.perf_counter() - t0)
    results["scs_cone_0.5deg"] = summary_ms(times)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        created = session.post(
            f"{base}/tap/async",
            data={"LANG": "ADQL", "QUERY": "SELECT TOP 5 scw_id FROM isgri.scw", "PHASE": "RUN"},
            allow_redirects=False,
        )
        job = created.headers["Location"]
        while True:
            phase = session.get(f"{job}/phase").text.strip()
            if phase in ("COMPLETED", "ERROR", "ABORTED"):
                break
            session.get(f"{job}", params={"WAIT": "5", "PHASE": phase})
        assert phase == "COMPLETED", phase
        session.get(f"{job}/results/result").raise_for_status()
        times.append(time.perf_counter() - t0)
    results["async_round_trip_small"] = summary_ms(times)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--detections", type=int, default=None)
    parser.add_argument("--scws", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    postgres = args.backend == "postgresql"
    # The embedded default scans (docs/tap.md): it is measured at the embedded archive's size.
    n_detections = args.detections or (N_DETECTIONS if postgres else 10_000)
    n_scw = args.scws or (N_SCW if postgres else 1_000)

    from processing.simulator import simulate_archive
    from tests._archives import tiny_scenario
    from vo_service.testing import serving

    root = Path(tempfile.mkdtemp(prefix="bench_tap_"))
    try:
        with contextlib.ExitStack() as stack:
            if postgres:
                url = stack.enter_context(postgres_database())
            else:
                url = f"sqlite:///{root / 'var' / 'bench.sqlite'}"
            t0 = time.perf_counter()
            simulate_archive(tiny_scenario(), root / "var" / "archive")
            (load if postgres else load_sqlite)(url, n_detections, n_scw)
            load_s = time.perf_counter() - t0
            env = {"VO_SERVICE_DATABASE_URL": url, "VO_SERVICE_RUNNER_POLL_INTERVAL": "0.02"}
            with serving(root / "var", env=env, startup_timeout=300) as base:
                results = measure(base, args.repeats)
        load_average = os.getloadavg()
        backend = "postgresql+pgsphere" if postgres else "sqlite"
        result = {
            "backend": backend,
            "detections": n_detections,
            "science_windows": n_scw,
            "load_s": round(load_s, 1),
            "load_average": load_average,
            "targets_ms": {"sync_p50": 50, "async_round_trip_p50": 100},
            **results,
        }
        path = write_result("bench_tap" if postgres else "bench_tap_sqlite", result)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"TAP on {backend}: {n_detections:,} detections, {n_scw:,} ScWs")
    for name, value in results.items():
        assert isinstance(value, dict)
        print(f"  {name:28s} p50 {value['p50_ms']:7.1f} ms   p90 {value['p90_ms']:7.1f} ms")
    print(f"  load average {load_average[0]:.2f} {load_average[1]:.2f} {load_average[2]:.2f}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
