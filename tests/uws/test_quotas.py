"""Quotas, refused at creation with a DALI error (429 or 403) and nothing stored; exact under 16
concurrent clients (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask

from tests.uws._helpers import create, error_message
from tests.uws.conftest import UWSEnv, ValidatingClient
from uws import (
    ExecutionPhase,
    JobRecord,
    QuotaClass,
    QuotaPolicy,
    StoredResult,
    TrustedHeaderIdentity,
    create_uws_blueprint,
    owner_usage,
)
from uws._storage import utcnow

ALICE = {"X-Remote-User": "alice"}


def _cost(kind: str, spec: dict[str, Any]) -> dict[str, float]:
    """The echo kind's per-request quantity: the message's length."""
    message = "".join(v for k, v in spec["pairs"] if k.upper() == "MESSAGE")
    return {"characters": float(len(message))} if kind == "echo" else {}


def _policy(**limits: Any) -> QuotaPolicy:
    classes = {
        "default": QuotaClass("default", **limits),
        "large": QuotaClass("large"),  # unlimited
        "anonymous": QuotaClass("anonymous", max_pending=1),
    }
    return QuotaPolicy(
        classes, class_of=lambda owner: "large" if owner == "bigco" else None, request_cost=_cost
    )


@pytest.fixture
def quota_env(env: UWSEnv) -> UWSEnv:
    env.service.quotas = _policy()
    return env


def _set(env: UWSEnv, **limits: Any) -> None:
    env.service.quotas = _policy(**limits)


def _jobs(env: UWSEnv, owner: str | None = "alice") -> int:
    with env.store.engine.connect() as conn:
        used = owner_usage(conn, owner)
    return used.pending + used.active


def _refused(response: Any, status: int, *fragments: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    message = error_message(response.data)
    assert message.startswith("UsageError: quota:"), message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_active_jobs(quota_env: UWSEnv) -> None:
    _set(quota_env, max_active=2)
    client = quota_env.client()
    for _ in range(2):
        create(client, user="alice", MESSAGE="m", PHASE="RUN")
    refused = client.post("/async", data={"MESSAGE": "m", "PHASE": "RUN"}, headers=ALICE)
    _refused(refused, 429, "2 jobs queued or running", "'default' allows 2 at once")
    assert refused.headers["Retry-After"] == "30"
    assert _jobs(quota_env) == 2  # nothing stored
    # Somebody else, and a user of an unlimited class, are not held up by alice.
    create(client, user="bob", MESSAGE="m", PHASE="RUN")
    for _ in range(3):
        create(client, user="bigco", MESSAGE="m", PHASE="RUN")
    # A PENDING job is not active: it is created, but cannot be run until a slot frees.
    job_id = create(client, user="alice", MESSAGE="m")
    run = client.post(f"/async/{job_id}/phase", data={"PHASE": "RUN"}, headers=ALICE)
    _refused(run, 429, "2 jobs queued or running")
    assert client.get(f"/async/{job_id}/phase", headers=ALICE).data == b"PENDING"
    # One ends: the next one runs.
    listing = quota_env.service.list_jobs("alice", _filter(ExecutionPhase.QUEUED))
    quota_env.store.set_phase(listing[0].id, [ExecutionPhase.QUEUED], ExecutionPhase.ABORTED)
    run = client.post(f"/async/{job_id}/phase", data={"PHASE": "RUN"}, headers=ALICE)
    assert run.status_code == 303


def _filter(phase: ExecutionPhase) -> Any:
    from uws import JobFilter

    return JobFilter(phases=frozenset({phase}))


def test_pending_jobs(quota_env: UWSEnv) -> None:
    _set(quota_env, max_pending=1)
    client = quota_env.client()
    create(client, user="alice", MESSAGE="m")
    refused = client.post("/async", data={"MESSAGE": "m"}, headers=ALICE)
    _refused(refused, 429, "1 PENDING jobs held", "run or delete one first")
    # Running ones are not pending.
    create(client, user="alice", MESSAGE="m", PHASE="RUN")
    assert _jobs(quota_env) == 2


def test_anonymous_requests_share_the_anonymous_class(quota_env: UWSEnv) -> None:
    client = quota_env.client()
    create(client, MESSAGE="m")
    refused = quota_env.app.test_client().post("/async", data={"MESSAGE": "m"})
    _refused(refused, 429, "quota class 'anonymous'")


def test_jobs_per_day(quota_env: UWSEnv) -> None:
    _set(quota_env, max_jobs_per_day=3)
    client = quota_env.client()
    ids = [create(client, user="alice", MESSAGE="m") for _ in range(3)]
    refused = client.post("/async", data={"MESSAGE": "m"}, headers=ALICE)
    retry = int(refused.headers["Retry-After"])
    _refused(refused, 429, "3 jobs created today", "allows 3 per day (UTC)")
    assert 0 < retry <= 86401
    # A job created yesterday does not count.
    _backdate(quota_env, ids[0], days=1)
    assert client.post("/async", data={"MESSAGE": "m"}, headers=ALICE).status_code == 303


def _backdate(env: UWSEnv, job_id: str, *, days: int) -> None:
    from sqlalchemy import update

    from uws._schema import JobRow

    with env.store.engine.begin() as conn:
        conn.execute(
            update(JobRow.__table__)
            .where(JobRow.__table__.c.id == job_id)
            .values(creation_time=utcnow() - dt.timedelta(days=days))
        )


def _finished(env: UWSEnv, owner: str, seconds: float, sizes: list[int]) -> None:
    """A job of ``owner`` that ran ``seconds`` and ended now with results of ``sizes``."""
    now = utcnow()
    env.store.add(
        JobRecord(
            id=f"done{len(sizes)}{int(seconds)}{owner}"[:32],
            kind="echo",
            owner=owner,
            run_id=None,
            phase=ExecutionPhase.COMPLETED,
            creation_time=now - dt.timedelta(seconds=seconds + 1),
            start_time=now - dt.timedelta(seconds=seconds),
            end_time=now,
            destruction=now + dt.timedelta(days=1),
            execution_duration=600,
            quote=None,
            spec={},
            results=[
                StoredResult(f"r{i}", f"https://example.org/{i}", None, "text/plain", size, i == 0)
                for i, size in enumerate(sizes)
            ],
        )
    )


def test_execution_seconds_per_day(quota_env: UWSEnv) -> None:
    _set(quota_env, max_execution_seconds_per_day=100)
    client = quota_env.client()
    _finished(quota_env, "alice", 60, [])
    assert client.post("/async", data={"MESSAGE": "m"}, headers=ALICE).status_code == 303
    _finished(quota_env, "alice", 45, [1])
    refused = client.post("/async", data={"MESSAGE": "m", "PHASE": "RUN"}, headers=ALICE)
    message = _refused(refused, 429, "execution seconds today", "allows 100 per day")
    assert 105 <= float(message.split("quota: ")[1].split()[0]) < 110


def test_result_bytes_per_day(quota_env: UWSEnv) -> None:
    _set(quota_env, max_result_bytes_per_day=1000)
    client = quota_env.client()
    _finished(quota_env, "alice", 1, [400, 500])
    assert client.post("/async", data={"MESSAGE": "m"}, headers=ALICE).status_code == 303
    _finished(quota_env, "alice", 2, [100])
    refused = client.post("/async", data={"MESSAGE": "m"}, headers=ALICE)
    _refused(refused, 429, "1000 result bytes today", "allows 1000 per day")
    _finished(quota_env, "bob", 3, [5000])  # bob's bytes are bob's
    assert client.post("/async", data={"MESSAGE": "m"}, headers=ALICE).status_code == 429


def test_per_request_limit_is_403(quota_env: UWSEnv) -> None:
    _set(quota_env, per_request={"characters": 5})
    client = quota_env.client()
    assert client.post("/async", data={"MESSAGE": "short"}, headers=ALICE).status_code == 303
    refused = client.post("/async", data={"MESSAGE": "too long"}, headers=ALICE)
    _refused(refused, 403, "needs 8 characters", "'default' allows 5 per request")
    assert "Retry-After" not in refused.headers
    # /sync is refused the same way, with nothing stored.
    sync = client.get("/sync", query_string={"MESSAGE": "too long"}, headers=ALICE)
    _refused(sync, 403, "needs 8 characters")
    assert _jobs(quota_env) == 1


# 16 concurrent clients -----------------------------------------------------------------------
@pytest.fixture
def quota_url(quota_env: UWSEnv) -> Iterator[str]:
    from werkzeug.serving import make_server

    app = Flask("uws-quota-test")
    app.test_client_class = ValidatingClient
    app.register_blueprint(create_uws_blueprint(quota_env.service, TrustedHeaderIdentity()))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.mark.parametrize(
    ("limits", "data", "allowed"),
    [
        ({"max_active": 5}, {"MESSAGE": "m", "PHASE": "RUN"}, 5),
        ({"max_pending": 3}, {"MESSAGE": "m"}, 3),
        ({"max_jobs_per_day": 7}, {"MESSAGE": "m"}, 7),
    ],
)
def test_counts_are_exact_under_16_concurrent_clients(
    quota_env: UWSEnv, quota_url: str, limits: dict[str, int], data: dict[str, str], allowed: int
) -> None:
    _set(quota_env, **limits)
    clients = 16
    barrier = threading.Barrier(clients)
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        with requests.Session() as session:
            barrier.wait()
            response = session.post(
                f"{quota_url}/async", data=data, headers=ALICE, allow_redirects=False, timeout=60
            )
            with lock:
                statuses.append(response.status_code)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert sorted(statuses) == [303] * allowed + [429] * (clients - allowed)
    assert _jobs(quota_env) == allowed
    with quota_env.store.engine.connect() as conn:
        assert owner_usage(conn, "alice").jobs_today == allowed
