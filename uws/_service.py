"""The UWS rules: creation, phase changes, limits, WAIT, ownership.

Handlers parse HTTP and render XML; this layer decides; :class:`~uws.JobStore`
runs the SQL. Nothing here knows Flask.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from uws._comments import Comment, CommentStore, clean_comment
from uws._errors import (
    InvalidTransitionError,
    JobNotFoundError,
    ParameterError,
    ReadOnlyError,
    ResultNotFoundError,
)
from uws._kinds import InfoEntry, KindRegistry, ParameterSet
from uws._models import JobFilter, JobRecord, JobSummaryRef, Progress, Reader, StoredResult
from uws._notifications import NotifyPolicy
from uws._quotas import QuotaPolicy
from uws._sharing import ShareStore, parse_grant
from uws._storage import JobStore, utcnow
from uws._text import MAX_NAME_LENGTH, check_text
from uws._transitions import (
    ACTIVE_PHASES,
    FINAL_PHASES,
    Action,
    ExecutionPhase,
    allowed_from,
    next_phase,
)

__all__ = [
    "CONTROL_PARAMETERS",
    "UWSPolicy",
    "UWSService",
    "checked_pairs",
    "parse_iso_datetime",
    "remove_work_dir",
]

log = logging.getLogger(__name__)

#: Parameters that steer the job rather than feed the handler (case-insensitive).
CONTROL_PARAMETERS = frozenset({"phase", "runid", "executionduration", "destruction"})
#: Progress note of a job its kind answered at creation (no runner, nothing computed).
ANSWERED_NOTE = "answered at creation from existing results: 0 computed"

KindSelector = Callable[[ParameterSet], str]


@dataclass(frozen=True)
class UWSPolicy:
    """Limits the service enforces.

    Attributes
    ----------
    max_execution_duration
        Cap (s) on executionDuration; requests for 0 (unlimited) or more get the cap.
    default_execution_duration
        executionDuration (s) of a new job that asks for none.
    default_destruction
        Lifetime of a new job.
    max_destruction
        Longest lifetime a client may ask for.
    wait_cap
        Longest WAIT (s) the server blocks for.
    poll_interval
        Backstop (s) of WAIT's notification: how often it re-reads the database,
        which matters only for changes made by another process without
        LISTEN/NOTIFY (SQLite).
    """

    max_execution_duration: int = 3600
    default_execution_duration: int | None = None
    default_destruction: dt.timedelta = dt.timedelta(days=7)
    max_destruction: dt.timedelta = dt.timedelta(days=30)
    wait_cap: float = 60.0
    poll_interval: float = 0.05

    @property
    def initial_execution_duration(self) -> int:
        """executionDuration of a new job."""
        value = self.default_execution_duration or self.max_execution_duration
        return min(value, self.max_execution_duration)


def parse_iso_datetime(name: str, value: str) -> dt.datetime:
    """Parse an ISO 8601 instant (UTC assumed when no offset is given).

    Accepts dates, ``Z`` and numeric offsets, and fractional seconds.

    Raises
    ------
    ParameterError
        Naming ``name`` when ``value`` is not ISO 8601.
    """
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ParameterError(name, f"{value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ParameterError(name, f"{value!r} is outside years 1 to 9999 in UTC") from None


def checked_pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The request's parameters, once every name and value can be stored and rendered.

    Raises
    ------
    ParameterError
        Naming the parameter whose name or value holds a character XML forbids (or NUL),
        whose name is longer than its column, or a RUNID longer than its column.
    """
    checked = []
    for name, value in pairs:
        check_text(name, name, max_length=MAX_NAME_LENGTH)
        limit = MAX_NAME_LENGTH if name.lower() == "runid" else None
        checked.append((name, check_text(name, value, max_length=limit)))
    return checked


#: Longest job identifier the store holds (its column is ``VARCHAR(32)``).
_MAX_JOB_ID = 32


