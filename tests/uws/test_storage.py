"""Storage guarantees the runner relies on: exclusive claims, FIFO, compare-and-set."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.uws._helpers import create
from uws import ExecutionPhase
from uws._storage import JOB

P = ExecutionPhase


def test_claims_are_exclusive_and_fifo(env, client) -> None:
    ids = [create(client, KIND="echo", PHASE="RUN") for _ in range(4)]
    claimed = [env.store.claim(f"runner-{i % 2}", ["echo"]) for i in range(5)]
    assert [job.id for job in claimed[:4] if job] == ids
    assert claimed[4] is None
    assert all(job.phase is P.EXECUTING and job.attempts == 1 for job in claimed[:4] if job)


def test_claim_only_own_kinds(env, client) -> None:
    create(client, KIND="sleep", PHASE="RUN")
    assert env.store.claim("r", ["echo"]) is None
    assert env.store.claim("r", ["sleep", "echo"]) is not None


@pytest.mark.postgres
def test_claim_skips_rows_locked_by_another_runner(env, client, database_url) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's")
    first = create(client, KIND="echo", PHASE="RUN")
    second = create(client, KIND="echo", PHASE="RUN")
    with env.store.engine.connect() as other:
        # Another runner is in the middle of claiming the first job.
        other.execute(select(JOB.c.id).where(JOB.c.id == first).with_for_update())
        job = env.store.claim("runner-b", ["echo"])
        assert job is not None and job.id == second
        other.rollback()
    job = env.store.claim("runner-a", ["echo"])
    assert job is not None and job.id == first


def test_phase_change_is_compare_and_set(env, client) -> None:
    job_id = create(client)
    assert env.store.set_phase(job_id, [P.PENDING], P.QUEUED)
    assert not env.store.set_phase(job_id, [P.PENDING], P.ABORTED)
    assert env.store.get_phase(job_id) is P.QUEUED
