"""Raw-HTTP matrix of the UWS 1.1 binding (no runner unless a test needs one).

Every XML body is XSD-validated by the client fixture (see conftest).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from tests.uws._helpers import NS, create, error_message, job_doc, path_of, phase, text
from uws import ExecutionPhase
from uws._storage import JOB

P = ExecutionPhase
ALL = list(P)


def force_phase(env, job_id: str, target: ExecutionPhase) -> None:
    assert env.store.set_phase(job_id, ALL, target)


# Creation ---
def test_create_pending_with_echoed_parameters(client) -> None:
    job_id = create(client, data=[("KIND", "echo"), ("Band", "20-40"), ("band", "40-80")])
    root = job_doc(client, job_id)
    assert root.get("version") == "1.1"
    assert text(root, "phase") == "PENDING"
    assert text(root, "jobId") == job_id
    for nillable in ("ownerId", "startTime", "endTime", "quote"):
        node = root.find(f"uws:{nillable}", NS)
        assert (
            node is not None
            and node.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
        )
    params = [(p.get("id"), p.text) for p in root.findall("uws:parameters/uws:parameter", NS)]
    assert params == [("KIND", "echo"), ("Band", "20-40"), ("band", "40-80")]
    assert root.find("uws:jobInfo", NS) is not None


def test_create_with_phase_run_runid_and_limits(env, client) -> None:
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    job_id = create(client, phase="RUN", runid="my-run", executionduration="30", destruction=when)
    root = job_doc(client, job_id)
    assert text(root, "phase") == "QUEUED"
    assert text(root, "runId") == "my-run"
    assert text(root, "executionDuration") == "30"
    assert text(root, "destruction") == when.replace("Z", ".000Z")
    # Control parameters are not job parameters.
    ids = {p.get("id").lower() for p in root.findall("uws:parameters/uws:parameter", NS)}
    assert ids.isdisjoint({"phase", "runid", "executionduration", "destruction"})


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ({"KIND": "sleep", "SECONDS": "soon"}, "SECONDS"),
        ({"KIND": "sleep", "seconds": "-1"}, "seconds"),
        ({"KIND": "nosuch"}, "KIND"),
        ({"PHASE": "ABORT"}, "PHASE"),
        ({"EXECUTIONDURATION": "ten"}, "EXECUTIONDURATION"),
        ({"EXECUTIONDURATION": "-5"}, "EXECUTIONDURATION"),
        ({"DESTRUCTION": "2001-01-01T00:00:00Z"}, "DESTRUCTION"),
        ({"DESTRUCTION": "next week"}, "DESTRUCTION"),
        ({"x": "INVALID"}, "x"),
    ],
)
def test_create_refuses_bad_parameters(client, data, name) -> None:
    response = client.post("/async", data=data)
    assert response.status_code == 400
    assert response.mimetype == "application/x-votable+xml"
    assert error_message(response.get_data()).startswith(f"UsageError: {name}:")


def test_execution_duration_capped(env, client) -> None:
    cap = env.service.policy.max_execution_duration
    assert text(job_doc(client, create(client, executionduration="0")), "executionDuration") == str(
        cap
    )
    job_id = create(client, executionduration=str(cap * 10))
    assert client.get(f"/async/{job_id}/executionduration").get_data(as_text=True) == str(cap)


# Child resources ---
def test_child_resources_text(client) -> None:
    job_id = create(client, user="alice")
    h = {"X-Remote-User": "alice"}
    assert client.get(f"/async/{job_id}/phase", headers=h).get_data(as_text=True) == "PENDING"
    assert client.get(f"/async/{job_id}/owner", headers=h).get_data(as_text=True) == "alice"
    assert client.get(f"/async/{job_id}/quote", headers=h).get_data(as_text=True) == ""
    duration = client.get(f"/async/{job_id}/executionduration", headers=h)
    assert duration.mimetype == "text/plain" and int(duration.get_data()) > 0
    destruction = client.get(f"/async/{job_id}/destruction", headers=h).get_data(as_text=True)
    assert dt.datetime.fromisoformat(destruction) > dt.datetime.now(dt.UTC)
    params = client.get(f"/async/{job_id}/parameters", headers=h)
    assert params.status_code == 200 and params.mimetype == "application/xml"
    results = client.get(f"/async/{job_id}/results", headers=h)
    assert results.status_code == 200
    # No error yet: the error resource says so in a DALI document.
    error = client.get(f"/async/{job_id}/error", headers=h)
    assert error.status_code == 404 and "has no error" in error_message(error.get_data())
    missing = client.get(f"/async/{job_id}/results/nothing", headers=h)
    assert missing.status_code == 404


def test_post_destruction_and_duration(client) -> None:
    job_id = create(client)
    when = dt.datetime.now(dt.UTC) + dt.timedelta(days=1, hours=3)
    response = client.post(f"/async/{job_id}/destruction", data={"DESTRUCTION": when.isoformat()})
    assert (
        response.status_code == 303 and path_of(response.headers["Location"]) == f"/async/{job_id}"
    )
    got = dt.datetime.fromisoformat(
        client.get(f"/async/{job_id}/destruction").get_data(as_text=True)
    )
    assert abs((got - when).total_seconds()) < 0.01
    past = client.post(f"/async/{job_id}/destruction", data={"DESTRUCTION": "2020-01-01"})
    assert past.status_code == 400 and "in the past" in error_message(past.get_data())
    assert (
        client.post(
            f"/async/{job_id}/executionduration", data={"EXECUTIONDURATION": "42"}
        ).status_code
        == 303
    )
    assert client.get(f"/async/{job_id}/executionduration").get_data(as_text=True) == "42"


def test_parameter_update_while_pending(client) -> None:
    job_id = create(client, KIND="sleep", SECONDS="1")
    assert client.post(f"/async/{job_id}/parameters", data={"seconds": "2"}).status_code == 303
    params = {
        p.get("id"): p.text
        for p in job_doc(client, job_id).findall("uws:parameters/uws:parameter", NS)
    }
    assert params == {"KIND": "sleep", "seconds": "2"}
    bad = client.post(f"/async/{job_id}/parameters", data={"SECONDS": "x"})
    assert bad.status_code == 400 and "SECONDS" in error_message(bad.get_data())
    # The refused update left the job as it was.
    params = {
        p.get("id"): p.text
        for p in job_doc(client, job_id).findall("uws:parameters/uws:parameter", NS)
    }
    assert params["seconds"] == "2"


def test_run_id_through_the_parameter_list(client) -> None:
    # Clients such as STILTS taplint set runId with the other parameters; other control
    # parameters keep their own resources.
    job_id = create(client, KIND="sleep", SECONDS="1")
    response = client.post(f"/async/{job_id}/parameters", data={"runId": "label-1"})
    assert response.status_code == 303
    assert text(job_doc(client, job_id), "runId") == "label-1"
    bad = client.post(f"/async/{job_id}/parameters", data={"PHASE": "RUN"})
    assert bad.status_code == 400 and "PHASE" in error_message(bad.get_data())


# Illegal transitions ---
@pytest.mark.parametrize("final", [P.COMPLETED, P.ERROR, P.ABORTED])
def test_run_refused_in_final_phases(env, client, final) -> None:
    job_id = create(client)
    force_phase(env, job_id, final)
    response = client.post(f"/async/{job_id}/phase", data={"PHASE": "RUN"})
    assert response.status_code == 409
    assert f"cannot RUN a job in phase {final.value}" in error_message(response.get_data())
    assert phase(client, job_id) == final.value


@pytest.mark.parametrize("final", [P.COMPLETED, P.ERROR, P.ARCHIVED])
def test_abort_refused_when_finished(env, client, final) -> None:
    job_id = create(client)
    force_phase(env, job_id, final)
    assert client.post(f"/async/{job_id}/phase", data={"PHASE": "ABORT"}).status_code == 409
    assert phase(client, job_id) == final.value


@pytest.mark.parametrize("current", [P.QUEUED, P.EXECUTING, P.COMPLETED, P.ERROR, P.ABORTED])
def test_changes_refused_unless_pending(env, client, current) -> None:
    job_id = create(client)
    force_phase(env, job_id, current)
    assert client.post(f"/async/{job_id}/parameters", data={"a": "b"}).status_code == 409
    r = client.post(f"/async/{job_id}/executionduration", data={"EXECUTIONDURATION": "5"})
    assert r.status_code == 409


@pytest.mark.parametrize(
    ("start", "posted", "expected"),
    [
        (P.PENDING, "RUN", "QUEUED"),
        (P.PENDING, "ABORT", "ABORTED"),
        (P.QUEUED, "ABORT", "ABORTED"),
        (P.EXECUTING, "ABORT", "ABORTED"),
        (P.QUEUED, "RUN", "QUEUED"),
        (P.ABORTED, "abort", "ABORTED"),
    ],
)
def test_phase_posts(env, client, start, posted, expected) -> None:
    job_id = create(client)
    if start is not P.PENDING:
        force_phase(env, job_id, start)
    response = client.post(f"/async/{job_id}/phase", data={"PHASE": posted})
    assert response.status_code == 303
    assert phase(client, job_id) == expected


def test_bad_phase_values(client) -> None:
    job_id = create(client)
    assert client.post(f"/async/{job_id}/phase", data={"PHASE": "SUSPEND"}).status_code == 400
    assert client.post(f"/async/{job_id}/phase", data={}).status_code == 400
    assert client.post(f"/async/{job_id}", data={"ACTION": "EXPLODE"}).status_code == 400


# Deletion ---
@pytest.mark.parametrize("how", ["DELETE", "POST"])
def test_delete(client, how) -> None:
    job_id = create(client)
    if how == "DELETE":
        response = client.delete(f"/async/{job_id}")
    else:
        response = client.post(f"/async/{job_id}", data={"ACTION": "DELETE"})
    assert response.status_code == 303 and path_of(response.headers["Location"]) == "/async"
    assert client.get(f"/async/{job_id}").status_code == 404
    assert client.delete(f"/async/{job_id}").status_code == 404


# Owners ---
def test_users_see_only_their_jobs(client) -> None:
    alice = create(client, user="alice")
    bob = create(client, user="bob")
    anon = create(client)
    for path in ("", "/phase", "/parameters", "/results", "/owner", "/error"):
        assert (
            client.get(f"/async/{alice}{path}", headers={"X-Remote-User": "bob"}).status_code == 404
        )
        assert client.get(f"/async/{alice}{path}").status_code == 404
    assert (
        client.post(
            f"/async/{alice}/phase", data={"PHASE": "ABORT"}, headers={"X-Remote-User": "bob"}
        ).status_code
        == 404
    )
    assert client.delete(f"/async/{alice}", headers={"X-Remote-User": "bob"}).status_code == 404
    listed = client.get("/async", headers={"X-Remote-User": "alice"}).get_data()
    assert alice.encode() in listed and bob.encode() not in listed and anon.encode() not in listed
    root = job_doc(client, alice, user="alice")
    assert text(root, "ownerId") == "alice"


# Job list filters ---
BASE = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def listed_jobs(env, client):
    """Six jobs created a day apart, in chosen phases."""
    phases = [P.PENDING, P.QUEUED, P.EXECUTING, P.COMPLETED, P.ERROR, P.ARCHIVED]
    ids = []
    for day, target in enumerate(phases):
        job_id = create(client)
        with env.store.engine.begin() as conn:
            conn.execute(
                update(JOB)
                .where(JOB.c.id == job_id)
                .values(creation_time=BASE + dt.timedelta(days=day))
            )
        if target is not P.PENDING:
            force_phase(env, job_id, target)
        ids.append(job_id)
    return ids


def listed(client, **query) -> list[str]:
    from lxml import etree

    response = client.get("/async", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    root = etree.fromstring(response.get_data())
    return [ref.get("id") for ref in root.findall("uws:jobref", NS)]


def test_list_hides_archived_newest_first(client, listed_jobs) -> None:
    assert listed(client) == listed_jobs[:5][::-1]


@pytest.mark.parametrize(
    ("phases", "expected"),
    [
        (["PENDING"], [0]),
        (["QUEUED", "EXECUTING"], [2, 1]),
        (["COMPLETED", "ERROR", "pending"], [4, 3, 0]),
        (["ARCHIVED"], [5]),
        (["ABORTED"], []),
    ],
)
def test_phase_filter(client, listed_jobs, phases, expected) -> None:
    query = [("PHASE", p) for p in phases]
    response = client.get("/async", query_string=query)
    from lxml import etree

    got = [ref.get("id") for ref in etree.fromstring(response.get_data()).findall("uws:jobref", NS)]
    assert got == [listed_jobs[i] for i in expected]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2030-01-03T12:00:00Z", [4, 3]),
        ("2030-01-03T12:00:00", [4, 3]),
        ("2030-01-03T12:00:00.000Z", [4, 3]),
        ("2030-01-03T13:30:00+01:30", [4, 3]),
        ("2030-01-04", [4]),  # strictly after midnight of the 4th (job 3's creation time)
        ("2029-12-31T23:59:59.999999+00:00", [4, 3, 2, 1, 0]),
    ],
)
def test_after_filter(client, listed_jobs, after, expected) -> None:
    assert listed(client, AFTER=after) == [listed_jobs[i] for i in expected]


def test_last_and_combinations(client, listed_jobs) -> None:
    assert listed(client, LAST="2") == [listed_jobs[4], listed_jobs[3]]
    assert listed(client, LAST="100") == listed_jobs[:5][::-1]
    combined = client.get(
        "/async",
        query_string=[
            ("PHASE", "PENDING"),
            ("PHASE", "QUEUED"),
            ("PHASE", "EXECUTING"),
            ("AFTER", "2030-01-01T12:00Z"),
            ("LAST", "1"),
        ],
    )
    from lxml import etree

    ids = [r.get("id") for r in etree.fromstring(combined.get_data()).findall("uws:jobref", NS)]
    assert ids == [listed_jobs[2]]
    assert listed(client, PHASE="ARCHIVED", AFTER="2030-01-02") == [listed_jobs[5]]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"LAST": "0"}, "LAST"),
        ({"LAST": "many"}, "LAST"),
        ({"AFTER": "yesterday"}, "AFTER"),
        ({"PHASE": "DONE"}, "PHASE"),
    ],
)
def test_bad_filters(client, query, name) -> None:
    response = client.get("/async", query_string=query)
    assert response.status_code == 400
    assert error_message(response.get_data()).startswith(f"UsageError: {name}:")


# WAIT without a runner (final and non-matching phases return at once) ---
@pytest.mark.parametrize("final", [P.COMPLETED, P.ERROR, P.ABORTED])
def test_wait_returns_at_once_in_final_phase(env, client, final) -> None:
    import time

    job_id = create(client)
    force_phase(env, job_id, final)
    start = time.monotonic()
    assert phase(client, job_id, WAIT="5") == final.value
    assert time.monotonic() - start < 2.5  # at once, not after the 5 s (a busy machine is slow)


def test_wait_with_other_phase_returns_at_once_and_times_out(client) -> None:
    import time

    job_id = create(client)
    start = time.monotonic()
    assert phase(client, job_id, WAIT="5", PHASE="EXECUTING") == "PENDING"
    assert time.monotonic() - start < 2.5  # at once, not after the 5 s
    start = time.monotonic()
    assert phase(client, job_id, WAIT="0.4", PHASE="PENDING") == "PENDING"
    assert 0.35 < time.monotonic() - start < 4.0
    assert client.get(f"/async/{job_id}", query_string={"WAIT": "soon"}).status_code == 400


def test_wait_wakes_on_phase_change(env, client) -> None:
    """A change made by another request wakes WAIT at once, not at the end of its 5 s.

    The latency figure itself (p50 well under 50 ms) is measured by benchmarks/bench_uws.py;
    here a generous bound keeps the test meaningful on a loaded 2-core CI machine.
    """
    import threading
    import time

    job_id = create(client)
    changed_at: list[float] = []

    def later() -> None:
        time.sleep(0.5)
        changed_at.append(time.monotonic())
        env.store.set_phase(job_id, [P.PENDING], P.QUEUED)

    thread = threading.Thread(target=later)
    thread.start()
    assert phase(client, job_id, WAIT="5") == "QUEUED"
    returned = time.monotonic()
    thread.join()
    assert returned - changed_at[0] < 2.5  # woken, not at the end of the 5 s


def test_wait_capped(env, client) -> None:
    import time

    object.__setattr__(env.service.policy, "wait_cap", 0.3)
    job_id = create(client)
    start = time.monotonic()
    assert phase(client, job_id, WAIT="-1") == "PENDING"
    assert 0.25 < time.monotonic() - start < 5.0  # the cap, not an unbounded wait


# Authentication ---
def test_anonymous_refused_when_configured(database_url, tmp_path) -> None:
    from flask import Flask
    from werkzeug.security import generate_password_hash

    from tests.uws.conftest import ValidatingClient, make_env
    from uws import BasicAuthIdentity, create_uws_blueprint

    env = make_env(database_url, tmp_path)
    app = Flask("auth")
    app.test_client_class = ValidatingClient
    identity = BasicAuthIdentity({"carol": generate_password_hash("secret")}, allow_anonymous=False)
    app.register_blueprint(create_uws_blueprint(env.service, identity))
    client = app.test_client()
    refused = client.get("/async")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
    wrong = client.get("/async", auth=("carol", "nope"))
    assert wrong.status_code == 401
    job = client.post("/async", data={"x": "1"}, auth=("carol", "secret"))
    assert job.status_code == 303
    owner = client.get(path_of(job.headers["Location"]) + "/owner", auth=("carol", "secret"))
    assert owner.get_data(as_text=True) == "carol"
    env.store.engine.dispose()


@pytest.mark.parametrize("action", ["RUN", "ABORT"])
@pytest.mark.parametrize("start", list(ExecutionPhase))
def test_phase_matrix_follows_the_table(env, client, start, action) -> None:
    """Every (phase, PHASE=action) pair over HTTP does what the transition table says."""
    from uws import TRANSITIONS, Action

    job_id = create(client)
    if start is not P.PENDING:
        force_phase(env, job_id, start)
    response = client.post(f"/async/{job_id}/phase", data={"PHASE": action})
    key = (start, Action(action))
    if key not in TRANSITIONS:
        assert response.status_code == 409
        assert f"cannot {action} a job in phase {start.value}" in error_message(response.get_data())
        expected = start
    else:
        assert response.status_code == 303
        expected = TRANSITIONS[key] or start
    assert phase(client, job_id) == expected.value
