"""The executor interface, the task that computes one node, and the inline executor.

An executor receives the nodes to compute as flat, picklable :class:`NodeTask` objects in
topological order. Node outputs never travel through the executor: each task reads its
inputs from the cache store and publishes its output there, and only the small
:class:`EntryInfo` comes back. This keeps large arrays out of pickles and out of the Dask
scheduler, lets workers memory-map their inputs, and means a finished node is safe in the
cache whatever happens to the run afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeAlias

from threadpoolctl import ThreadpoolController

from processing.pipeline._errors import CorruptEntryError, PipelineCancelled, UnitFailed
from processing.pipeline._graph import Node
from processing.pipeline._hashing import ProvenanceHash
from processing.pipeline._store import CacheStore, EntryInfo
from processing.pipeline._unit import AnalysisUnit, Calibration, ExternalFile, UnitContext

__all__ = [
    "CancelToken",
    "Executor",
    "InlineExecutor",
    "NodeTask",
    "Progress",
    "one_blas_thread",
    "run_node_task",
]

logger = logging.getLogger(__name__)

#: An input of a task: an upstream hash (read from the store), an external file, or many.
TaskInput: TypeAlias = "ProvenanceHash | ExternalFile | tuple[ProvenanceHash | ExternalFile, ...]"


class CancelToken:
    """Thread-safe cancellation flag of one run.

    The job runner keeps the token and calls :meth:`cancel` (e.g. on a UWS abort or an
    execution-duration overrun); the executor stops starting nodes, and running units stop
    at their next :meth:`UnitContext.check`.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        """Request cancellation."""
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancellation was requested."""
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`PipelineCancelled` if cancellation was requested."""
        if self._event.is_set():
            raise PipelineCancelled(self.reason or "cancelled")

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a cancellation; return whether it came."""
        return self._event.wait(timeout)


@dataclass(frozen=True)
class Progress:
    """Progress of a run, passed to the progress callback after every change.

    Attributes
    ----------
    total
        Nodes the run needs: cached ones it uses plus ones it computes.
    cached
        Nodes found in the cache.
    computed
        Nodes computed so far.
    """

    total: int
    cached: int
    computed: int

    @property
    def done(self) -> int:
        """Nodes available so far (cached or computed)."""
        return self.cached + self.computed

    @property
    def fraction(self) -> float:
        """``done / total`` (1.0 for an empty run)."""
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True)
class NodeTask:
    """Everything a worker needs to compute one node, without the rest of the graph."""

    provenance_hash: ProvenanceHash
    unit: AnalysisUnit
    inputs: dict[str, Any]  # name -> TaskInput
    calibration: Calibration | None

    @classmethod
    def from_node(cls, node: Node) -> NodeTask:
        """Flatten a node: upstream nodes become their hashes."""

        def ref(item: Node | ExternalFile) -> ProvenanceHash | ExternalFile:
            return item.provenance_hash if isinstance(item, Node) else item

        inputs: dict[str, Any] = {}
        for key, value in node.inputs.items():
            inputs[key] = (
                tuple(ref(item) for item in value) if isinstance(value, tuple) else ref(value)
            )
        return cls(node.provenance_hash, node.unit, inputs, node.calibration)

    def upstream(self) -> list[ProvenanceHash]:
        """Hashes of the upstream nodes this task reads from the store."""
        found: list[ProvenanceHash] = []
        for value in self.inputs.values():
            items = value if isinstance(value, tuple) else (value,)
            found.extend(ProvenanceHash(item) for item in items if isinstance(item, str))
        return found


@functools.lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Units run with single-threaded BLAS: parallelism comes from running nodes side by side
    (Dask workers, one per core), and the many small matrix products of source fitting lose
    most of their time to BLAS threads contending for busy cores (measured: a new band on
    10 ScWs 4.4x faster at a load of 3.5 on 2 cores, and no slower when idle)."""
    return _blas_controller().limit(limits=1, user_api="blas")


