"""The runner: results, progress, errors, abort and time limits, recovery, expiry."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import update

from tests.uws._helpers import NS, create, error_message, job_doc, path_of, phase, text, wait_final
from tests.uws.conftest import start_runner
from uws import ExecutionPhase, JobRecord
from uws._storage import JOB, utcnow

P = ExecutionPhase
JI = "urn:x-uws:jobinfo:v1"


def wait_for(predicate, timeout: float = 10.0, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not reached in time")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) counts as stopped.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_echo_results_primary_first_and_files_served(env, client, runner) -> None:
    job_id = create(client, KIND="echo", PHASE="RUN", Target="Crab")
    assert wait_final(client, job_id) == "COMPLETED"
    root = job_doc(client, job_id)
    results = root.findall("uws:results/uws:result", NS)
    assert [r.get("id") for r in results] == ["parameters", "reference"]
    href = results[0].get("{http://www.w3.org/1999/xlink}href")
    body = client.get(path_of(href))
    assert body.status_code == 200 and body.mimetype == "text/plain"
    assert body.get_data(as_text=True) == "KIND=echo\nTarget=Crab\n"
    assert int(results[0].get("size")) == len(body.get_data())
    external = client.get(f"/async/{job_id}/results/reference")
    assert (
        external.status_code == 303
        and external.headers["Location"] == "https://example.org/reference"
    )
    assert text(root, "startTime") and text(root, "endTime")
    progress = root.find(f"uws:jobInfo/{{{JI}}}progress", NS)
    assert progress is not None and progress.get("fraction") == "1.0000"
    listing = client.get(f"/async/{job_id}/results")
    ids = [r.get("id") for r in etree.fromstring(listing.get_data()).findall("uws:result", NS)]
    assert ids == ["parameters", "reference"]


def test_progress_visible_while_executing(client, runner) -> None:
    job_id = create(client, KIND="sleep", SECONDS="2", STEPS="4", PHASE="RUN")

    def progressed():
        node = job_doc(client, job_id).find(f"uws:jobInfo/{{{JI}}}progress", NS)
        return (node,) if node is not None and float(node.get("done")) >= 1 else None

    (node,) = wait_for(progressed)
    assert node.get("total") == "4.0" and node.text.startswith("step ")
    assert wait_final(client, job_id) == "COMPLETED"


@pytest.mark.parametrize("cooperate", ["true", "false"])
def test_abort_stops_the_work_within_5s(client, runner, cooperate) -> None:
    job_id = create(
        client, KIND="sleep", SECONDS="60", STEPS="60", COOPERATE=cooperate, PHASE="RUN"
    )
    wait_for(lambda: phase(client, job_id) == "EXECUTING" and job_id in runner.running_jobs())
    slot = next(s for s in runner._slots if s.job_id == job_id)
    worker_pid = slot.process.pid
    start = time.monotonic()
    assert client.post(f"/async/{job_id}/phase", data={"PHASE": "ABORT"}).status_code == 303
    assert phase(client, job_id) == "ABORTED"
    wait_for(lambda: job_id not in runner.running_jobs(), timeout=5.0)
    assert time.monotonic() - start < 5.0
    if cooperate == "false":
        # The handler ignored the cancel request: its process was terminated.
        assert not pid_alive(worker_pid)
    else:
        assert pid_alive(worker_pid)
    time.sleep(0.3)
    assert phase(client, job_id) == "ABORTED"  # a late result never overrides ABORTED
    # The slot keeps working after a hard stop.
    assert wait_final(client, create(client, KIND="echo", PHASE="RUN")) == "COMPLETED"


def test_execution_duration_enforced(client, runner) -> None:
    job_id = create(
        client, KIND="sleep", SECONDS="60", COOPERATE="false", EXECUTIONDURATION="1", PHASE="RUN"
    )
    start = time.monotonic()
    assert wait_final(client, job_id) == "ABORTED"
    assert time.monotonic() - start < 5.0
    root = job_doc(client, job_id)
    summary = root.find("uws:errorSummary", NS)
    assert summary is not None and "executionDuration of 1 s exceeded" in summary.findtext(
        "uws:message", namespaces=NS
    )
    wait_for(lambda: not runner.running_jobs(), timeout=5.0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"MESSAGE": "no photons"}, "no photons"),
        # The exception's text stays out of the public message (it may name files or hosts).
        (
            {"CRASH": "true", "MESSAGE": "boom /secret/path"},
            "internal error (RuntimeError); the service log has the details of job {job_id}",
        ),
        ({"EXIT": "true"}, "the worker process died (exit code 3)"),
    ],
)
def test_failures_end_in_error(client, runner, params, message) -> None:
    job_id = create(client, KIND="fail", PHASE="RUN", **params)
    message = message.format(job_id=job_id)
    assert wait_final(client, job_id) == "ERROR"
    root = job_doc(client, job_id)
    summary = root.find("uws:errorSummary", NS)
    assert summary.get("type") == "fatal" and summary.get("hasDetail") == "true"
    assert summary.findtext("uws:message", namespaces=NS) == message
    error = client.get(f"/async/{job_id}/error")
    assert error.status_code == 200 and error_message(error.get_data()) == message
    # The runner goes on (a dead worker is replaced).
    assert wait_final(client, create(client, KIND="echo", PHASE="RUN")) == "COMPLETED"


def test_parameters_invalid_at_run_time_give_error(env, client, runner) -> None:
    """A job stored with parameters its kind now refuses ends in ERROR with the same message."""
    now = utcnow()
    env.store.add(
        JobRecord(
            id="stale0000000000000001",
            kind="echo",
            owner=None,
            run_id=None,
            phase=P.QUEUED,
            creation_time=now,
            start_time=None,
            end_time=None,
            destruction=now + dt.timedelta(days=1),
            execution_duration=60,
            quote=None,
            spec={},
            parameters=[("Band", "INVALID")],
        )
    )
    assert wait_final(client, "stale0000000000000001") == "ERROR"
    root = job_doc(client, "stale0000000000000001")
    assert (
        root.findtext("uws:errorSummary/uws:message", namespaces=NS)
        == "Band: the value INVALID is refused"
    )


def test_wait_returns_on_completion(client, runner) -> None:
    """A blocking GET returns when the job completes, not when its 10 s WAIT runs out. It takes
    milliseconds (notification, or the 50-500 ms backstop poll); the bound leaves room for a
    busy machine (0.42 s was seen under load) while staying far from the timeout."""
    job_id = create(client, KIND="sleep", SECONDS="0.6", STEPS="1", PHASE="RUN")
    wait_for(lambda: phase(client, job_id) == "EXECUTING")
    root = job_doc(client, job_id, WAIT="10")
    returned = dt.datetime.now(dt.UTC)
    assert text(root, "phase") == "COMPLETED"
    ended = dt.datetime.fromisoformat(text(root, "endTime"))
    assert (returned - ended).total_seconds() < 2.0


def test_sync_redirects(client, runner) -> None:
    done = client.get("/sync", query_string={"KIND": "echo", "a": "b"})
    assert done.status_code == 303 and path_of(done.headers["Location"]).endswith(
        "/results/parameters"
    )
    assert (
        client.get(path_of(done.headers["Location"])).get_data(as_text=True) == "KIND=echo\na=b\n"
    )
    failed = client.post("/sync", data={"KIND": "fail", "MESSAGE": "bad band"})
    assert failed.status_code == 303 and path_of(failed.headers["Location"]).endswith("/error")
    assert error_message(client.get(path_of(failed.headers["Location"])).get_data()) == "bad band"
    bad = client.get("/sync", query_string={"KIND": "sleep", "SECONDS": "forever"})
    assert bad.status_code == 400 and "SECONDS" in error_message(bad.get_data())


def test_sync_timeout_redirects_to_job(env, client, runner) -> None:
    from flask import Flask

    from tests.uws.conftest import ValidatingClient
    from uws import TrustedHeaderIdentity, create_uws_blueprint

    app = Flask("sync-timeout")
    app.test_client_class = ValidatingClient
    app.register_blueprint(
        create_uws_blueprint(env.service, TrustedHeaderIdentity(), sync_timeout=0.3)
    )
    slow = app.test_client().get("/sync", query_string={"KIND": "sleep", "SECONDS": "3"})
    assert slow.status_code == 303
    job_id = path_of(slow.headers["Location"]).rsplit("/", 1)[-1]
    assert phase(client, job_id) in {"QUEUED", "EXECUTING"}
    client.post(f"/async/{job_id}/phase", data={"PHASE": "ABORT"})


def test_delete_executing_job_removes_files(env, client, runner) -> None:
    job_id = create(client, KIND="sleep", SECONDS="30", STEPS="30", PHASE="RUN")
    wait_for(lambda: (env.work_root / job_id).is_dir() and job_id in runner.running_jobs())
    assert client.delete(f"/async/{job_id}").status_code == 303
    wait_for(lambda: job_id not in runner.running_jobs(), timeout=5.0)
    wait_for(lambda: not (env.work_root / job_id).exists(), timeout=2.0)
    assert env.store.get(job_id) is None


def test_expired_jobs_are_destroyed(env, client, runner) -> None:
    old = create(client, KIND="echo", PHASE="RUN")
    keep = create(client, KIND="echo")
    assert wait_final(client, old) == "COMPLETED"
    assert (env.work_root / old / "parameters.txt").is_file()
    with env.store.engine.begin() as conn:
        conn.execute(
            update(JOB)
            .where(JOB.c.id == old)
            .values(destruction=utcnow() - dt.timedelta(seconds=1))
        )
    assert runner.cleanup_expired() == [old]
    assert client.get(f"/async/{old}").status_code == 404
    assert not (env.work_root / old).exists()
    assert phase(client, keep) == "PENDING"


def test_abort_wins_over_late_completion(env, client) -> None:
    job_id = create(client, KIND="echo", PHASE="RUN")
    claimed = env.store.claim("test-runner", ["echo"])
    assert claimed is not None and claimed.id == job_id and claimed.phase is P.EXECUTING
    assert client.post(f"/async/{job_id}/phase", data={"PHASE": "ABORT"}).status_code == 303
    assert env.store.complete(job_id, []) is False
    assert phase(client, job_id) == "ABORTED"


@pytest.mark.parametrize("max_attempts", [1, 2])
def test_kill_9_of_the_runner(env, client, database_url, max_attempts) -> None:
    """A runner killed mid-job: its worker stops, and the next runner leaves nothing EXECUTING."""
    from tests.uws.conftest import start_runner

    # The real `vo-service worker` command, configured through the environment.
    environment = {
        **os.environ,
        "VO_SERVICE_DATABASE_URL": database_url,
        "VO_SERVICE_DATA_DIR": str(env.work_root.parent),
        "VO_SERVICE_UWS_WORK_PATH": str(env.work_root),
        "VO_SERVICE_UWS_DEMO_KINDS": "true",
        "VO_SERVICE_EXECUTOR": "inline",
        "VO_SERVICE_RUNNER_SLOTS": "1",
        "VO_SERVICE_RUNNER_POLL_INTERVAL": "0.1",
    }
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "vo-service"), "worker"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        job_id = create(client, KIND="sleep", SECONDS="2", STEPS="20", PHASE="RUN")
        wait_for(lambda: phase(client, job_id) == "EXECUTING", timeout=60)
        children = [
            int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        ]
        assert children, "the runner should have a worker process"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # The orphaned worker notices and exits: no work continues without a runner.
    wait_for(lambda: not any(pid_alive(c) for c in children), timeout=5.0)
    assert phase(client, job_id) == "EXECUTING"
    runner = start_runner(env, max_attempts=max_attempts, poll_interval=0.1, heartbeat_interval=0.5)
    try:
        if max_attempts == 1:
            assert phase(client, job_id) == "ERROR"
            message = job_doc(client, job_id).findtext(
                "uws:errorSummary/uws:message", namespaces=NS
            )
            assert "stopped unexpectedly" in message
            assert job_doc(client, job_id).find("uws:errorSummary", NS).get("type") == "transient"
        else:
            assert wait_final(client, job_id) == "COMPLETED"
        assert P.EXECUTING.value not in env.store.count_by_phase()
    finally:
        runner.stop()


def test_database_failure_mid_job_requeues(env, client, runner, monkeypatch) -> None:
    """A job whose completion cannot be recorded goes back to the queue, not stuck."""
    from sqlalchemy.exc import OperationalError

    real_complete = env.store.complete
    failures = []

    def flaky_complete(job_id, results, **kw):
        if not failures:
            failures.append(job_id)
            raise OperationalError("UPDATE", {}, Exception("server closed the connection"))
        return real_complete(job_id, results, **kw)

    monkeypatch.setattr(env.store, "complete", flaky_complete)
    job_id = create(client, KIND="echo", PHASE="RUN")
    assert wait_final(client, job_id) == "COMPLETED"
    assert failures == [job_id]
    assert env.store.get(job_id).attempts == 2


def test_a_claim_whose_read_back_fails_is_not_left_executing(env, client, monkeypatch) -> None:
    """The claim commits, then the database fails before the slot learns the job: the runner's
    own reconciliation requeues it once it is stale, and it completes (issue 17 defect 2)."""
    from sqlalchemy.exc import OperationalError

    real_claim = env.store.claim
    failures = []

    def claim_then_fail(runner_id, kinds):
        job = real_claim(runner_id, kinds)
        if job is not None and not failures:
            failures.append(job.id)
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))
        return job

    monkeypatch.setattr(env.store, "claim", claim_then_fail)
    runner = start_runner(env, slots=1, poll_interval=0.1, heartbeat_interval=0.2, stale_after=1.0)
    try:
        job_id = create(client, KIND="echo", PHASE="RUN")
        assert wait_final(client, job_id, timeout=60) == "COMPLETED"
        assert failures == [job_id]
        assert env.store.get(job_id).attempts == 2
    finally:
        runner.stop()
