"""UWS load: many concurrent clients, two runner processes, PostgreSQL.

``python -m benchmarks.bench_uws_load [--clients 50 --jobs 20]``

Each client submits instant ``echo`` jobs with PHASE=RUN, follows each with WAIT to a
final phase and fetches its primary result, checking it belongs to that job.
Afterwards the database is checked: no errors, no lost job (every job final), no
duplicate (every job started exactly once), both runners took work.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from lxml import etree
from sqlalchemy import create_engine, func, select

from benchmarks.bench_uws import NS, _RawClient
from benchmarks.bench_uws_support import deployment, postgres_database, summary_ms, write_result
from uws._storage import JOB

FINAL = {"COMPLETED", "ERROR", "ABORTED"}


def _client(base: str, index: int, jobs: int) -> dict[str, object]:
    raw = _RawClient(base)
    errors: list[str] = []
    latencies = []
    ids = []
    for n in range(jobs):
        tag = f"c{index}-j{n}"
        start = time.perf_counter()
        raw.conn.request(
            "POST",
            "/async",
            f"KIND=echo&TAG={tag}&PHASE=RUN",
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = raw.conn.getresponse()
        response.read()
        if response.status != 303:
            errors.append(f"create {response.status}")
            continue
        path = urlsplit(response.headers["Location"]).path
        ids.append(path.rsplit("/", 1)[-1])
        phase = ""
        root = None
        for _ in range(200):
            status, body = raw.get(f"{path}?WAIT=10")
            if status != 200:
                errors.append(f"get {status}")
                break
            root = etree.fromstring(body)
            phase = str(root.findtext("uws:phase", namespaces=NS))
            if phase in FINAL:
                break
        latencies.append(time.perf_counter() - start)
        if phase != "COMPLETED" or root is None:
            errors.append(f"job {path} ended {phase}")
            continue
        href = root.find("uws:results/uws:result", NS).get("{http://www.w3.org/1999/xlink}href")
        status, body = raw.get(urlsplit(href).path)
        if status != 200 or f"TAG={tag}\n".encode() not in body:
            errors.append(f"job {path}: wrong result")
    return {"errors": errors, "latencies": latencies, "ids": ids}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=20, help="jobs per client")
    parser.add_argument("--runners", type=int, default=2)
    args = parser.parse_args()
    with (
        postgres_database() as url,
        deployment(url, web_workers=4, threads=16, runners=args.runners, slots=2) as svc,
    ):
        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            outcomes = list(
                pool.map(lambda i: _client(svc.base, i, args.jobs), range(args.clients))
            )
        elapsed = time.perf_counter() - start
        engine = create_engine(url)
        with engine.connect() as conn:
            phases = dict(
                conn.execute(select(JOB.c.phase, func.count()).group_by(JOB.c.phase)).all()
            )
            started_twice = conn.execute(select(func.count()).where(JOB.c.attempts != 1)).scalar()
            runners_used = conn.execute(select(func.count(JOB.c.runner_id.distinct()))).scalar()
            timings = conn.execute(
                select(JOB.c.creation_time, JOB.c.start_time, JOB.c.end_time)
            ).all()
        engine.dispose()
    errors = [e for o in outcomes for e in o["errors"]]  # type: ignore[attr-defined]
    ids = [i for o in outcomes for i in o["ids"]]  # type: ignore[attr-defined]
    latencies = [x for o in outcomes for x in o["latencies"]]  # type: ignore[attr-defined]
    expected = args.clients * args.jobs
    queued = [(t.start_time - t.creation_time).total_seconds() for t in timings if t.start_time]
    executing = [
        (t.end_time - t.start_time).total_seconds() for t in timings if t.start_time and t.end_time
    ]
    result = {
        "setup": {
            "database": "postgresql",
            "web": "gunicorn gthread 4 workers x 16 threads",
            "runners": f"{args.runners} vo-service worker processes x 2 slots",
            "clients": args.clients,
            "jobs_per_client": args.jobs,
        },
        "elapsed_s": round(elapsed, 2),
        "jobs_per_second": round(expected / elapsed, 1),
        "errors": len(errors),
        "error_samples": errors[:10],
        "jobs_created": len(ids),
        "duplicate_ids": len(ids) - len(set(ids)),
        "phases_in_database": phases,
        "jobs_started_other_than_once": started_twice,
        "runners_that_took_work": runners_used,
        "job_round_trip": summary_ms(latencies),
        "server_queue_wait": summary_ms(queued),
        "server_execution": summary_ms(executing),
    }
    path = write_result("bench_uws_load", result)
    lost = expected - phases.get("COMPLETED", 0)
    print(
        f"{expected} jobs by {args.clients} clients in {elapsed:.1f} s "
        f"({result['jobs_per_second']} jobs/s): {len(errors)} errors, {lost} not COMPLETED, "
        f"{started_twice} started other than once, {result['duplicate_ids']} duplicate ids, "
        f"{runners_used} runners used"
    )
    print(
        f"round trip under load: p50 {result['job_round_trip']['p50_ms']} ms; "
        f"queued p50 {result['server_queue_wait']['p50_ms']} ms, "
        f"executing p50 {result['server_execution']['p50_ms']} ms"
    )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
