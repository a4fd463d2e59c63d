"""The front server under idle and slow clients: ``python -m benchmarks.bench_front``.

Starts ``vo-service serve`` (demo job kinds, PostgreSQL unless ``--sqlite``), opens
``--idle`` connections that send nothing and ``--slow`` slowloris connections (a request line
and one header, then silence), then measures ``/health`` latency one request at a time and job
creation by ``--clients`` concurrent clients. Writes ``benchmarks/results/bench_front.json``.
Issue 17's goal: /health p99 <= 100 ms with 200 idle and 16 slow connections, 0 errors with
64 concurrent clients.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from benchmarks.bench_uws_support import postgres_database, summary_ms, write_result
from vo_service.testing import serving


def _hold(base: str, idle: int, slow: int) -> list[socket.socket]:
    host, port = base.removeprefix("http://").split(":")
    held = []
    for k in range(idle + slow):
        sock = socket.create_connection((host, int(port)), timeout=30)
        if k >= idle:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        held.append(sock)
    return held


def _create(base: str) -> bool:
    try:
        response = requests.post(
            f"{base}/async",
            data={"KIND": "echo", "PHASE": "RUN", "MESSAGE": "hi"},
            allow_redirects=False,
            timeout=60,
        )
        return response.status_code == 303
    except requests.RequestException:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--slow", type=int, default=16)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--threads", type=int, default=32, help="request threads of serve")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        data = Path(tmp)
        (data / "archive" / "scw").mkdir(parents=True)
        url = (
            f"sqlite:///{data / 'service.sqlite'}"
            if args.sqlite
            else stack.enter_context(postgres_database())
        )
        base = stack.enter_context(
            serving(
                data,
                "--no-demo",
                "--threads",
                str(args.threads),
                env={
                    "VO_SERVICE_DATABASE_URL": url,
                    "VO_SERVICE_UWS_DEMO_KINDS": "true",
                },
            )
        )
        held = _hold(base, args.idle, args.slow)
        try:
            time.sleep(0.5)
            latencies = []
            failures = 0
            session = requests.Session()
            for _ in range(args.requests):
                t0 = time.perf_counter()
                try:
                    ok = session.get(f"{base}/health", timeout=30).status_code == 200
                except requests.RequestException:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                failures += not ok
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                created = list(pool.map(lambda _: _create(base), range(args.clients * 5)))
            creation_s = time.perf_counter() - t0
        finally:
            for sock in held:
                sock.close()
    result = {
        "database": "sqlite" if args.sqlite else "postgresql",
        "threads": args.threads,
        "idle_connections": args.idle,
        "slow_connections": args.slow,
        "health": summary_ms(latencies),
        "health_failures": failures,
        "clients": args.clients,
        "creations": len(created),
        "creation_errors": created.count(False),
        "creations_per_s": round(len(created) / creation_s, 1),
        "load_average": os.getloadavg(),
    }
    path = write_result("bench_front", result)
    h = result["health"]
    print(
        f"{result['database']}, {args.idle} idle + {args.slow} slow connections: /health p50 "
        f"{h['p50_ms']} ms, p99 {h['p99_ms']} ms ({failures} failed; goal p99 <= 100 ms)"
    )
    print(
        f"{args.clients} concurrent clients: {len(created)} jobs created, "
        f"{result['creation_errors']} errors, {result['creations_per_s']}/s (goal 0 errors)"
    )
    print(f"load average {os.getloadavg()}; written to {path}")


if __name__ == "__main__":
    main()
