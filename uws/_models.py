"""Plain data objects the service hands between layers (not rows, not XML)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from uws._transitions import ExecutionPhase

__all__ = [
    "JobError",
    "JobFilter",
    "JobRecord",
    "JobSummaryRef",
    "Progress",
    "Reader",
    "StoredResult",
]


@dataclass(frozen=True)
class StoredResult:
    """A result as stored: a file in the work folder or an external URL."""

    id: str
    href: str | None
    path: str | None
    mime_type: str | None
    size: int | None
    primary: bool


@dataclass(frozen=True)
class JobError:
    """Why a job ended in ERROR (or was aborted by the server)."""

    error_type: str  # "fatal" or "transient"
    message: str
    detail: str | None = None


@dataclass(frozen=True)
class Progress:
    """Last progress report of a running job."""

    done: float
    total: float
    note: str | None


@dataclass
class JobRecord:
    """Everything known about one job."""

    id: str
    kind: str
    owner: str | None
    run_id: str | None
    phase: ExecutionPhase
    creation_time: dt.datetime
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    destruction: dt.datetime
    execution_duration: int
    quote: dt.datetime | None
    spec: dict[str, Any] | None
    parameters: list[tuple[str, str]] = field(default_factory=list)
    results: list[StoredResult] = field(default_factory=list)
    error: JobError | None = None
    progress: Progress | None = None
    runner_id: str | None = None
    heartbeat_at: dt.datetime | None = None
    attempts: int = 0
    #: The anonymous client whose job list shows the job (see :class:`~uws.AnonymousClients`).
    client: str | None = None
    #: The job this one was cloned from.
    parent_id: str | None = None


@dataclass(frozen=True)
class Reader:
    """Who reads a job: the user, their groups, and the share key they present (a link's).

    A job is readable by its owner and by the grantees it is shared with (:meth:`grantees`).
    """

    user: str | None
    groups: frozenset[str] = frozenset()
    key: str | None = None

    def grantees(self) -> list[str]:
        """The share grants that would admit this reader."""
        found = [f"group:{g}" for g in sorted(self.groups)]
        if self.user is not None:
            found.append(f"user:{self.user}")
        if self.key:
            found.append(f"link:{self.key}")
        return found


@dataclass(frozen=True)
class JobSummaryRef:
    """The few fields a job list shows."""

    id: str
    run_id: str | None
    owner: str | None
    phase: ExecutionPhase
    creation_time: dt.datetime


@dataclass(frozen=True)
class JobFilter:
    """Job-list filters (UWS 1.1 section 2.2.3.1)."""

    phases: frozenset[ExecutionPhase] | None = None
    after: dt.datetime | None = None
    last: int | None = None
    #: Only jobs with this runId (a front that tags its jobs finds them again).
    run_id: str | None = None
    #: For anonymous owners: only this client's jobs (``None``: every anonymous job, for a
    #: front that finds its jobs by ``run_id``).
    client: str | None = None
