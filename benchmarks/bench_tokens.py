"""What a bearer token adds to a request (goal: at most 1 ms).

Measured: the signature and claims check alone (``TokenService.decode``), the full check with
the revocation look-up (``verify``) on SQLite and, when reachable, PostgreSQL; and a whole
request (``GET /async/<job>`` through the Flask test client) with a bearer token against the
same request with the trusted header, interleaved so that both see the same machine load.

Run: ``.venv/bin/python -m benchmarks.bench_tokens`` (writes results/bench_tokens.json).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import Engine, create_engine, text

from benchmarks._harness import write_result
from uws import (
    BearerTokenIdentity,
    JobStore,
    TokenService,
    TrustedHeaderIdentity,
    UWSService,
    create_uws_blueprint,
)
from uws.testing import test_kinds
from vo_service.db import make_engine, upgrade_database

ADMIN_URL = os.environ.get(
    "VO_SERVICE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REPEATS = 3000


def per_call_us(fn: Callable[[], Any], n: int = REPEATS) -> dict[str, float]:
    """Median and p90 of one call, in microseconds (each call timed alone)."""
    for _ in range(50):  # warm caches and connection pools
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {
        "n": n,
        "median_us": round(statistics.median(times) * 1e6, 1),
        "p90_us": round(times[int(0.9 * (n - 1))] * 1e6, 1),
    }


@contextmanager
def sqlite_engine() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.sqlite'}")
        upgrade_database(engine)
        yield engine
        engine.dispose()


@contextmanager
def postgres_engine() -> Iterator[Engine | None]:
    name = f"bench_tokens_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        yield None
        return
    engine = make_engine(ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        upgrade_database(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def token_figures(engine: Engine) -> dict[str, Any]:
    tokens = TokenService(engine, b"k" * 48, issuer="ivo://bench/svc", audience="https://bench")
    token, _ = tokens.issue("alice", lifetime=dt.timedelta(hours=1), roles=["astronomer"])
    return {
        "decode": per_call_us(lambda: tokens.decode(token)),
        "verify": per_call_us(lambda: tokens.verify(token)),
    }


def request_figures(engine: Engine) -> dict[str, Any]:
    """Whole requests: bearer token against the trusted header, interleaved."""
    store = JobStore(engine)
    kinds = test_kinds()
    service = UWSService(store, kinds, default_kind="echo")
    tokens = TokenService(engine, b"k" * 48, issuer="ivo://bench/svc", audience="https://bench")
    app = Flask("bench-tokens")
    identity = BearerTokenIdentity(tokens, TrustedHeaderIdentity())
    app.register_blueprint(create_uws_blueprint(service, identity))
    client = app.test_client()
    token, _ = tokens.issue("alice", lifetime=dt.timedelta(hours=1))
    bearer = {"Authorization": f"Bearer {token}"}
    header = {"X-Remote-User": "alice"}
    created = client.post("/async", data={"MESSAGE": "m"}, headers=header)
    path = "/async/" + created.headers["Location"].rsplit("/", 1)[-1]
    for headers in (bearer, header):
        assert client.get(path, headers=headers).status_code == 200
    with_token, with_header = [], []
    for _ in range(50):
        client.get(path, headers=bearer)
        client.get(path, headers=header)
    for _ in range(REPEATS // 3):
        t0 = time.perf_counter()
        client.get(path, headers=bearer)
        t1 = time.perf_counter()
        client.get(path, headers=header)
        t2 = time.perf_counter()
        with_token.append(t1 - t0)
        with_header.append(t2 - t1)
    store.close()  # its PostgreSQL listener, before the database is dropped
    token_ms = statistics.median(with_token) * 1000
    header_ms = statistics.median(with_header) * 1000
    return {
        "n": len(with_token),
        "request_with_bearer_median_ms": round(token_ms, 3),
        "request_with_header_median_ms": round(header_ms, 3),
        "added_median_ms": round(token_ms - header_ms, 3),
    }


def main() -> None:
    result: dict[str, Any] = {"goal_added_ms": 1.0}
    with sqlite_engine() as engine:
        result["sqlite"] = {**token_figures(engine), "request": request_figures(engine)}
    with postgres_engine() as engine:
        if engine is not None:
            result["postgresql"] = {**token_figures(engine), "request": request_figures(engine)}
    path = write_result("bench_tokens", result)
    for backend in ("sqlite", "postgresql"):
        if backend not in result:
            print(f"{backend}: not measured (no database)")
            continue
        figures = result[backend]
        request = figures["request"]
        print(
            f"{backend}: decode {figures['decode']['median_us']} us, "
            f"verify (with revocation look-up) {figures['verify']['median_us']} us; "
            f"GET job: bearer {request['request_with_bearer_median_ms']} ms vs header "
            f"{request['request_with_header_median_ms']} ms, added "
            f"{request['added_median_ms']} ms (goal <= 1 ms)"
        )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