def run_node_task(task: NodeTask, store: CacheStore, check: Callable[[], None]) -> EntryInfo:
    """Compute one node and publish its output in ``store``; return the entry's manifest.

    Runs in the caller's process (inline) or on a Dask worker. The output is published
    only after the unit returned, so a cancelled, failed or killed unit leaves no entry.

    Raises
    ------
    PipelineCancelled
        When ``check`` reports a cancellation (before starting or at a unit's check).
    CorruptEntryError
        When an input entry is corrupt (it has been removed; the run recomputes it).
    UnitFailed
        When the unit raised anything else; the original is the ``__cause__``.
    """
    check()
    if store.contains(task.provenance_hash):
        # Published meanwhile by a concurrent run: reuse it.
        try:
            return store.verify(task.provenance_hash, "size")
        except (KeyError, CorruptEntryError):
            store.remove(task.provenance_hash)

    def resolve(item: Any) -> Any:
        if isinstance(item, ExternalFile):
            return item
        try:
            return store.load(item)
        except KeyError:
            raise CorruptEntryError(item, "input entry is missing") from None

    values: dict[str, Any] = {}
    for key, value in task.inputs.items():
        values[key] = (
            [resolve(item) for item in value] if isinstance(value, tuple) else resolve(value)
        )
    unit = task.unit
    adapter = logging.LoggerAdapter(
        logging.getLogger(f"processing.units.{unit.name}"),
        {"unit": unit.name, "node": task.provenance_hash},
    )
    scratch = store.scratch_dir(task.provenance_hash)
    try:
        ctx = UnitContext(
            provenance_hash=task.provenance_hash,
            calibration=task.calibration,
            scratch_dir=scratch,
            check=check,
            logger=adapter,
        )
        try:
            with one_blas_thread():
                output = unit.run(ctx, **values)
        except (PipelineCancelled, CorruptEntryError):
            raise
        except Exception as exc:  # any unit failure is reported as UnitFailed, with cause
            raise UnitFailed(
                unit.name, task.provenance_hash, f"{type(exc).__name__}: {exc}"
            ) from exc
        return store.write(
            task.provenance_hash,
            output,
            codec=unit.codec,
            unit=unit.name,
            unit_version=unit.version,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class Executor(ABC):
    """Runs node tasks; implementations: :class:`InlineExecutor`, ``DaskExecutor``.

    Executors are context managers; :meth:`close` releases what they started.
    """

    #: Name in the executor registry (see :func:`create_executor`).
    kind: str = ""

    @abstractmethod
    def execute(
        self,
        tasks: Sequence[NodeTask],
        store: CacheStore,
        *,
        token: CancelToken,
        on_done: Callable[[EntryInfo], None],
    ) -> None:
        """Compute ``tasks``.

        ``tasks`` come in topological order; each task's upstream hashes are either
        already in ``store`` or produced by an earlier task of the list. Independent tasks
        may run in parallel. ``on_done`` is called in the calling thread once per finished
        task.

        Raises
        ------
        PipelineCancelled
            After ``token`` was cancelled: no task starts afterwards, running ones have
            stopped (or were ended after the executor's grace time).
        UnitFailed, CorruptEntryError
            For the first failing task; the remaining tasks are not started.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release resources (clusters, clients)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class InlineExecutor(Executor):
    """Computes the tasks one after the other in the calling thread.

    For tests and debugging. Cancellation is cooperative only: a unit that never calls
    ``ctx.check()`` runs to its end (use the Dask executor to bound that).
    """

    kind = "inline"

    def execute(
        self,
        tasks: Sequence[NodeTask],
        store: CacheStore,
        *,
        token: CancelToken,
        on_done: Callable[[EntryInfo], None],
    ) -> None:
        for task in tasks:
            token.check()
            on_done(run_node_task(task, store, token.check))
