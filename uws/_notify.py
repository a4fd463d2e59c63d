"""Change notifications, so that WAIT and the runner react within milliseconds.

Inside one process a :class:`Notifier` wakes the threads waiting for a job or for
the queue. Across processes, PostgreSQL's LISTEN/NOTIFY carries the same events: the
storage layer issues ``pg_notify`` in the transaction that changes a job, and a
:class:`PostgresListener` thread relays them to the local notifier. On SQLite, other
processes are noticed by short polling (the waiters' backstop timeout).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

__all__ = ["JOB_CHANNEL", "QUEUE_CHANNEL", "Notifier", "PostgresListener"]

log = logging.getLogger(__name__)

JOB_CHANNEL = "uws_job"
QUEUE_CHANNEL = "uws_queue"


class Notifier:
    """Wakes waiters in this process when a job changes or work is queued."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job_waiters: dict[str, set[threading.Event]] = defaultdict(set)
        self._queue_cond = threading.Condition()
        self._queue_generation = 0

    def job_changed(self, job_id: str) -> None:
        """Wake everything waiting on ``job_id``."""
        with self._lock:
            waiters = self._job_waiters.get(job_id)
            events = list(waiters) if waiters else []
        for event in events:
            event.set()

    def queue_changed(self) -> None:
        """Wake the runner slots waiting for queued jobs."""
        with self._queue_cond:
            self._queue_generation += 1
            self._queue_cond.notify_all()

    @property
    def queue_generation(self) -> int:
        """Counter of queue notifications; read it before looking for work."""
        return self._queue_generation

    @contextmanager
    def watch(self, job_id: str) -> Iterator[threading.Event]:
        """An event set at each change of ``job_id`` while the block runs.

        Subscribe *before* reading the job's state, so that no change is missed
        between the read and the wait; clear the event after each wake-up.
        """
        event = threading.Event()
        with self._lock:
            self._job_waiters[job_id].add(event)
        try:
            yield event
        finally:
            with self._lock:
                waiters = self._job_waiters.get(job_id)
                if waiters is not None:
                    waiters.discard(event)
                    if not waiters:
                        del self._job_waiters[job_id]

    def wait_queue(self, since: int, timeout: float) -> bool:
        """Block until a queue notification newer than generation ``since`` or ``timeout``.

        Passing the generation read before the last look for work means a
        notification arriving in between is not lost.
        """
        with self._queue_cond:
            return self._queue_cond.wait_for(
                lambda: self._queue_generation != since, timeout=timeout
            )


class PostgresListener:
    """Relays PostgreSQL notifications on the UWS channels to a :class:`Notifier`.

    Runs one daemon thread with its own connection; reconnects after failures.
    """

    def __init__(self, engine: Engine, notifier: Notifier) -> None:
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._notifier = notifier
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="uws-pg-listener", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Start listening; returns once LISTEN is in effect (or ``timeout`` passed)."""
        self._thread.start()
        self._ready.wait(timeout)

    def stop(self) -> None:
        """Stop the thread (within a fraction of a second)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        import psycopg  # only needed with PostgreSQL

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {JOB_CHANNEL}")
                    conn.execute(f"LISTEN {QUEUE_CHANNEL}")
                    self._ready.set()
                    # Anything that happened while we were not listening is found by
                    # the waiters' backstop polling; wake them all once to be safe.
                    self._notifier.queue_changed()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.1):
                            if note.channel == JOB_CHANNEL:
                                self._notifier.job_changed(note.payload)
                            else:
                                self._notifier.queue_changed()
            except psycopg.Error as exc:
                log.warning("UWS notification listener lost its connection: %s", exc)
                time.sleep(1.0)
