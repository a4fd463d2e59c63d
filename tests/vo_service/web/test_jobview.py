"""What the pages say of a job: phase and error in plain words, duration, products."""

from __future__ import annotations

import datetime as dt

from uws import ExecutionPhase, JobError, JobRecord, Progress, StoredResult
from vo_service.web._jobview import duration_text, job_view, product_hashes

_T0 = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
_HASH = "ab" * 32


def _job(phase: ExecutionPhase, **fields: object) -> JobRecord:
    return JobRecord(
        id="0123456789abcdef0123",
        kind="product",
        owner="alice",
        run_id=None,
        phase=phase,
        creation_time=_T0,
        start_time=_T0,
        end_time=None,
        destruction=_T0 + dt.timedelta(days=7),
        execution_duration=3600,
        quote=None,
        spec=None,
        parameters=[("product_type", "spectrum"), ("src_name", "Crab")],
        **fields,  # type: ignore[arg-type]
    )


def test_a_failed_job_says_why_and_what_to_do() -> None:
    error = JobError("fatal", "no catalog source within radius of the position")
    view = job_view(_job(ExecutionPhase.ERROR, error=error), now=_T0 + dt.timedelta(seconds=75))
    assert view.phase_words == "failed" and not view.active and not view.abortable
    assert view.error == "no catalog source within radius of the position"
    assert view.error_advice.startswith("The request cannot succeed as it is")
    assert view.duration == "1 min 15 s"
    assert (view.product_type, view.target) == ("spectrum", "Crab")


def test_a_running_job_has_its_progress_and_a_finished_one_its_products() -> None:
    running = job_view(
        _job(ExecutionPhase.EXECUTING, progress=Progress(3, 12, "3 computed")),
        now=_T0 + dt.timedelta(seconds=4.25),
    )
    assert running.active and running.abortable and running.fraction == 0.25
    assert running.progress_note == "3 computed" and running.duration == "4.2 s"
    href = f"http://x/products/{_HASH}/Crab.pha"
    done = job_view(
        _job(
            ExecutionPhase.COMPLETED,
            results=[StoredResult("Crab.pha", href, None, "application/fits", 10, True)],
        )
    )
    assert done.products == (_HASH,) and done.fraction == 1.0
    assert done.state("")["products"] == [f"/web/products/{_HASH}"]


def test_small_helpers() -> None:
    assert duration_text(None) == "" and duration_text(7300) == "2 h 01 min"
    assert product_hashes([None, f"/products/{_HASH}/a", f"/products/{_HASH}/b"]) == [_HASH]
