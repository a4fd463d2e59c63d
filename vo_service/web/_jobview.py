"""What the pages show of a UWS job: phase, progress, duration, products, errors in plain words."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from uws import ACTIVE_PHASES, ExecutionPhase, JobRecord

__all__ = ["JobView", "duration_text", "job_view", "product_hashes"]

_PRODUCT_HREF = re.compile(r"/products/([0-9a-f]{64})/")
_ABORTABLE = frozenset(
    {
        ExecutionPhase.PENDING,
        ExecutionPhase.QUEUED,
        ExecutionPhase.EXECUTING,
        ExecutionPhase.HELD,
        ExecutionPhase.SUSPENDED,
    }
)
#: The phases as a person reads them.
PHASE_WORDS = {
    ExecutionPhase.PENDING: "waiting to be started",
    ExecutionPhase.QUEUED: "queued",
    ExecutionPhase.EXECUTING: "running",
    ExecutionPhase.COMPLETED: "finished",
    ExecutionPhase.ERROR: "failed",
    ExecutionPhase.ABORTED: "aborted",
    ExecutionPhase.HELD: "held",
    ExecutionPhase.SUSPENDED: "suspended",
    ExecutionPhase.ARCHIVED: "archived",
    ExecutionPhase.UNKNOWN: "unknown",
}
_ERROR_WORDS = {
    "fatal": "The request cannot succeed as it is: change it and submit it again.",
    "transient": "The service could not finish it this time: submitting it again may work.",
}


def duration_text(seconds: float | None) -> str:
    """``1 h 02 min``, ``3 min 05 s``, ``4.2 s`` or empty."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def product_hashes(hrefs: Sequence[str | None]) -> list[str]:
    """Hashes of the stored products that result URLs point to, first seen first."""
    found: list[str] = []
    for href in hrefs:
        match = _PRODUCT_HREF.search(href or "")
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


@dataclass(frozen=True)
class JobView:
    """One job as the pages show it."""

    id: str
    phase: str
    phase_words: str
    active: bool
    abortable: bool
    #: Whether the request form can take it (product jobs; not the demo kinds).
    cloneable: bool
    created: str
    duration: str
    fraction: float | None
    progress_note: str
    error: str
    error_advice: str
    product_type: str
    target: str
    parameters: tuple[tuple[str, str], ...]
    products: tuple[str, ...]
    #: The owner ("" for an anonymous job) and the job this one was cloned from ("" if none).
    owner: str = ""
    parent: str = ""

    def state(self, base: str) -> dict[str, object]:
        """The JSON the job page polls."""
        return {
            "id": self.id,
            "phase": self.phase,
            "phase_words": self.phase_words,
            "active": self.active,
            "fraction": self.fraction,
            "note": self.progress_note,
            "duration": self.duration,
            "error": self.error,
            "products": [f"{base}/web/products/{h}" for h in self.products],
        }


def _target(parameters: Sequence[tuple[str, str]]) -> str:
    values = {k.lower(): v for k, v in parameters}
    if values.get("src_name"):
        return values["src_name"]
    if values.get("ra") and values.get("dec"):
        return f"RA {values['ra']}, Dec {values['dec']}"
    if values.get("scw_list"):
        count = len([s for s in re.split(r"[\s,;]+", values["scw_list"]) if s])
        return f"{count} listed science windows"
    return ""


def job_view(job: JobRecord, now: dt.datetime | None = None) -> JobView:
    """The page's view of ``job``."""
    now = now or dt.datetime.now(dt.UTC)
    seconds = None
    if job.start_time is not None:
        seconds = ((job.end_time or now) - job.start_time).total_seconds()
    fraction = None
    note = ""
    if job.progress is not None:
        note = job.progress.note or ""
        if job.progress.total > 0:
            fraction = min(1.0, max(0.0, job.progress.done / job.progress.total))
    if job.phase is ExecutionPhase.COMPLETED:
        fraction = 1.0
    values = {k.lower(): v for k, v in job.parameters}
    return JobView(
        id=job.id,
        phase=job.phase.value,
        phase_words=PHASE_WORDS.get(job.phase, job.phase.value.lower()),
        active=job.phase in ACTIVE_PHASES,
        abortable=job.phase in _ABORTABLE,
        cloneable=job.kind == "product",
        created=job.creation_time.strftime("%Y-%m-%d %H:%M:%S UTC"),
        duration=duration_text(seconds),
        fraction=fraction,
        progress_note=note,
        error="" if job.error is None else job.error.message,
        error_advice="" if job.error is None else _ERROR_WORDS.get(job.error.error_type, ""),
        product_type=values.get("product_type", "image") if job.kind == "product" else job.kind,
        target=_target(job.parameters),
        parameters=tuple(job.parameters),
        products=tuple(product_hashes([r.href for r in job.results])),
        owner=job.owner or "",
        parent=job.parent_id or "",
    )
