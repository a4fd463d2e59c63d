"""pyvo drives the service over real HTTP: create, run, wait, results, abort, delete."""

from __future__ import annotations

import io
import time

import pytest
import requests
from pyvo.dal import DALQueryError
from pyvo.dal.tap import AsyncTAPJob
from pyvo.io.uws import parse_job, parse_job_list

from tests.uws._xsd import validate


def test_pyvo_full_cycle(http_url, runner) -> None:
    job = AsyncTAPJob.create(http_url, "SELECT 1", RUNID="pyvo-run")
    assert job.phase == "PENDING"
    assert job.uws_version == "1.1"
    assert job.job.runid == "pyvo-run"
    assert job.execution_duration.to_value("s") > 0
    job.run()
    job.wait(timeout=20)
    assert job.phase == "COMPLETED"
    uris = job.result_uris
    assert uris[0].endswith("/results/parameters") and uris[1] == "https://example.org/reference"
    # (pyvo.result_uri looks for the TAP result id "result"; ours is named "parameters".)
    text = requests.get(uris[0], timeout=10).text
    assert "QUERY=SELECT 1" in text and "LANG=ADQL" in text
    job.raise_if_error()
    url = job.url
    job.delete()
    assert requests.get(url, timeout=10).status_code == 404


def test_pyvo_abort_and_error(http_url, runner) -> None:
    job = AsyncTAPJob.create(http_url, "SELECT 1", KIND="sleep", SECONDS="30")
    job.run()
    # (pyvo's wait(phases=...) issues WAIT=-1 even when the job is already in the
    # phase, which blocks until the server's cap: poll instead.)
    deadline = time.monotonic() + 20
    while job.phase != "EXECUTING" and time.monotonic() < deadline:
        time.sleep(0.05)
    job.abort()
    assert job.phase == "ABORTED"
    failing = AsyncTAPJob.create(http_url, "SELECT 1", KIND="fail", MESSAGE="no such source")
    failing.run()
    failing.wait(timeout=20)
    assert failing.phase == "ERROR"
    with pytest.raises(DALQueryError, match="no such source"):
        failing.raise_if_error()


def test_pyvo_parsers_read_our_documents(http_url, runner) -> None:
    job = AsyncTAPJob.create(http_url, "SELECT 2", KIND="echo")
    listing = requests.get(f"{http_url}/async", timeout=10)
    validate(listing.content)
    refs = parse_job_list(io.BytesIO(listing.content))
    assert job.job_id in [ref.jobid for ref in refs]
    document = requests.get(job.url, timeout=10)
    validate(document.content)
    parsed = parse_job(io.BytesIO(document.content))
    assert parsed.phase == "PENDING" and parsed.ownerid is None
    assert {p.id_: p.content for p in parsed.parameters}["QUERY"] == "SELECT 2"
