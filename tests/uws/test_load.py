"""A small load test: concurrent HTTP clients, two runners sharing the database.

(The full 50 clients x 20 jobs run is ``python -m benchmarks.bench_uws_load``.)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests
from lxml import etree
from sqlalchemy import func, select

from tests.uws._helpers import NS
from tests.uws.conftest import start_runner
from uws import JobStore, Runner, RunnerConfig
from uws._storage import JOB
from uws.testing import test_kinds

CLIENTS = 8
JOBS_PER_CLIENT = 6


def _client(base: str, index: int) -> list[tuple[str, str, str]]:
    session = requests.Session()
    done = []
    for n in range(JOBS_PER_CLIENT):
        tag = f"c{index}-j{n}"
        created = session.post(
            f"{base}/async",
            data={"KIND": "echo", "TAG": tag, "PHASE": "RUN"},
            allow_redirects=False,
        )
        assert created.status_code == 303, created.text
        url = created.headers["Location"]
        for _ in range(100):
            root = etree.fromstring(session.get(url, params={"WAIT": "5"}).content)
            phase = root.findtext("uws:phase", namespaces=NS)
            if phase in {"COMPLETED", "ERROR", "ABORTED"}:
                break
        result = root.find("uws:results/uws:result", NS)
        href = result.get("{http://www.w3.org/1999/xlink}href") if result is not None else ""
        body = session.get(href).text if href else ""
        done.append((url.rsplit("/", 1)[-1], str(phase), body))
        assert f"TAG={tag}\n" in body
    return done


def test_concurrent_clients_two_runners(env, http_url) -> None:
    first = start_runner(env, slots=2, poll_interval=0.1)
    # The second runner has its own store, as a separate process would.
    other_store = JobStore(env.store.engine)
    second = Runner(other_store, test_kinds(), RunnerConfig(work_root=env.work_root, slots=2))
    second.start()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            outcomes = [
                job
                for jobs in pool.map(lambda i: _client(http_url, i), range(CLIENTS))
                for job in jobs
            ]
    finally:
        first.stop()
        second.stop()
        other_store.close()
    assert len(outcomes) == CLIENTS * JOBS_PER_CLIENT
    assert {phase for _, phase, _ in outcomes} == {"COMPLETED"}
    assert len({job_id for job_id, _, _ in outcomes}) == len(outcomes)
    with env.store.engine.connect() as conn:
        total, max_attempts = conn.execute(select(func.count(), func.max(JOB.c.attempts))).one()
        runners = conn.execute(select(func.count(JOB.c.runner_id.distinct()))).scalar()
    assert total == len(outcomes)
    assert max_attempts == 1  # no job ran twice
    assert runners in {1, 2}  # which runner takes a job is up to the race
