"""The Dask distributed executor, and the executor registry used by the service settings.

The runner process is the only Dask client. ``DaskExecutor.local()`` starts a
``LocalCluster`` sized to the machine (the embedded default, ``executor = "local"``);
``DaskExecutor.connect(address)`` uses an existing scheduler (``executor = "dask"``,
``dask_scheduler = "tcp://host:8786"``). Anything that gives a scheduler address works the
same way: ``dask-scheduler`` plus ``dask-worker`` processes, a SLURM/PBS allocation through
``dask-jobqueue`` (``SLURMCluster(...).scheduler_address``), or Kubernetes through
``dask-kubernetes`` (the ``DaskCluster`` service address). Requirements on the workers:
the same Python environment (this package importable, with the modules defining the
units) and the cache folder mounted at the same path (a shared filesystem on a cluster);
the workers never touch the database.

Cancellation crosses the process boundary through a named ``distributed.Event`` per run:
units poll it through ``ctx.check()`` (throttled). Tasks that have not started are
cancelled at once; running tasks get ``grace_seconds`` to notice; workers still running a
task of the run after that are restarted by their nanny, which ends the unit for certain.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import dask
from distributed import Client, Event, Future, LocalCluster, wait

from processing.pipeline._errors import PipelineCancelled, PipelineError, UnitFailed
from processing.pipeline._executor import (
    CancelToken,
    Executor,
    InlineExecutor,
    NodeTask,
    run_node_task,
)
from processing.pipeline._store import CacheStore, EntryInfo

__all__ = ["EXECUTORS", "DaskExecutor", "create_executor", "register_executor"]

logger = logging.getLogger(__name__)

_POLL = 0.05  # seconds between checks of the cancel token while waiting for tasks


def _remote_task(
    task: NodeTask, store: CacheStore, event_name: str, interval: float, *_upstream: Any
) -> EntryInfo:
    """Worker side: compute one node; ``_upstream`` only orders the task after its inputs."""
    event = Event(event_name)
    last = [float("-inf")]

    def check() -> None:
        now = time.monotonic()
        if now - last[0] < interval:
            return
        last[0] = now
        if event.is_set():
            raise PipelineCancelled("cancelled")

    return run_node_task(task, store, check)


#: glibc allocates blocks above this size with mmap; see :func:`_worker_environment`.
MMAP_THRESHOLD_BYTES = 64 * 1024**2


def _worker_environment() -> dict[str, Any]:
    """Environment of worker processes, set before they start.

    Dask sets ``MALLOC_TRIM_THRESHOLD_``, which also freezes glibc's mmap threshold at
    128 KiB: every array of a megabyte or more (a shadowgram cube, a sky image) is then
    mmap-ed and page-faulted afresh on each allocation. Measured on the FFT benchmark unit
    this costs ~2.5x the CPU time of the same code in a plain process. Raising the mmap
    threshold keeps such arrays on the heap; memory is still trimmed as Dask intends.
    Clusters started elsewhere should set ``MALLOC_MMAP_THRESHOLD_`` the same way.
    """
    environment = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    environment.setdefault("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD_BYTES)
    return environment


def _kill_worker_process(dask_worker: Any) -> int | None:
    """Runs in a nanny: SIGKILL its worker process; the nanny then starts a new one."""
    process = getattr(dask_worker, "process", None)
    pid = getattr(getattr(process, "process", None), "pid", None)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
    return pid


class DaskExecutor(Executor):
    """Runs node tasks on a Dask distributed cluster.

    Parameters
    ----------
    client
        A connected client.
    grace_seconds
        How long running units get to stop after a cancellation before their workers are
        restarted.
    check_interval
        Minimum seconds between two cancellation polls of a unit (each is a round trip
        to the scheduler).
    owns
        Objects to close with the executor (the client, a cluster it started).
    """

    kind = "dask"

    def __init__(
        self,
        client: Client,
        *,
        grace_seconds: float = 3.0,
        check_interval: float = 0.2,
        owns: Sequence[Any] = (),
    ) -> None:
        self.client = client
        self.grace_seconds = grace_seconds
        self.check_interval = check_interval
        self._owns = list(owns)

    @classmethod
    def local(
        cls,
        n_workers: int | None = None,
        *,
        processes: bool = True,
        threads_per_worker: int = 1,
        **options: Any,
    ) -> DaskExecutor:
        """Start a ``LocalCluster`` (one single-threaded worker process per core by default).

        Processes (not threads) are the default: pure-Python parts of units do not share
        the GIL, and a unit that ignores cancellation can be ended by restarting its worker.
        """
        workers = n_workers or os.cpu_count() or 1
        with dask.config.set({"distributed.nanny.pre-spawn-environ": _worker_environment()}):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=threads_per_worker,
                processes=processes,
                dashboard_address=None,
            )
        client = Client(cluster)
        return cls(client, owns=[client, cluster], **options)

    @classmethod
    def connect(cls, address: str, **options: Any) -> DaskExecutor:
        """Use the scheduler at ``address`` (``tcp://host:8786``)."""
        client = Client(address)
        return cls(client, owns=[client], **options)

    def close(self) -> None:
        """Close the client and the cluster this executor started."""
        for item in self._owns:
            try:
                item.close()
            except KeyError as exc:
                # distributed's cluster-side worker watcher can fail on a worker that was
                # killed before the cluster synced its list (see _kill_workers); the
                # workers and scheduler are closed by the time the error surfaces.
                logger.warning("closing %s: stale worker list (%s)", type(item).__name__, exc)
        self._owns.clear()

    def execute(
        self,
        tasks: Sequence[NodeTask],
        store: CacheStore,
        *,
        token: CancelToken,
        on_done: Callable[[EntryInfo], None],
    ) -> None:
        run_id = uuid.uuid4().hex
        event_name = f"pipeline-cancel-{run_id}"
        event = Event(event_name, client=self.client)
        futures: dict[str, Future] = {}
        for task in tasks:
            upstream = [futures[key] for key in task.upstream() if key in futures]
            futures[task.provenance_hash] = self.client.submit(
                _remote_task,
                task,
                store,
                event_name,
                self.check_interval,
                *upstream,
                key=f"{task.unit.name}-{task.provenance_hash[:16]}-{run_id[:8]}",
                pure=False,
            )
        by_key = {futures[task.provenance_hash].key: task for task in tasks}
        pending = set(futures.values())
        try:
            while pending:
                if token.cancelled:
                    self._cancel(event, pending, on_done)
                    token.check()
                finished = self._wait_some(pending)
                for future in finished:
                    pending.discard(future)
                    self._collect(future, by_key[future.key], on_done)
        except BaseException:
            # A failure (or an interrupt): stop everything of this run before re-raising.
            if pending:
                event.set()
                self.client.cancel(list(pending))
            raise
        finally:
            self._forget_event(event)

    @staticmethod
    def _wait_some(pending: set[Future]) -> list[Future]:
        try:
            result = wait(list(pending), timeout=_POLL, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        return list(result.done)

    @staticmethod
    def _collect(future: Future, task: NodeTask, on_done: Callable[[EntryInfo], None]) -> None:
        if future.status == "finished":
            on_done(future.result())
            return
        if future.status == "cancelled":
            raise PipelineCancelled(f"task {future.key} was cancelled")
        error = future.exception()
        if isinstance(error, PipelineError):
            raise error
        # Not raised by the unit's code: e.g. KilledWorker after the unit crashed its
        # worker process (segfault, out of memory) on every attempt.
        raise UnitFailed(
            task.unit.name, task.provenance_hash, f"{type(error).__name__}: {error}"
        ) from (error if isinstance(error, BaseException) else None)

    def _cancel(
        self, event: Event, pending: set[Future], on_done: Callable[[EntryInfo], None]
    ) -> None:
        """Stop the run: drop queued tasks, let running ones stop, restart stuck workers."""
        event.set()
        keys = {future.key for future in pending}
        running = self._running(keys)
        queued = [future for future in pending if future.key not in running]
        if queued:
            self.client.cancel(queued)
        deadline = time.monotonic() + self.grace_seconds
        still = [future for future in pending if future.key in running]
        while still and time.monotonic() < deadline:
            for future in self._wait_some(set(still)):
                still.remove(future)
                if future.status == "finished":
                    on_done(future.result())  # finished meanwhile: a complete entry
        if still:
            stuck_keys = {future.key for future in still}
            workers = sorted(
                worker
                for worker, tasks in self.client.processing().items()
                if stuck_keys & set(tasks)
            )
            logger.warning(
                "units did not stop within %.1f s; restarting workers %s",
                self.grace_seconds,
                workers,
            )
            self.client.cancel(still)
            if workers:
                self._kill_workers(workers)

    def _kill_workers(self, workers: list[str]) -> None:
        """End worker processes at once (their nannies start fresh ones).

        ``Client.restart_workers`` first asks the worker to close and waits seconds for the
        busy thread; a SIGKILL sent by the nanny ends it immediately, like a crash that
        Dask already recovers from (its tasks are rescheduled or, here, cancelled).
        """
        try:
            self.client.run(_kill_worker_process, workers=workers, nanny=True, on_error="return")
        except (OSError, TimeoutError, ValueError, KeyError) as exc:
            # Threads-only clusters (no nanny) cannot end a running unit.
            logger.error("could not kill workers %s: %s", workers, exc)

    def _running(self, keys: set[Any]) -> set[Any]:
        """Keys of this run that workers are processing now."""
        found: set[Any] = set()
        for tasks in self.client.processing().values():
            found.update(key for key in tasks if key in keys)
        return found

    @staticmethod
    def _forget_event(event: Event) -> None:
        try:
            event.clear()
        except (OSError, TimeoutError) as exc:  # the scheduler may be gone
            logger.debug("could not clear cancel event: %s", exc)


#: Executor kinds the service settings can name (``settings.executor``).
EXECUTORS: dict[str, Callable[..., Executor]] = {}


def register_executor(kind: str, factory: Callable[..., Executor]) -> None:
    """Make an executor kind available to :func:`create_executor`."""
    EXECUTORS[kind] = factory


def create_executor(
    kind: str, *, scheduler: str | None = None, n_workers: int | None = None
) -> Executor:
    """Build the executor a setting names.

    Parameters
    ----------
    kind
        ``"inline"``, ``"local"`` (a ``LocalCluster`` of ``n_workers`` processes, default
        one per core) or ``"dask"`` (connect to ``scheduler``).

    Raises
    ------
    PipelineError
        For an unknown kind or a missing scheduler address.
    """
    try:
        factory = EXECUTORS[kind]
    except KeyError:
        raise PipelineError(f"unknown executor {kind!r} (known: {sorted(EXECUTORS)})") from None
    return factory(scheduler=scheduler, n_workers=n_workers)


def _inline(**_: Any) -> Executor:
    return InlineExecutor()


def _local(*, n_workers: int | None = None, **_: Any) -> Executor:
    return DaskExecutor.local(n_workers)


def _remote(*, scheduler: str | None = None, **_: Any) -> Executor:
    if not scheduler:
        raise PipelineError("executor 'dask' needs a scheduler address")
    return DaskExecutor.connect(scheduler)


register_executor("inline", _inline)
register_executor("local", _local)
register_executor("dask", _remote)
