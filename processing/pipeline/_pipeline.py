"""Planning and running a DAG against the cache on an executor.

:meth:`Pipeline.run` is the one entry point the job runner uses:

1.-3. walk back from the targets one level at a time, leasing each level (so no eviction
   removes it while the job runs) and looking it up in one query: a cached node ends the
   walk (its ancestors are neither leased, looked up, computed nor loaded), a missing one is
   scheduled and its inputs make the next level;
4. run the missing nodes on the executor, recording each published entry in the index;
5. count a hit on every cached node used, release the leases, enforce the size budget.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from processing.pipeline._cache import CacheEntry, ProductCache
from processing.pipeline._errors import CorruptEntryError, PipelineCancelled
from processing.pipeline._executor import CancelToken, Executor, NodeTask, Progress
from processing.pipeline._graph import Node, ancestors_of
from processing.pipeline._hashing import ProvenanceHash
from processing.pipeline._store import EntryInfo

__all__ = ["ExecutionPlan", "Pipeline", "RunResult"]

logger = logging.getLogger(__name__)

#: How often a run may recompute entries found corrupt while it runs.
_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class ExecutionPlan:
    """What a run will do.

    Attributes
    ----------
    targets
        The requested nodes.
    to_compute
        Missing nodes to compute, in topological order.
    cached
        Cached nodes the run uses (targets found in the cache, and cached inputs of nodes
        to compute); their own ancestors are not part of the plan.
    """

    targets: tuple[Node, ...]
    to_compute: tuple[Node, ...]
    cached: frozenset[ProvenanceHash]

    @property
    def total(self) -> int:
        """Nodes the run needs."""
        return len(self.to_compute) + len(self.cached)


@dataclass
class RunResult:
    """Outcome of :meth:`Pipeline.run`.

    Attributes
    ----------
    entries
        Target hash → published :class:`CacheEntry`.
    computed
        Hashes computed by this run, in completion order.
    cached
        Hashes taken from the cache.
    seconds
        Wall-clock duration of the run.
    """

    entries: dict[ProvenanceHash, CacheEntry]
    computed: list[ProvenanceHash] = field(default_factory=list)
    cached: set[ProvenanceHash] = field(default_factory=set)
    seconds: float = 0.0

    def __getitem__(self, node: Node) -> CacheEntry:
        """The entry of a target node."""
        return self.entries[node.provenance_hash]

    def load(self, node: Node) -> object:
        """Decode a target node's output."""
        return self[node].load()


