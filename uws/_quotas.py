"""Quotas: how much one user may hold, queue and consume, checked when a job is created.

A :class:`QuotaPolicy` gives every owner a :class:`QuotaClass` (by name, through a function
the application supplies: a token's quota class, a configured user list...) and checks a new
job against it before the job is stored, in the same transaction as the insert:

* jobs held: PENDING jobs, and active (QUEUED or EXECUTING) jobs;
* jobs created since midnight UTC;
* consumption since midnight UTC, measured from the job table: execution seconds (start to
  end, or to now while executing) and result bytes (the sizes of the results of the jobs that
  ended today);
* per-request quantities the application computes from a validated job (a hook: e.g. the
  number of science windows a request selects).

A request over a per-request limit is refused with 403 (asking less helps, waiting does not);
over a count or a daily limit with 429 and a ``Retry-After``. The counts are taken under a
per-owner lock (an advisory transaction lock on PostgreSQL, a process lock on SQLite), so that
concurrent creations cannot together pass a limit that each alone respects. Anonymous users
share one pool (a cookie is too easily dropped to carry a quota).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from typing import cast as type_cast

from sqlalchemy import Connection, Float, Table, and_, cast, func, or_, select, text

from uws._errors import QuotaExceededError, RequestTooLargeError
from uws._schema import JobRow, ResultRow
from uws._storage import utcnow
from uws._transitions import ExecutionPhase

__all__ = ["QuotaClass", "QuotaPolicy", "RequestCost", "Usage", "owner_usage"]

JOB = type_cast(Table, JobRow.__table__)
RESULT = type_cast(Table, ResultRow.__table__)

#: Quantities measured by the service itself (per day).
EXECUTION_SECONDS = "execution_seconds"
RESULT_BYTES = "result_bytes"
#: A kind's per-request quantities, from the application's hook (``{}``: nothing to limit).
RequestCost = Callable[[str, dict[str, Any]], Mapping[str, float]]

_ACTIVE = (ExecutionPhase.QUEUED.value, ExecutionPhase.EXECUTING.value)
_SQLITE_LOCK = threading.Lock()


@dataclass(frozen=True)
class QuotaClass:
    """The limits of one class of users (``None``: unlimited).

    Attributes
    ----------
    name
        Class name (``default``, ``anonymous``, or the operators' own).
    max_pending
        PENDING jobs held at once.
    max_active
        QUEUED and EXECUTING jobs at once.
    max_jobs_per_day
        Jobs created since midnight UTC.
    max_execution_seconds_per_day
        Execution seconds of the jobs that ran since midnight UTC.
    max_result_bytes_per_day
        Result bytes of the jobs that ended since midnight UTC.
    per_request
        Largest value of each of the application's per-request quantities.
    """

    name: str
    max_pending: int | None = None
    max_active: int | None = None
    max_jobs_per_day: int | None = None
    max_execution_seconds_per_day: float | None = None
    max_result_bytes_per_day: float | None = None
    per_request: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    """What an owner holds now and consumed today."""

    pending: int
    active: int
    jobs_today: int
    execution_seconds_today: float
    result_bytes_today: float


def _owner_is(owner: str | None) -> Any:
    return JOB.c.owner.is_(None) if owner is None else JOB.c.owner == owner


def _midnight(now: dt.datetime) -> dt.datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def owner_usage(conn: Connection, owner: str | None, now: dt.datetime | None = None) -> Usage:
    """The owner's :class:`Usage` (anonymous: every anonymous job)."""
    now = now or utcnow()
    since = _midnight(now)
    phases: dict[str, int] = dict(
        conn.execute(
            select(JOB.c.phase, func.count())
            .where(_owner_is(owner), JOB.c.phase.in_([ExecutionPhase.PENDING.value, *_ACTIVE]))
            .group_by(JOB.c.phase)
        ).all()
    )
    jobs_today = conn.execute(
        select(func.count()).where(_owner_is(owner), JOB.c.creation_time >= since)
    ).scalar_one()
    # Execution seconds: computed in Python from the few rows of today (portable across
    # backends' interval arithmetic).
    spans = conn.execute(
        select(JOB.c.start_time, JOB.c.end_time).where(
            _owner_is(owner),
            JOB.c.start_time.is_not(None),
            or_(JOB.c.end_time.is_(None), JOB.c.end_time >= since),
        )
    ).all()
    seconds = 0.0
    for start, end in spans:
        begin = max(start, since)
        seconds += max(((end or now) - begin).total_seconds(), 0.0)
    result_bytes = conn.execute(
        select(func.coalesce(func.sum(cast(RESULT.c.size, Float)), 0.0)).where(
            RESULT.c.job_id.in_(
                select(JOB.c.id).where(
                    _owner_is(owner), and_(JOB.c.end_time.is_not(None), JOB.c.end_time >= since)
                )
            )
        )
    ).scalar_one()
    return Usage(
        pending=int(phases.get(ExecutionPhase.PENDING.value, 0)),
        active=sum(int(phases.get(p, 0)) for p in _ACTIVE),
        jobs_today=int(jobs_today),
        execution_seconds_today=seconds,
        result_bytes_today=float(result_bytes),
    )


class QuotaPolicy:
    """Chooses each owner's class and checks new jobs against it.

    Parameters
    ----------
    classes
        Quota classes by name; ``default`` applies to owners the chooser gives no class,
        ``anonymous`` (when present) to anonymous requests.
    class_of
        The class name of an owner (``None`` for the default), e.g. from their token.
    request_cost
        The per-request quantities of a validated job (the application's hook).
    """

    def __init__(
        self,
        classes: Mapping[str, QuotaClass],
        *,
        class_of: Callable[[str], str | None] | None = None,
        request_cost: RequestCost | None = None,
    ) -> None:
        if "default" not in classes:
            raise ValueError("quota classes need a 'default' class")
        self.classes = dict(classes)
        self._class_of = class_of
        self._request_cost = request_cost

    def class_for(self, owner: str | None) -> QuotaClass:
        """The owner's class (an unknown class name falls back to ``default``)."""
        if owner is None:
            return self.classes.get("anonymous", self.classes["default"])
        name = self._class_of(owner) if self._class_of is not None else None
        return self.classes.get(name or "default", self.classes["default"])

    def check_request(self, owner: str | None, kind: str, spec: dict[str, Any]) -> None:
        """Refuse a request larger than the owner's per-request limits (403), before any
        lock is taken."""
        quota = self.class_for(owner)
        if not quota.per_request or self._request_cost is None:
            return
        for quantity, amount in self._request_cost(kind, spec).items():
            limit = quota.per_request.get(quantity)
            if limit is not None and amount > limit:
                raise RequestTooLargeError(
                    f"quota: this request needs {amount:g} {quantity.replace('_', ' ')}; "
                    f"quota class {quota.name!r} allows {limit:g} per request"
                )

    @contextlib.contextmanager
    def process_lock(self, dialect: str) -> Iterator[None]:
        """On SQLite, one quota check-and-insert at a time in this process, held from before
        the transaction begins until after it commits (PostgreSQL: the advisory lock that
        :meth:`check_counts` takes inside the transaction does this)."""
        if dialect == "postgresql":
            yield
        else:
            with _SQLITE_LOCK:
                yield

    def check_counts(
        self, conn: Connection, owner: str | None, phase: ExecutionPhase, *, new: bool = True
    ) -> None:
        """Refuse (429) a job entering ``phase`` (a new job when ``new``; else a PENDING job
        sent to QUEUED) over a count or daily limit. Call inside the transaction that writes
        it, within :meth:`process_lock`."""
        quota = self.class_for(owner)
        if all(
            v is None
            for v in (
                quota.max_pending,
                quota.max_active,
                quota.max_jobs_per_day,
                quota.max_execution_seconds_per_day,
                quota.max_result_bytes_per_day,
            )
        ):
            return
        if conn.dialect.name == "postgresql":
            digest = hashlib.blake2b((owner or "").encode(), digest_size=8).digest()
            key = int.from_bytes(digest, "big", signed=True)
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        now = utcnow()
        used = owner_usage(conn, owner, now)
        run = phase is ExecutionPhase.QUEUED
        tomorrow = int((_midnight(now) + dt.timedelta(days=1) - now).total_seconds()) + 1
        name = quota.name
        if run and quota.max_active is not None and used.active >= quota.max_active:
            raise QuotaExceededError(
                f"quota: {used.active} jobs queued or running; quota class {name!r} allows "
                f"{quota.max_active} at once: wait for one to finish",
                retry_after=30,
            )
        pending = phase is ExecutionPhase.PENDING
        if pending and quota.max_pending is not None and used.pending >= quota.max_pending:
            raise QuotaExceededError(
                f"quota: {used.pending} PENDING jobs held; quota class {name!r} allows "
                f"{quota.max_pending}: run or delete one first",
                retry_after=30,
            )
        daily = [
            ("jobs created", used.jobs_today if new else 0, quota.max_jobs_per_day),
            (
                "execution seconds",
                used.execution_seconds_today,
                quota.max_execution_seconds_per_day,
            ),
            ("result bytes", used.result_bytes_today, quota.max_result_bytes_per_day),
        ]
        for what, amount, limit in daily:
            if limit is not None and amount >= limit:
                raise QuotaExceededError(
                    f"quota: {amount:g} {what} today; quota class {name!r} allows {limit:g} "
                    "per day (UTC): try again tomorrow",
                    retry_after=tomorrow,
                )