def _check_job_id(job_id: str) -> None:
    """Refuse an identifier that cannot exist without asking the database (PostgreSQL
    refuses NUL in text, and a longer one cannot match)."""
    if len(job_id) > _MAX_JOB_ID or not job_id.isprintable():
        raise JobNotFoundError(job_id[: _MAX_JOB_ID + 1])


def _new_job_id() -> str:
    return secrets.token_hex(10)


class UWSService:
    """The job service of one UWS endpoint.

    Parameters
    ----------
    store
        Job storage (shared by every endpoint and the runner).
    kinds
        The kinds this endpoint creates and lists.
    default_kind
        Kind of new jobs when ``kind_selector`` is not given.
    kind_selector
        Picks the kind from the raw parameters (e.g. from a ``PRODUCT`` parameter);
        it may raise :class:`~uws.ParameterError`.
    policy
        Limits.
    """

    def __init__(
        self,
        store: JobStore,
        kinds: KindRegistry,
        *,
        default_kind: str | None = None,
        kind_selector: KindSelector | None = None,
        policy: UWSPolicy | None = None,
        work_root: Path | None = None,
        quotas: QuotaPolicy | None = None,
        notify: NotifyPolicy | None = None,
    ) -> None:
        if default_kind is None and kind_selector is None:
            names = kinds.names()
            if len(names) != 1:
                raise ValueError("give default_kind or kind_selector when several kinds exist")
            default_kind = names[0]
        if default_kind is not None and default_kind not in kinds:
            raise ValueError(f"default kind {default_kind!r} is not registered")
        self.store = store
        self.kinds = kinds
        self.policy = policy or UWSPolicy()
        self._default_kind = default_kind
        self._selector = kind_selector
        self.work_root = work_root
        self.quotas = quotas
        self.shares = ShareStore(store.engine)
        self.comments = CommentStore(store.engine)
        self.notify = notify

    # Creation --------------------------------------------------------------------------
    def create(
        self,
        owner: str | None,
        pairs: Iterable[tuple[str, str]],
        *,
        run: bool = False,
        client: str | None = None,
        parent_id: str | None = None,
    ) -> JobRecord:
        """Validate parameters and store a new job (QUEUED when PHASE=RUN or ``run``).

        ``client`` names the anonymous client whose list shows the job (ignored when the job
        has an owner).

        Raises
        ------
        ParameterError
            For an invalid control or job parameter.
        """
        control: dict[str, tuple[str, str]] = {}
        job_pairs: list[tuple[str, str]] = []
        notify: list[str] = []
        for name, value in checked_pairs(pairs):
            if name.lower() == "notify":
                notify.append(value)
            elif name.lower() in CONTROL_PARAMETERS:
                control[name.lower()] = (name, value)
            else:
                job_pairs.append((name, value))
        if "phase" in control:
            given, value = control["phase"]
            if value.upper() != "RUN":
                raise ParameterError(given, f"only RUN is accepted at creation, not {value!r}")
            run = True
        params = ParameterSet(job_pairs)
        kind = self._select_kind(params)
        spec = self.kinds.validate(kind, params)
        targets, email = self._notify_targets(owner, notify)
        now = utcnow()
        duration = self.policy.initial_execution_duration
        if "executionduration" in control:
            duration = self._parse_duration(*control["executionduration"])
        destruction = now + self.policy.default_destruction
        if "destruction" in control:
            destruction = self._parse_destruction(*control["destruction"], now=now)
        run_id = control["runid"][1] if "runid" in control else None
        answered = self._answer(kind, spec, owner) if run else None
        job = JobRecord(
            id=_new_job_id(),
            kind=kind,
            owner=owner,
            run_id=run_id,
            phase=(
                ExecutionPhase.COMPLETED
                if answered is not None
                else ExecutionPhase.QUEUED
                if run
                else ExecutionPhase.PENDING
            ),
            creation_time=now,
            start_time=None if answered is None else now,
            end_time=None if answered is None else now,
            destruction=destruction,
            execution_duration=duration,
            quote=None,
            spec=spec,
            parameters=job_pairs,
            results=answered or [],
            progress=None if answered is None else Progress(0.0, 0.0, ANSWERED_NOTE),
            client=client if owner is None else None,
            parent_id=parent_id,
        )
        self._add_within_quota(job, self._notify_writer(job.id, targets, email))
        log.info("created job %s (%s) for %s in %s", job.id, kind, owner, job.phase.value)
        return job

    # Notifications (kept apart: creation only calls these) ---------------------------------
    def _notify_targets(self, owner: str | None, given: list[str]) -> tuple[list[str], str | None]:
        if self.notify is None:
            if given:
                raise ParameterError("NOTIFY", "this service sends no notifications")
            return [], None
        return self.notify.targets(owner, given)

    @staticmethod
    def _notify_writer(
        job_id: str, targets: list[str], email: str | None
    ) -> Callable[[Connection], None] | None:
        if not targets:
            return None
        return lambda conn: NotifyPolicy.record(conn, job_id, targets, email)

    # Quotas (kept apart: creation only calls these) ----------------------------------------
    def _add_within_quota(
        self, job: JobRecord, then: Callable[[Connection], None] | None = None
    ) -> None:
        """Store the new job, refused (and not stored) when it is over its owner's quota."""
        quotas = self.quotas
        if quotas is None:
            self.store.add(job, then=then)
            return
        assert job.spec is not None
        quotas.check_request(job.owner, job.kind, job.spec)
        with quotas.process_lock(self.store.engine.dialect.name):
            self.store.add(job, guard=lambda conn: quotas.check_counts(conn, job.owner, job.phase))

    def _queue_within_quota(self, job: JobRecord) -> bool:
        """PENDING -> QUEUED, refused when the owner's active jobs are at their quota."""
        quotas = self.quotas
        if quotas is None:
            return self.store.set_phase(job.id, [job.phase], ExecutionPhase.QUEUED)
        with quotas.process_lock(self.store.engine.dialect.name):
            return self.store.set_phase(
                job.id,
                [job.phase],
                ExecutionPhase.QUEUED,
                guard=lambda conn: quotas.check_counts(
                    conn, job.owner, ExecutionPhase.QUEUED, new=False
                ),
            )

    def _answer(
        self, kind: str, spec: dict[str, Any], owner: str | None
    ) -> list[StoredResult] | None:
        """The kind's answer at creation as stored results (primary first), or ``None``."""
        try:
            results = self.kinds.answer(kind, spec, owner)
        except Exception:  # an answer is an optimisation: the runner will do the work
            log.exception("job kind %s: answering at creation failed", kind)
            return None
        if not results or any(r.href is None for r in results):
            return None
        stored = [StoredResult(r.id, r.href, None, r.mime_type, r.size, r.primary) for r in results]
        if not any(r.primary for r in stored):
            first = stored[0]
            stored[0] = StoredResult(first.id, first.href, None, first.mime_type, first.size, True)
        stored.sort(key=lambda r: not r.primary)
        return stored

    def _select_kind(self, params: ParameterSet) -> str:
        if self._selector is not None:
            return self._selector(params)
        assert self._default_kind is not None
        return self._default_kind

    def _parse_duration(self, name: str, value: str) -> int:
        try:
            seconds = int(value.strip())
        except ValueError:
            raise ParameterError(name, f"{value!r} is not an integer number of seconds") from None
        if seconds < 0:
            raise ParameterError(name, "must not be negative")
        cap = self.policy.max_execution_duration
        # 0 means "unlimited" in UWS; this server never runs unlimited jobs.
        return cap if seconds == 0 or seconds > cap else seconds

    def _parse_destruction(self, name: str, value: str, *, now: dt.datetime) -> dt.datetime:
        when = parse_iso_datetime(name, value)
        if when <= now:
            raise ParameterError(name, f"{value!r} is in the past")
        return min(when, now + self.policy.max_destruction)

    # Reading -------------------------------------------------------------------------------
    def get(self, owner: str | None, job_id: str, *, reader: Reader | None = None) -> JobRecord:
        """The job, if it belongs to ``owner`` (or, with ``reader``, if that reader may read it:
        its owner, or a grantee of one of its shares).

        Raises
        ------
        JobNotFoundError
            When it does not exist, is of another endpoint's kind, or is somebody else's.
        """
        _check_job_id(job_id)
        if reader is None:
            job = self.store.get(job_id, owner=owner, check_owner=True)
        else:
            job = self.store.get(job_id)
            if (
                job is not None
                and job.owner != reader.user
                and not self.shares.admits(job_id, reader.grantees())
            ):
                job = None
        if job is None or job.kind not in self.kinds:
            raise JobNotFoundError(job_id)
        return job

    # Sharing and cloning -----------------------------------------------------------------
    def check_writable(self, reader: Reader, job_id: str) -> None:
        """Refuse (403) a change by a reader the job is only shared with; a job the reader
        cannot read at all stays a 404 (its existence is not told)."""
        try:
            self.get(reader.user, job_id)
        except JobNotFoundError:
            owner = self.get(reader.user, job_id, reader=reader).owner
            raise ReadOnlyError(
                f"job {job_id} is shared with you by {owner} for reading only"
            ) from None

    def grants(self, owner: str | None, job_id: str) -> list[str]:
        """The job's shares (its owner's to see)."""
        self._sharer(owner, job_id)
        return self.shares.grants(job_id)

    def share(
        self, owner: str | None, job_id: str, add: Sequence[str], remove: Sequence[str]
    ) -> list[str]:
        """Add grants (``user:<name>``, ``group:<name>``, ``link``) and remove grants (as
        listed); the grants after the change.

        Raises
        ------
        ParameterError
            For a malformed grant.
        ReadOnlyError
            For an anonymous owner (whose jobs anybody with the link reads already).
        """
        self._sharer(owner, job_id)
        parsed = [parse_grant("ADD", value) for value in add]
        for value in remove:
            self.shares.revoke(job_id, value.strip())
        for grant in parsed:
            self.shares.grant(job_id, grant)
        log.info("job %s: shared with %d grantees", job_id, len(self.shares.grants(job_id)))
        return self.shares.grants(job_id)

    def _sharer(self, owner: str | None, job_id: str) -> JobRecord:
        job = self.get(owner, job_id)
        if owner is None:
            raise ReadOnlyError("sign in to share jobs: anonymous jobs have no owner to share")
        return job

    def comment(self, reader: Reader, job_id: str, text: str) -> Comment:
        """Add a comment by a reader of the job (its owner or a grantee).

        Raises
        ------
        ParameterError
            Naming ``TEXT``, for an empty, too long or unprintable comment.
        """
        self.get(reader.user, job_id, reader=reader)
        stored = self.comments.add(job_id, reader.user, clean_comment("TEXT", text))
        log.info("job %s: comment by %s", job_id, reader.user)
        return stored

    def comments_on_result(self, reader: Reader, href_fragment: str) -> list[tuple[str, Comment]]:
        """The comments, as ``(job id, comment)``, on the jobs ``reader`` may read that have a
        result whose link contains ``href_fragment`` (e.g. one product's files)."""
        found: list[tuple[str, Comment]] = []
        for job_id in self.readable_ids(
            reader, self.comments.commented_jobs_with_result(href_fragment)
        ):
            found.extend((job_id, c) for c in self.comments.comments(job_id))
        return found

    def readable_ids(self, reader: Reader, job_ids: Sequence[str]) -> list[str]:
        """The ids among ``job_ids`` that ``reader`` may read (order kept)."""
        readable = []
        for job_id in job_ids:
            try:
                self.get(reader.user, job_id, reader=reader)
            except JobNotFoundError:
                continue
            readable.append(job_id)
        return readable

    def clone(
        self,
        owner: str | None,
        reader: Reader,
        job_id: str,
        pairs: Iterable[tuple[str, str]],
        *,
        client: str | None = None,
    ) -> JobRecord:
        """A new job of ``owner`` with the parameters of a job ``reader`` may read, the given
        parameters replacing its values; it records its parent. Control parameters (PHASE,
        RUNID, ...) apply to the new job.

        Raises
        ------
        JobNotFoundError
            When the reader cannot read the job.
        ParameterError
            When the merged parameters do not validate.
        """
        parent = self.get(owner, job_id, reader=reader)
        given = checked_pairs(pairs)
        control = [(k, v) for k, v in given if k.lower() in CONTROL_PARAMETERS]
        changes = [(k, v) for k, v in given if k.lower() not in CONTROL_PARAMETERS]
        merged = ParameterSet(parent.parameters).replaced(changes)
        return self.create(owner, [*merged.pairs, *control], client=client, parent_id=parent.id)

    def describe(self, job: JobRecord) -> Sequence[InfoEntry]:
        """The kind's own ``jobInfo`` entries of ``job`` (none when its kind has no describer;
        a failing describer is logged and leaves them out: the job document still renders)."""
        try:
            return self.kinds.describe(job.kind, [(r.id, r.href, r.mime_type) for r in job.results])
        except Exception:
            log.exception("job kind %s: describing job %s failed", job.kind, job.id)
            return ()

    def list_jobs(self, owner: str | None, flt: JobFilter) -> list[JobSummaryRef]:
        """The owner's jobs of this endpoint's kinds."""
        return self.store.list_jobs(owner, self.kinds.names(), flt)

    def result(
        self, owner: str | None, job_id: str, result_id: str, *, reader: Reader | None = None
    ) -> StoredResult:
        """One result of a job.

        Raises
        ------
        ResultNotFoundError
            When the job has no such result.
        """
        for result in self.get(owner, job_id, reader=reader).results:
            if result.id == result_id:
                return result
        raise ResultNotFoundError(f"job {job_id} has no result {result_id!r}")

    def wait(
        self,
        owner: str | None,
        job_id: str,
        timeout: float,
        phase: ExecutionPhase | None = None,
        *,
        reader: Reader | None = None,
    ) -> JobRecord:
        """UWS 1.1 blocking GET: return once the phase changes or ``timeout`` passes.

        Returns at once when the job is not in an active phase, or not in ``phase``
        when that is given. A negative ``timeout`` means the server's cap.
        """
        timeout = self.policy.wait_cap if timeout < 0 else min(timeout, self.policy.wait_cap)
        _check_job_id(job_id)  # an impossible id is refused before it is watched
        with self.store.notifier.watch(job_id) as changed:
            job = self.get(owner, job_id, reader=reader)
            start_phase = job.phase
            if start_phase not in ACTIVE_PHASES or (phase is not None and start_phase != phase):
                return job
            deadline = time.monotonic() + timeout
            while (remaining := deadline - time.monotonic()) > 0:
                changed.wait(min(remaining, self.policy.poll_interval))
                changed.clear()
                current = self.store.get_phase(job_id)
                if current != start_phase:
                    break
        return self.get(owner, job_id, reader=reader)

    def wait_final(self, owner: str | None, job_id: str, timeout: float) -> JobRecord:
        """Wait until the job reaches a final phase or ``timeout`` passes (for /sync)."""
        deadline = time.monotonic() + timeout
        job = self.get(owner, job_id)
        while job.phase not in FINAL_PHASES and (remaining := deadline - time.monotonic()) > 0:
            with self.store.notifier.watch(job_id) as changed:
                if self.store.get_phase(job_id) == job.phase:
                    changed.wait(min(remaining, self.policy.poll_interval))
            job = self.get(owner, job_id)
        return job

    # Changes -------------------------------------------------------------------------------
    def apply(self, owner: str | None, job_id: str, action: Action) -> JobRecord:
        """Apply an owner's action (RUN or ABORT) following the transition table.

        The change is a compare-and-set; if the runner moved the job meanwhile the
        table is consulted again for the new phase.

        Raises
        ------
        InvalidTransitionError
            When the action is illegal in the job's phase.
        """
        if action not in (Action.RUN, Action.ABORT):
            raise InvalidTransitionError(f"{action.value} is not a client action")
        for _ in range(5):
            job = self.get(owner, job_id)
            target = next_phase(job.phase, action)
            if target is None:
                return job
            if target is ExecutionPhase.QUEUED:
                changed = self._queue_within_quota(job)
            else:
                changed = self.store.set_phase(job_id, [job.phase], target)
            if changed:
                log.info("job %s: %s -> %s", job_id, job.phase.value, target.value)
                return self.get(owner, job_id)
        raise InvalidTransitionError(f"job {job_id} changes too fast; try again")

    def set_execution_duration(self, owner: str | None, job_id: str, value: str) -> JobRecord:
        """Change executionDuration (PENDING only; capped by the policy)."""
        job = self.get(owner, job_id)
        seconds = self._parse_duration("EXECUTIONDURATION", value)
        if not self.store.update_fields(
            job_id, [ExecutionPhase.PENDING], execution_duration=seconds
        ):
            raise InvalidTransitionError(
                f"executionDuration can only change while PENDING, not {job.phase.value}"
            )
        return self.get(owner, job_id)

    def set_destruction(self, owner: str | None, job_id: str, value: str) -> JobRecord:
        """Change the destruction time (a future instant, capped by the policy)."""
        self.get(owner, job_id)
        when = self._parse_destruction("DESTRUCTION", value, now=utcnow())
        self.store.update_fields(job_id, [p for p in ExecutionPhase], destruction=when)
        return self.get(owner, job_id)

    def update_parameters(
        self, owner: str | None, job_id: str, pairs: Iterable[tuple[str, str]]
    ) -> JobRecord:
        """Replace the values of the given parameters while the job is PENDING.

        Raises
        ------
        ParameterError
            When the merged parameters do not validate (the job is unchanged).
        InvalidTransitionError
            When the job is no longer PENDING.
        """
        job = self.get(owner, job_id)
        updates = checked_pairs(pairs)
        # runId is the client's label, not a job parameter: clients (STILTS taplint, DaCHS's)
        # also set it through the parameter list, so it is taken here as well.
        run_ids = [v for k, v in updates if k.lower() == "runid"]
        updates = [(k, v) for k, v in updates if k.lower() != "runid"]
        control = [k for k, _ in updates if k.lower() in CONTROL_PARAMETERS]
        if control:
            raise ParameterError(control[0], "is not a job parameter; use its own resource")
        if job.phase is not ExecutionPhase.PENDING:
            raise InvalidTransitionError(
                f"parameters can only change while PENDING, not {job.phase.value}"
            )
        if run_ids and not self.store.update_fields(
            job_id, [ExecutionPhase.PENDING], run_id=run_ids[-1]
        ):
            raise InvalidTransitionError("parameters can only change while PENDING")
        if not updates:
            return self.get(owner, job_id)
        merged = ParameterSet(job.parameters).replaced(updates)
        spec = self.kinds.validate(job.kind, merged)
        if not self.store.replace_parameters(job_id, [ExecutionPhase.PENDING], merged.pairs, spec):
            raise InvalidTransitionError("parameters can only change while PENDING")
        return self.get(owner, job_id)

    def delete(self, owner: str | None, job_id: str) -> None:
        """Delete the job (the runner stops it if it was executing; files go with it)."""
        self.get(owner, job_id)
        # Abort first so that a runner executing it notices and stops the work.
        self.store.set_phase(job_id, allowed_from(Action.ABORT), ExecutionPhase.ABORTED)
        self.store.delete(job_id)
        if self.work_root is not None:
            remove_work_dir(self.work_root / job_id)
        log.info("deleted job %s", job_id)


def remove_work_dir(path: Path) -> None:
    """Remove a job's work folder; failures are logged, the job is gone regardless."""
    if not path.exists():
        return
    try:
        shutil.rmtree(path)
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)