class Pipeline:
    """Runs DAGs on an executor, reusing and filling a :class:`ProductCache`.

    Parameters
    ----------
    cache
        The product cache.
    executor
        Where missing nodes run (:class:`InlineExecutor`, ``DaskExecutor``).
    lease_ttl
        Seconds a run's leases last; renewed while the run goes on, so this only bounds
        how long the entries of a crashed run stay protected.
    evict_after_run
        Enforce the cache budget after each successful run.
    """

    def __init__(
        self,
        cache: ProductCache,
        executor: Executor,
        *,
        lease_ttl: float = 3600.0,
        evict_after_run: bool = True,
    ) -> None:
        self.cache = cache
        self.executor = executor
        self.lease_ttl = lease_ttl
        self.evict_after_run = evict_after_run

    def plan(self, targets: Sequence[Node], *, holder: str | None = None) -> ExecutionPlan:
        """Decide which nodes to compute and which cached ones to use.

        The DAG is walked back from the targets one level at a time: each level is leased
        (when ``holder`` is given) and then looked up in one query, and only the inputs of
        missing nodes make the next level. A fully cached request therefore costs one
        lease and one lookup of its targets, however large the DAG behind them.
        """
        needed: set[ProvenanceHash] = set()
        present: set[ProvenanceHash] = set()
        frontier = list(dict.fromkeys(targets))
        while frontier:
            hashes = [node.provenance_hash for node in frontier]
            if holder is not None:
                # Lease before looking up, so an eviction cannot remove what we find.
                self.cache.acquire_leases(hashes, holder, self.lease_ttl)
            found = self.cache.lookup(hashes)
            needed.update(hashes)
            present |= found
            upstream: dict[ProvenanceHash, Node] = {}
            for node in frontier:
                if node.provenance_hash not in found:
                    for parent in node.parents():
                        if parent.provenance_hash not in needed:
                            upstream.setdefault(parent.provenance_hash, parent)
            frontier = list(upstream.values())
        missing = needed - present
        return ExecutionPlan(
            targets=tuple(targets),
            to_compute=tuple(
                node for node in ancestors_of(targets) if node.provenance_hash in missing
            ),
            cached=frozenset(present),
        )

    def run(
        self,
        targets: Sequence[Node],
        *,
        token: CancelToken | None = None,
        progress: Callable[[Progress], None] | None = None,
        holder: str | None = None,
    ) -> RunResult:
        """Make every target available in the cache, computing only what is missing.

        Parameters
        ----------
        targets
            Nodes whose outputs are wanted (products).
        token
            Cancellation token; cancel it from another thread to abort.
        progress
            Called with a :class:`Progress` after planning and after every node.
        holder
            Lease holder name (e.g. the job id); a random one by default.

        Raises
        ------
        PipelineCancelled
            When ``token`` was cancelled; finished nodes stay cached, no partial entry.
        UnitFailed
            When a unit raised.
        """
        started = time.perf_counter()
        token = token or CancelToken()
        holder = holder or uuid.uuid4().hex
        targets = list(dict.fromkeys(targets))
        computed: list[ProvenanceHash] = []
        try:
            for attempt in range(1, _MAX_ATTEMPTS + 1):
                plan = self.plan(targets, holder=holder)
                try:
                    self._execute(plan, token, progress, holder, computed)
                    self._verify_targets(targets)
                except CorruptEntryError as exc:
                    # The bad folder is already removed; drop the row and re-plan.
                    self.cache.forget(exc.provenance_hash)
                    if attempt == _MAX_ATTEMPTS:
                        raise
                    logger.warning("recomputing corrupt entry %s", exc.provenance_hash)
                    continue
                break
            self.cache.touch(plan.cached)
            entries = {
                node.provenance_hash: self.cache.entry(node.provenance_hash) for node in targets
            }
        finally:
            self.cache.release_leases(holder)
        if self.evict_after_run:
            self.cache.evict()
        return RunResult(
            entries=entries,
            computed=computed,
            cached=set(plan.cached),
            seconds=time.perf_counter() - started,
        )

    def _verify_targets(self, targets: Sequence[Node]) -> None:
        """Check the targets' files against their manifests (the caller reads them next): a
        damaged target is removed and raised, so that the run recomputes it."""
        for node in targets:
            try:
                self.cache.store.verify(node.provenance_hash)
            except KeyError:
                continue  # not published: the executor reported it, nothing to read
            except CorruptEntryError:
                logger.error("cached product %s is damaged; recomputing it", node.provenance_hash)
                self.cache.store.remove(node.provenance_hash)
                raise

    def _execute(
        self,
        plan: ExecutionPlan,
        token: CancelToken,
        progress: Callable[[Progress], None] | None,
        holder: str,
        computed: list[ProvenanceHash],
    ) -> None:
        done_before = len(computed)
        renewed = [time.monotonic()]

        def report() -> None:
            if progress is not None:
                progress(Progress(plan.total, len(plan.cached), len(computed) - done_before))

        def on_done(info: EntryInfo) -> None:
            self.cache.record(info)
            computed.append(info.provenance_hash)
            if time.monotonic() - renewed[0] > self.lease_ttl / 3:
                self.cache.renew_leases(holder, self.lease_ttl)
                renewed[0] = time.monotonic()
            report()

        report()
        if not plan.to_compute:
            return
        token.check()
        tasks = [NodeTask.from_node(node) for node in plan.to_compute]
        logger.info(
            "running %d nodes (%d cached) on %s", len(tasks), len(plan.cached), self.executor.kind
        )
        try:
            self.executor.execute(tasks, self.cache.store, token=token, on_done=on_done)
        except PipelineCancelled:
            logger.info("run cancelled after %d computed nodes", len(computed))
            raise
