"""The UWS job store: every SQL statement of the package lives here.

Phase changes are compare-and-set updates guarded by the phases the transition
table allows, so concurrent requests and runners cannot produce an illegal history.
On PostgreSQL each change also issues ``pg_notify`` in its own transaction, and the
runner claims work with ``FOR UPDATE SKIP LOCKED`` so that several runners can share
one database.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from typing import cast as type_cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Engine,
    Table,
    Text,
    and_,
    cast,
    delete,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import Row

from uws._models import (
    JobError,
    JobFilter,
    JobRecord,
    JobSummaryRef,
    Progress,
    StoredResult,
)
from uws._notify import JOB_CHANNEL, QUEUE_CHANNEL, Notifier, PostgresListener
from uws._schema import ErrorRow, JobRow, ParameterRow, ResultRow
from uws._transitions import ExecutionPhase

__all__ = ["JobStore", "utcnow"]

JOB = type_cast(Table, JobRow.__table__)
PARAM = type_cast(Table, ParameterRow.__table__)
RESULT = type_cast(Table, ResultRow.__table__)
ERROR = type_cast(Table, ErrorRow.__table__)


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC, truncated to milliseconds (what the XML shows)."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def queue_time() -> dt.datetime:
    """Now with the full microsecond precision: the queue order (FIFO), never shown.

    Milliseconds are too coarse: jobs created in one burst would tie and be taken in id
    order, which is random.
    """
    return dt.datetime.now(dt.UTC)


_ENDED = (ExecutionPhase.COMPLETED, ExecutionPhase.ERROR, ExecutionPhase.ABORTED)


def _phases(phases: Collection[ExecutionPhase]) -> list[str]:
    return [p.value for p in phases]


class JobStore:
    """SQL access to the job tables.

    Parameters
    ----------
    engine
        Database engine (SQLite or PostgreSQL) with the UWS tables migrated.
    notifier
        Local notifier told after each committed change (in-process waiters).
    """

    def __init__(self, engine: Engine, notifier: Notifier | None = None) -> None:
        self.engine = engine
        self.notifier = notifier or Notifier()
        self.is_postgres = engine.dialect.name == "postgresql"
        self._listener: PostgresListener | None = None
        self._listener_pid: int | None = None
        self._listener_lock = threading.Lock()

    def ensure_listener(self) -> None:
        """On PostgreSQL, make sure this process relays LISTEN/NOTIFY events.

        Idempotent and fork-aware: a process forked from one that listened (a
        gunicorn worker) starts its own listener, since threads do not survive fork.
        """
        if not self.is_postgres or self._listener_pid == os.getpid():
            return
        with self._listener_lock:
            if self._listener_pid == os.getpid():
                return
            self._listener = PostgresListener(self.engine, self.notifier)
            self._listener.start()
            self._listener_pid = os.getpid()

    def close(self) -> None:
        """Stop the listener thread, if any."""
        if self._listener is not None and self._listener_pid == os.getpid():
            self._listener.stop()
        self._listener = None
        self._listener_pid = None

    # Notifications -----------------------------------------------------------------
    def _publish(self, conn: Connection, job_id: str, *, queued: bool = False) -> None:
        if self.is_postgres:
            conn.execute(select(func.pg_notify(JOB_CHANNEL, job_id)))
            if queued:
                conn.execute(select(func.pg_notify(QUEUE_CHANNEL, job_id)))

    def _local(self, job_id: str, *, queued: bool = False) -> None:
        self.notifier.job_changed(job_id)
        if queued:
            self.notifier.queue_changed()

    # Creation and reading ---------------------------------------------------------------
    def add(
        self,
        job: JobRecord,
        *,
        guard: Callable[[Connection], None] | None = None,
        then: Callable[[Connection], None] | None = None,
    ) -> None:
        """Insert a new job with its parameters (and results: a job answered at creation is
        stored COMPLETED, with its times and progress, in the same transaction).

        ``guard`` runs first in that transaction (a quota check); what it raises aborts the
        insert. ``then`` runs after the insert in it (rows that refer to the job)."""
        queued = job.phase is ExecutionPhase.QUEUED
        progress = job.progress
        with self.engine.begin() as conn:
            if guard is not None:
                guard(conn)
            conn.execute(
                insert(JOB).values(
                    id=job.id,
                    kind=job.kind,
                    owner=job.owner,
                    client=job.client,
                    parent_id=job.parent_id,
                    run_id=job.run_id,
                    phase=job.phase.value,
                    creation_time=job.creation_time,
                    start_time=job.start_time,
                    end_time=job.end_time,
                    queued_at=queue_time() if queued else None,
                    destruction=job.destruction,
                    execution_duration=job.execution_duration,
                    quote=job.quote,
                    spec=job.spec,
                    attempts=0,
                    progress_done=None if progress is None else progress.done,
                    progress_total=None if progress is None else progress.total,
                    progress_note=None if progress is None else progress.note,
                )
            )
            self._insert_parameters(conn, job.id, job.parameters)
            self._insert_results(conn, job.id, job.results)
            if then is not None:
                then(conn)
            if queued:
                self._publish(conn, job.id, queued=True)
        if queued:
            self._local(job.id, queued=True)

    @staticmethod
    def _insert_results(conn: Connection, job_id: str, results: Sequence[StoredResult]) -> None:
        if results:
            conn.execute(
                insert(RESULT),
                [
                    {
                        "job_id": job_id,
                        "seq": i,
                        "result_id": r.id,
                        "href": r.href,
                        "path": r.path,
                        "mime_type": r.mime_type,
                        "size": r.size,
                        "primary": r.primary,
                    }
                    for i, r in enumerate(results)
                ],
            )

    @staticmethod
    def _insert_parameters(
        conn: Connection, job_id: str, params: Sequence[tuple[str, str]]
    ) -> None:
        if params:
            conn.execute(
                insert(PARAM),
                [
                    {"job_id": job_id, "seq": i, "name": k, "value": v}
                    for i, (k, v) in enumerate(params)
                ],
            )

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for reads, in autocommit mode.

        No BEGIN/ROLLBACK round trips: each statement sees committed data, and the
        readers tolerate the job moving between two statements (results and the
        final phase are committed together).
        """
        with self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    @staticmethod
    def _children(job_id: str) -> Any:
        """Parameters, results and error of a job in one statement (one round trip)."""
        text_null = cast(null(), Text)
        return union_all(
            select(
                literal_column("'p'").label("k"),
                PARAM.c.seq.label("seq"),
                cast(PARAM.c.name, Text).label("a"),
                PARAM.c.value.label("b"),
                text_null.label("c"),
                text_null.label("d"),
                cast(null(), BigInteger).label("n"),
                cast(null(), Boolean).label("f"),
            ).where(PARAM.c.job_id == job_id),
            select(
                literal_column("'r'"),
                RESULT.c.seq,
                cast(RESULT.c.result_id, Text),
                RESULT.c.href,
                RESULT.c.path,
                cast(RESULT.c.mime_type, Text),
                RESULT.c.size,
                RESULT.c.primary,
            ).where(RESULT.c.job_id == job_id),
            select(
                literal_column("'e'"),
                literal_column("0"),
                cast(ERROR.c.error_type, Text),
                ERROR.c.message,
                ERROR.c.detail,
                text_null,
                cast(null(), BigInteger),
                cast(null(), Boolean),
            ).where(ERROR.c.job_id == job_id),
        )

    def get(
        self, job_id: str, *, owner: str | None = None, check_owner: bool = False
    ) -> JobRecord | None:
        """The job with its parameters, results and error; ``None`` if absent.

        With ``check_owner`` the job must belong to ``owner`` (``None``: anonymous).
        """
        stmt = select(JOB).where(JOB.c.id == job_id)
        if check_owner:
            stmt = stmt.where(JOB.c.owner.is_(None) if owner is None else JOB.c.owner == owner)
        with self._reading() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                return None
            children = conn.execute(self._children(job_id)).all()
        job = self._job_from_row(row)
        params = sorted((c for c in children if c.k == "p"), key=lambda c: c.seq)
        job.parameters = [(c.a, c.b) for c in params]
        results = sorted((c for c in children if c.k == "r"), key=lambda c: (not c.f, c.seq))
        job.results = [StoredResult(c.a, c.b, c.c, c.d, c.n, bool(c.f)) for c in results]
        for c in children:
            if c.k == "e":
                job.error = JobError(c.a, c.b, c.c)
        return job

    def get_phase(self, job_id: str) -> ExecutionPhase | None:
        """Only the phase (cheap; used by WAIT and the runner's watch loop)."""
        with self._reading() as conn:
            value = conn.execute(select(JOB.c.phase).where(JOB.c.id == job_id)).scalar()
        return None if value is None else ExecutionPhase(value)

    @staticmethod
    def _job_from_row(row: Row[Any]) -> JobRecord:
        progress = None
        if row.progress_total is not None and row.progress_done is not None:
            progress = Progress(row.progress_done, row.progress_total, row.progress_note)
        return JobRecord(
            id=row.id,
            kind=row.kind,
            owner=row.owner,
            run_id=row.run_id,
            phase=ExecutionPhase(row.phase),
            creation_time=row.creation_time,
            start_time=row.start_time,
            end_time=row.end_time,
            destruction=row.destruction,
            execution_duration=row.execution_duration,
            quote=row.quote,
            spec=row.spec,
            progress=progress,
            runner_id=row.runner_id,
            heartbeat_at=row.heartbeat_at,
            attempts=row.attempts,
            client=row.client,
            parent_id=row.parent_id,
        )

    def list_jobs(
        self, owner: str | None, kinds: Collection[str], flt: JobFilter
    ) -> list[JobSummaryRef]:
        """Jobs of ``owner`` of the given kinds, newest first, filtered per UWS 1.1."""
        stmt = select(JOB.c.id, JOB.c.run_id, JOB.c.owner, JOB.c.phase, JOB.c.creation_time)
        stmt = stmt.where(JOB.c.owner.is_(None) if owner is None else JOB.c.owner == owner)
        stmt = stmt.where(JOB.c.kind.in_(list(kinds)))
        if owner is None and flt.client is not None:
            stmt = stmt.where(JOB.c.client == flt.client)
        if flt.phases:
            stmt = stmt.where(JOB.c.phase.in_(_phases(flt.phases)))
        else:
            stmt = stmt.where(JOB.c.phase != ExecutionPhase.ARCHIVED.value)
        if flt.after is not None:
            stmt = stmt.where(JOB.c.creation_time > flt.after)
        if flt.run_id is not None:
            stmt = stmt.where(JOB.c.run_id == flt.run_id)
        stmt = stmt.order_by(JOB.c.creation_time.desc(), JOB.c.id.desc())
        if flt.last is not None:
            stmt = stmt.limit(flt.last)
        with self._reading() as conn:
            return [
                JobSummaryRef(r.id, r.run_id, r.owner, ExecutionPhase(r.phase), r.creation_time)
                for r in conn.execute(stmt)
            ]

    # Changes requested by the owner ---------------------------------------------------------
    def set_phase(
        self,
        job_id: str,
        from_phases: Collection[ExecutionPhase],
        to_phase: ExecutionPhase,
        *,
        error: JobError | None = None,
        guard: Callable[[Connection], None] | None = None,
        **values: Any,
    ) -> bool:
        """Compare-and-set the phase; False when the job was not in ``from_phases``.

        ``values`` sets further columns in the same statement (``end_time=...``); ``guard``
        runs first in the same transaction (a quota check) and may raise to refuse.
        """
        now = utcnow()
        if to_phase is ExecutionPhase.QUEUED:
            values.setdefault("queued_at", queue_time())
        if to_phase in (ExecutionPhase.COMPLETED, ExecutionPhase.ERROR, ExecutionPhase.ABORTED):
            values.setdefault("end_time", now)
        queued = to_phase is ExecutionPhase.QUEUED
        with self.engine.begin() as conn:
            if guard is not None:
                guard(conn)
            done = conn.execute(
                update(JOB)
                .where(JOB.c.id == job_id, JOB.c.phase.in_(_phases(from_phases)))
                .values(phase=to_phase.value, **values)
            ).rowcount
            if done and error is not None:
                conn.execute(delete(ERROR).where(ERROR.c.job_id == job_id))
                conn.execute(
                    insert(ERROR).values(
                        job_id=job_id,
                        error_type=error.error_type,
                        message=error.message,
                        detail=error.detail,
                    )
                )
            if done:
                self._publish(conn, job_id, queued=queued)
        if done:
            self._local(job_id, queued=queued)
        return bool(done)

    def update_fields(
        self, job_id: str, in_phases: Collection[ExecutionPhase], **values: Any
    ) -> bool:
        """Set columns if the job is in one of ``in_phases``; False otherwise."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(JOB)
                .where(JOB.c.id == job_id, JOB.c.phase.in_(_phases(in_phases)))
                .values(**values)
            ).rowcount
            if done:
                self._publish(conn, job_id)
        if done:
            self._local(job_id)
        return bool(done)

    def replace_parameters(
        self,
        job_id: str,
        in_phases: Collection[ExecutionPhase],
        params: Sequence[tuple[str, str]],
        spec: dict[str, Any],
    ) -> bool:
        """Replace the raw parameters and the normalised spec while the phase allows."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(JOB)
                .where(JOB.c.id == job_id, JOB.c.phase.in_(_phases(in_phases)))
                .values(spec=spec)
            ).rowcount
            if not done:
                return False
            conn.execute(delete(PARAM).where(PARAM.c.job_id == job_id))
            self._insert_parameters(conn, job_id, params)
            self._publish(conn, job_id)
        self._local(job_id)
        return True

    def delete(self, job_id: str) -> bool:
        """Remove the job and its rows; False if it was already gone."""
        with self.engine.begin() as conn:
            for table in (PARAM, RESULT, ERROR):
                conn.execute(delete(table).where(table.c.job_id == job_id))
            done = conn.execute(delete(JOB).where(JOB.c.id == job_id)).rowcount
            if done:
                self._publish(conn, job_id)
        if done:
            self._local(job_id)
        return bool(done)

    # The runner's side -----------------------------------------------------------------------
    def claim(self, runner_id: str, kinds: Collection[str]) -> JobRecord | None:
        """Move the oldest QUEUED job of ``kinds`` to EXECUTING for ``runner_id``.

        One statement: on PostgreSQL the candidate row is locked with ``FOR UPDATE
        SKIP LOCKED`` so concurrent runners take different jobs; SQLite serialises
        writers, which gives the same guarantee.
        """
        now = utcnow()
        candidate = (
            select(JOB.c.id)
            .where(JOB.c.phase == ExecutionPhase.QUEUED.value, JOB.c.kind.in_(list(kinds)))
            .order_by(JOB.c.queued_at, JOB.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        with self.engine.begin() as conn:
            job_id = conn.execute(
                update(JOB)
                .where(JOB.c.id == candidate, JOB.c.phase == ExecutionPhase.QUEUED.value)
                .values(
                    phase=ExecutionPhase.EXECUTING.value,
                    start_time=now,
                    runner_id=runner_id,
                    heartbeat_at=now,
                    attempts=JOB.c.attempts + 1,
                    progress_done=None,
                    progress_total=None,
                    progress_note=None,
                )
                .returning(JOB.c.id)
            ).scalar()
            if job_id is None:
                return None
            self._publish(conn, job_id)
        self._local(job_id)
        return self.get(job_id)

    def heartbeat(self, runner_id: str, job_ids: Iterable[str]) -> None:
        """Mark ``job_ids`` as still being run by ``runner_id``."""
        ids = list(job_ids)
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(JOB)
                .where(JOB.c.id.in_(ids), JOB.c.runner_id == runner_id)
                .values(heartbeat_at=utcnow())
            )

    def set_progress(self, job_id: str, done: float, total: float, note: str) -> None:
        """Record a progress report of an executing job."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(JOB)
                .where(JOB.c.id == job_id, JOB.c.phase == ExecutionPhase.EXECUTING.value)
                .values(progress_done=done, progress_total=total, progress_note=note or None)
            ).rowcount
            if changed:
                self._publish(conn, job_id)
        if changed:
            self._local(job_id)

    def complete(
        self,
        job_id: str,
        results: Sequence[StoredResult],
        *,
        progress: tuple[float, float, str] | None = None,
    ) -> bool:
        """EXECUTING -> COMPLETED with ``results``, atomically; False if no longer EXECUTING.

        ``progress`` (done, total, note) is recorded in the same statement.
        """
        values: dict[str, Any] = {"phase": ExecutionPhase.COMPLETED.value, "end_time": utcnow()}
        if progress is not None:
            done_, total, note = progress
            values.update(progress_done=done_, progress_total=total, progress_note=note or None)
        with self.engine.begin() as conn:
            done = conn.execute(
                update(JOB)
                .where(JOB.c.id == job_id, JOB.c.phase == ExecutionPhase.EXECUTING.value)
                .values(**values)
            ).rowcount
            if not done:
                return False
            conn.execute(delete(RESULT).where(RESULT.c.job_id == job_id))
            self._insert_results(conn, job_id, results)
            self._publish(conn, job_id)
        self._local(job_id)
        return True

    def lost_jobs(
        self, stale_before: dt.datetime, dead_runners: Collection[str]
    ) -> list[JobRecord]:
        """EXECUTING jobs whose runner is known dead or silent since ``stale_before``."""
        cond = JOB.c.heartbeat_at < stale_before
        if dead_runners:
            cond = or_(cond, JOB.c.runner_id.in_(list(dead_runners)))
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(JOB).where(JOB.c.phase == ExecutionPhase.EXECUTING.value, cond)
            ).all()
        return [self._job_from_row(r) for r in rows]

    def executing_runners(self) -> list[str]:
        """Distinct runner ids holding EXECUTING jobs."""
        with self.engine.connect() as conn:
            return [
                r
                for r in conn.execute(
                    select(JOB.c.runner_id)
                    .where(
                        and_(
                            JOB.c.phase == ExecutionPhase.EXECUTING.value,
                            JOB.c.runner_id.is_not(None),
                        )
                    )
                    .distinct()
                ).scalars()
                if r is not None
            ]

    def expired(self, now: dt.datetime, limit: int = 500) -> list[str]:
        """Ids of jobs whose destruction time has passed."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(JOB.c.id).where(JOB.c.destruction <= now).limit(limit)
                ).scalars()
            )

    def count_by_phase(self) -> dict[str, int]:
        """Job counts per phase (monitoring and tests)."""
        with self.engine.connect() as conn:
            return {
                phase: n
                for phase, n in conn.execute(
                    select(JOB.c.phase, func.count()).group_by(JOB.c.phase)
                )
            }
