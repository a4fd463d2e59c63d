"""The runner: claims queued jobs, runs them in worker processes, enforces limits.

Each slot owns a thread and a pre-started worker process. The slot claims a job
(row-locked on PostgreSQL, so several runners may share a database), re-validates
its parameters, hands it to the worker, relays progress, records results or the
error, and stops the work when the job is aborted, deleted or over its
executionDuration: first a cooperative cancel, then, after a grace period, the
worker process is terminated and replaced.

A housekeeping thread keeps heartbeats of the running jobs, reconciles jobs left
EXECUTING by dead runners (same host: their process is gone; any host: heartbeat
stale) and removes expired jobs with their files.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing as mp
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from uws._errors import ParameterError
from uws._kinds import KindRegistry, ParameterSet
from uws._models import JobError, JobRecord, StoredResult
from uws._notifications import NotificationDispatcher
from uws._service import remove_work_dir
from uws._storage import JobStore, utcnow
from uws._transitions import Action, ExecutionPhase, allowed_from
from uws._worker import worker_main

__all__ = ["Runner", "RunnerConfig"]

log = logging.getLogger(__name__)

#: Pause (s) before retrying after a database failure.
DB_RETRY_INTERVAL = 1.0
#: Shortest interval (s) between two progress writes of one job.
PROGRESS_INTERVAL = 0.25


@dataclass(frozen=True)
class RunnerConfig:
    """Runner settings.

    Attributes
    ----------
    work_root
        Folder holding one work folder per job.
    slots
        Jobs run at the same time (one worker process each).
    poll_interval
        Backstop (s) of the queue and abort notifications.
    heartbeat_interval
        How often (s) running jobs are marked alive.
    stale_after
        Heartbeat age (s) after which another runner's job counts as lost.
    cancel_grace
        Time (s) a handler has to stop by itself before its process is killed.
    cleanup_interval
        How often (s) expired jobs are removed.
    max_attempts
        A job lost with a dead runner is queued again until it has been started
        this many times; then it ends in ERROR.
    """

    work_root: Path
    slots: int = 2
    poll_interval: float = 0.2
    heartbeat_interval: float = 2.0
    stale_after: float = 15.0
    cancel_grace: float = 2.0
    cleanup_interval: float = 60.0
    max_attempts: int = 1


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Stop(Exception):
    """The work of the current job must stop (abort, deletion, time limit)."""


class _Slot:
    """One worker process and the thread that feeds it."""

    def __init__(self, runner: Runner, index: int) -> None:
        self.runner = runner
        self.index = index
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None
        self.job_id: str | None = None
        self.pending_progress: tuple[float, float, str] | None = None
        self.progress_written = 0.0
        self.thread = threading.Thread(target=self._loop, name=f"uws-slot-{index}", daemon=True)

    # Worker process --------------------------------------------------------------------
    def start_worker(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        process = ctx.Process(
            target=worker_main,
            args=(child, self.runner.kinds),
            name=f"uws-worker-{self.index}",
            daemon=True,
        )
        process.start()
        child.close()
        self.process, self.conn = process, parent

    def await_ready(self, timeout: float = 60.0) -> None:
        """Wait for the worker's start-up message (imports take a moment)."""
        assert self.conn is not None
        if not self.conn.poll(timeout):
            raise RuntimeError(f"worker {self.index} did not start within {timeout} s")
        message = self.conn.recv()
        if message[0] != "ready":
            raise RuntimeError(f"worker {self.index} sent {message!r} before 'ready'")

    def kill_worker(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join(1.0)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(1.0)
        if self.conn is not None:
            self.conn.close()
        self.process = self.conn = None

    # Main loop ------------------------------------------------------------------------------
    def _loop(self) -> None:
        runner = self.runner
        notifier = runner.store.notifier
        while not runner.stopping.is_set():
            generation = notifier.queue_generation
            try:
                job = runner.store.claim(runner.runner_id, runner.kinds.names())
            except SQLAlchemyError as exc:
                log.error("slot %s: cannot claim jobs: %s", self.index, exc)
                runner.stopping.wait(DB_RETRY_INTERVAL)
                continue
            if job is None:
                notifier.wait_queue(generation, runner.config.poll_interval)
                continue
            self.job_id = job.id
            self.pending_progress = None
            self.progress_written = time.monotonic()
            try:
                self._run(job)
                if runner.store.get_phase(job.id) is None:
                    remove_work_dir(runner.config.work_root / job.id)
            except SQLAlchemyError as exc:
                log.error("job %s: database unavailable while running: %s", job.id, exc)
                self.kill_worker()
                self._requeue_when_possible(job.id)
            finally:
                self.job_id = None

    def _requeue_when_possible(self, job_id: str) -> None:
        """Give the job back to the queue once the database answers again.

        Without this a job would stay EXECUTING under a live runner, whose
        heartbeats keep other runners from reclaiming it.
        """
        runner = self.runner
        while True:
            try:
                runner.store.set_phase(
                    job_id, allowed_from(Action.REQUEUE), ExecutionPhase.QUEUED, runner_id=None
                )
                log.info("job %s: requeued after a database failure", job_id)
                return
            except SQLAlchemyError as exc:
                if runner.stopping.wait(DB_RETRY_INTERVAL):
                    log.warning("job %s: left for reconciliation (%s)", job_id, exc)
                    return

    def _run(self, job: JobRecord) -> None:
        runner = self.runner
        store = runner.store
        try:
            spec = runner.kinds.validate(job.kind, ParameterSet(job.parameters))
        except ParameterError as exc:
            store.set_phase(
                job.id,
                [ExecutionPhase.EXECUTING],
                ExecutionPhase.ERROR,
                error=JobError("fatal", exc.message),
            )
            return
        if self.process is None or not self.process.is_alive():
            self.kill_worker()
            self.start_worker()
            self.await_ready()
        assert self.conn is not None
        work_dir = runner.config.work_root / job.id
        work_dir.mkdir(parents=True, exist_ok=True)
        log.info("job %s: running %s in worker %s", job.id, job.kind, self.index)
        self.conn.send(("run", job.id, job.kind, job.owner, spec, str(work_dir)))
        started = job.start_time or utcnow()
        deadline = started + dt.timedelta(seconds=job.execution_duration)
        try:
            self._follow(job, deadline)
        except _Stop:
            self._stop_work(job)

    def _follow(self, job: JobRecord, deadline: dt.datetime) -> None:
        """Relay the worker's messages until the job ends; raise _Stop to stop it."""
        runner = self.runner
        store = runner.store
        assert self.conn is not None and self.process is not None
        next_check = 0.0
        with store.notifier.watch(job.id) as changed:
            while True:
                if self.conn.poll(0.02):
                    try:
                        message = self.conn.recv()
                    except (EOFError, OSError):
                        message = None
                    if message is None:
                        self._worker_died(job)
                        return
                    if self._handle(job, message):
                        return
                    continue
                if not self.process.is_alive():
                    self._worker_died(job)
                    return
                now = time.monotonic()
                if changed.is_set() or now >= next_check or runner.stopping.is_set():
                    changed.clear()
                    next_check = now + runner.config.poll_interval
                    if self.pending_progress is not None and (
                        now - self.progress_written >= PROGRESS_INTERVAL
                    ):
                        store.set_progress(job.id, *self.pending_progress)
                        self.pending_progress = None
                        self.progress_written = now
                    if store.get_phase(job.id) is not ExecutionPhase.EXECUTING:
                        raise _Stop
                    if utcnow() >= deadline:
                        store.set_phase(
                            job.id,
                            allowed_from(Action.EXPIRE),
                            ExecutionPhase.ABORTED,
                            error=JobError(
                                "fatal",
                                f"executionDuration of {job.execution_duration} s exceeded",
                            ),
                        )
                        raise _Stop
                    if runner.stopping.is_set():
                        store.set_phase(
                            job.id,
                            allowed_from(Action.REQUEUE),
                            ExecutionPhase.QUEUED,
                            runner_id=None,
                        )
                        raise _Stop

    def _handle(self, job: JobRecord, message: tuple[Any, ...]) -> bool:
        """Apply one worker message; True when the job is finished."""
        store = self.runner.store
        kind = message[0]
        if message[1] != job.id:
            return False  # a late message of a job that was stopped
        if kind == "progress":
            # Coalesced: at most one write per PROGRESS_INTERVAL; the last report
            # goes in with the completion, so instant jobs cost no extra transaction.
            self.pending_progress = message[2:]
            now = time.monotonic()
            if now - self.progress_written >= PROGRESS_INTERVAL:
                store.set_progress(job.id, *self.pending_progress)
                self.pending_progress = None
                self.progress_written = now
            return False
        if kind == "done":
            results = [StoredResult(**r) for r in message[2]]
            if results and not any(r.primary for r in results):
                first = results[0]
                results[0] = StoredResult(
                    first.id, first.href, first.path, first.mime_type, first.size, True
                )
            results.sort(key=lambda r: not r.primary)
            if store.complete(job.id, results, progress=self.pending_progress):
                log.info("job %s: completed with %d results", job.id, len(results))
            return True
        if kind == "failed":
            _, _, error_type, text, detail = message
            store.set_phase(
                job.id,
                allowed_from(Action.FAIL),
                ExecutionPhase.ERROR,
                error=JobError(error_type, text, detail),
            )
            log.info("job %s: failed: %s", job.id, text)
            return True
        raise RuntimeError(f"unknown worker message {kind!r}")

    def _worker_died(self, job: JobRecord) -> None:
        code = None
        if self.process is not None:
            self.process.join(2.0)  # the pipe closes a moment before the exit status is known
            code = self.process.exitcode
        self.runner.store.set_phase(
            job.id,
            allowed_from(Action.FAIL),
            ExecutionPhase.ERROR,
            error=JobError("fatal", f"the worker process died (exit code {code})"),
        )
        log.warning("job %s: worker %s died (exit code %s)", job.id, self.index, code)
        self.kill_worker()

    def _stop_work(self, job: JobRecord) -> None:
        """Cooperative cancel, then terminate the worker if it does not finish in time."""
        assert self.conn is not None
        self.conn.send(("cancel", job.id))
        deadline = time.monotonic() + self.runner.config.cancel_grace
        while (remaining := deadline - time.monotonic()) > 0:
            if self.conn.poll(min(remaining, 0.05)):
                try:
                    message = self.conn.recv()
                except (EOFError, OSError):
                    break
                if message[1] == job.id and message[0] in ("done", "failed"):
                    log.info("job %s: handler stopped on request", job.id)
                    return
        log.info("job %s: handler did not stop; terminating worker %s", job.id, self.index)
        self.kill_worker()


class Runner:
    """Runs queued jobs of the given kinds.

    Parameters
    ----------
    store
        The job store (its notifier is used to wake slots and watch jobs).
    kinds
        Every kind this runner may execute.
    config
        Limits and intervals.
    notifications
        Delivers the notifications of ended jobs, started and stopped with the runner.
    """

    def __init__(
        self,
        store: JobStore,
        kinds: KindRegistry,
        config: RunnerConfig,
        *,
        notifications: NotificationDispatcher | None = None,
    ) -> None:
        self.store = store
        self.notifications = notifications
        self.kinds = kinds
        self.config = config
        self.hostname = socket.gethostname()
        self.runner_id = f"{self.hostname}:{os.getpid()}:{secrets.token_hex(4)}"
        self.stopping = threading.Event()
        self._slots = [_Slot(self, i) for i in range(config.slots)]
        self._housekeeping = threading.Thread(
            target=self._housekeeping_loop, name="uws-housekeeping", daemon=True
        )

    def start(self) -> None:
        """Reconcile lost jobs, start the worker processes and the threads."""
        self.config.work_root.mkdir(parents=True, exist_ok=True)
        self.store.ensure_listener()
        self.reconcile()
        for slot in self._slots:
            slot.start_worker()
        for slot in self._slots:
            slot.await_ready()
        for slot in self._slots:
            slot.thread.start()
        self._housekeeping.start()
        if self.notifications is not None:
            self.notifications.start()
        log.info("runner %s started with %d slots", self.runner_id, len(self._slots))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop: running jobs go back to the queue, worker processes end."""
        self.stopping.set()
        self.store.notifier.queue_changed()
        for slot in self._slots:
            if slot.thread.is_alive():
                slot.thread.join(timeout)
            slot.kill_worker()
        if self._housekeeping.is_alive():
            self._housekeeping.join(timeout)
        if self.notifications is not None:
            self.notifications.stop(timeout)
        log.info("runner %s stopped", self.runner_id)

    def running_jobs(self) -> list[str]:
        """Ids of the jobs this runner executes now."""
        return [s.job_id for s in self._slots if s.job_id is not None]

    # Housekeeping -----------------------------------------------------------------------------
    def _housekeeping_loop(self) -> None:
        next_cleanup = 0.0
        while not self.stopping.wait(self.config.heartbeat_interval):
            try:
                self.store.heartbeat(self.runner_id, self.running_jobs())
                self.reconcile()
                if time.monotonic() >= next_cleanup:
                    self.cleanup_expired()
                    next_cleanup = time.monotonic() + self.config.cleanup_interval
            except SQLAlchemyError as exc:
                log.error("runner housekeeping failed, retrying: %s", exc)

    def _dead_runners(self) -> list[str]:
        dead = []
        for runner_id in self.store.executing_runners():
            if runner_id == self.runner_id:
                continue
            host, _, rest = runner_id.partition(":")
            pid_text = rest.partition(":")[0]
            if host == self.hostname and pid_text.isdigit() and not _pid_alive(int(pid_text)):
                dead.append(runner_id)
        return dead

    def reconcile(self) -> list[str]:
        """Requeue or fail jobs whose runner died; returns their ids."""
        stale_before = utcnow() - dt.timedelta(seconds=self.config.stale_after)
        mine = set(self.running_jobs())
        handled = []
        for job in self.store.lost_jobs(stale_before, self._dead_runners()):
            # A job of this runner that no slot runs is lost too: its claim was committed
            # but the slot never learnt it (the database failed between the two).
            if job.id in mine:
                continue
            # An orphan of this runner never reached a worker: requeue it whatever its attempts.
            if job.runner_id == self.runner_id or job.attempts < self.config.max_attempts:
                changed = self.store.set_phase(
                    job.id, allowed_from(Action.REQUEUE), ExecutionPhase.QUEUED, runner_id=None
                )
                what = "requeued"
            else:
                changed = self.store.set_phase(
                    job.id,
                    allowed_from(Action.LOSE),
                    ExecutionPhase.ERROR,
                    error=JobError(
                        "transient",
                        f"the runner executing this job ({job.runner_id}) stopped "
                        "unexpectedly; submit the job again",
                    ),
                )
                what = "marked ERROR"
            if changed:
                log.warning("job %s lost by runner %s: %s", job.id, job.runner_id, what)
                handled.append(job.id)
        return handled

    def cleanup_expired(self) -> list[str]:
        """Delete jobs past their destruction time, with their files."""
        removed = []
        for job_id in self.store.expired(utcnow()):
            self.store.set_phase(job_id, allowed_from(Action.ABORT), ExecutionPhase.ABORTED)
            if self.store.delete(job_id):
                removed.append(job_id)
            if job_id not in self.running_jobs():
                remove_work_dir(self.config.work_root / job_id)
        if removed:
            log.info("removed %d expired jobs", len(removed))
        return removed

    def run_forever(self) -> None:
        """Start and block until interrupted (SIGINT/SIGTERM), then stop cleanly."""
        import signal

        done = threading.Event()

        def _signal(signum: int, _frame: object) -> None:
            log.info("runner received signal %d", signum)
            done.set()

        signal.signal(signal.SIGTERM, _signal)
        signal.signal(signal.SIGINT, _signal)
        self.start()
        done.wait()
        self.stop()
