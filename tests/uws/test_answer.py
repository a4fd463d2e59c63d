"""Jobs a kind answers at creation: stored COMPLETED with their results, no runner involved."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.uws._helpers import NS, create, job_doc, path_of, text
from tests.uws.conftest import UWSEnv, ValidatingClient, uws_env
from uws import JobKind, JobResult, KindRegistry
from uws.testing import run_echo, validate_echo

JI = "urn:x-uws:jobinfo:v1"


def _answer(spec: dict[str, Any], owner: str | None) -> list[JobResult] | None:
    """Results for Target=known (the primary listed second), none otherwise."""
    target = {k.lower(): v for k, v in spec["pairs"]}.get("target")
    if target == "boom":
        raise RuntimeError("the answerer broke")
    if target == "file":
        return [JobResult("local", path="out.txt")]  # a work-folder file: not an answer
    if target != "known":
        return None
    who = owner or "anonymous"
    return [
        JobResult("preview", mime_type="image/png", href=f"https://example.org/{who}/p.png"),
        JobResult(
            "image",
            mime_type="application/fits",
            href=f"https://example.org/{who}/i.fits",
            size=2880,
            primary=True,
        ),
    ]


def _describe(results: Sequence[tuple[str, str | None, str | None]]) -> list[Any]:
    """One ``fits`` entry per FITS result; Bob's jobs break the describer."""
    if any("/bob/" in (href or "") for _, href, _ in results):
        raise RuntimeError("the describer broke")
    return [("fits", {"result": rid, "at": href}) for rid, href, mime in results if "fits" in mime]


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Iterator[UWSEnv]:
    kinds = KindRegistry(
        [JobKind("echo", validate_echo, run_echo, "echo", answer=_answer, describe=_describe)]
    )
    with uws_env(database_url, tmp_path, kinds) as e:
        yield e


@pytest.fixture
def client(env: UWSEnv) -> ValidatingClient:
    return env.client()


def test_answered_job_is_completed_at_creation_without_a_runner(client, env) -> None:
    # No runner is started in this module: a job that completes did so at creation.
    job_id = create(client, KIND="echo", PHASE="RUN", Target="known", user="alice")
    root = job_doc(client, job_id, user="alice")
    assert text(root, "phase") == "COMPLETED"
    assert text(root, "startTime") == text(root, "endTime") is not None
    results = root.findall("uws:results/uws:result", NS)
    assert [r.get("id") for r in results] == ["image", "preview"]  # primary first
    assert results[0].get(f"{{{NS['xlink']}}}href") == "https://example.org/alice/i.fits"
    assert results[0].get("size") == "2880" and results[0].get("mime-type") == "application/fits"
    progress = root.find(f"uws:jobInfo/{{{JI}}}progress", NS)
    assert progress is not None and "0 computed" in etree.tostring(progress).decode()
    redirect = client.get(f"/async/{job_id}/results/image", headers={"X-Remote-User": "alice"})
    assert redirect.status_code == 303
    assert redirect.headers["Location"] == "https://example.org/alice/i.fits"
    assert env.store.get(job_id).attempts == 0


@pytest.mark.parametrize("target", ["unknown", "boom", "file"])
def test_jobs_not_answered_are_queued_for_the_runner(client, target) -> None:
    job_id = create(client, KIND="echo", PHASE="RUN", Target=target)
    root = job_doc(client, job_id)
    assert text(root, "phase") == "QUEUED"
    assert root.findall("uws:results/uws:result", NS) == []


def test_a_pending_job_is_not_answered_until_it_is_run(client) -> None:
    job_id = create(client, KIND="echo", Target="known")
    assert text(job_doc(client, job_id), "phase") == "PENDING"
    response = client.post(f"/async/{job_id}/phase", data={"PHASE": "RUN"})
    assert response.status_code == 303 and path_of(response.headers["Location"])
    assert text(job_doc(client, job_id), "phase") == "QUEUED"


def test_the_kind_describes_its_results_in_job_info(client) -> None:
    job_id = create(client, KIND="echo", PHASE="RUN", Target="known", user="alice")
    root = job_doc(client, job_id, user="alice")  # schema-validated by the client
    entries = root.findall(f"uws:jobInfo/{{{JI}}}fits", NS)
    assert [(e.get("result"), e.get("at")) for e in entries] == [
        ("image", "https://example.org/alice/i.fits")
    ]
    # A queued job has no results: nothing to describe.
    queued = create(client, KIND="echo", PHASE="RUN", Target="unknown")
    assert job_doc(client, queued).findall(f"uws:jobInfo/{{{JI}}}fits", NS) == []


def test_a_failing_describer_leaves_the_job_document_whole(client) -> None:
    job_id = create(client, KIND="echo", PHASE="RUN", Target="known", user="bob")
    root = job_doc(client, job_id, user="bob")
    assert text(root, "phase") == "COMPLETED"
    assert root.findall(f"uws:jobInfo/{{{JI}}}fits", NS) == []
    assert root.find(f"uws:jobInfo/{{{JI}}}kind", NS) is not None
