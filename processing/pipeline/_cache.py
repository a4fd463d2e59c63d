"""The product cache: the filesystem store plus its index table in the database.

The store holds the bytes; the index (``pipeline_cache_entries``) holds what eviction and
statistics need: size, unit, creation, last use, hit count, pins. Leases
(``pipeline_cache_leases``) mark the entries a running job needs — present ones and ones
still to be computed — so that eviction never removes them; a lease expires on its own if
its holder dies.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from processing.pipeline._errors import CorruptEntryError
from processing.pipeline._hashing import ProvenanceHash, check_hash
from processing.pipeline._schema import CacheEntryRow, CacheLeaseRow
from processing.pipeline._store import CacheStore, EntryInfo

__all__ = ["CacheEntry", "CacheStats", "EvictionReport", "ProductCache"]

logger = logging.getLogger(__name__)

_CHUNK = 500  # hashes per IN (...) clause: well below every backend's parameter limit


def _now() -> datetime:
    return datetime.now(UTC)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


@dataclass(frozen=True)
class CacheEntry:
    """A published node output: where it is and how to read it.

    Attributes
    ----------
    provenance_hash
        The node identity, also the entry's name.
    unit, unit_version, codec
        What made it and how it is stored.
    path
        The entry folder.
    files
        Payload file names in the folder (for the ``files`` codec: the products).
    size_bytes
        Total payload size.
    """

    provenance_hash: ProvenanceHash
    unit: str
    unit_version: str
    codec: str
    path: Path
    files: tuple[str, ...]
    size_bytes: int
    _store: CacheStore = field(repr=False, compare=False)

    def load(self) -> Any:
        """Verify and decode the value (arrays come back memory-mapped, read-only)."""
        return self._store.load(self.provenance_hash)


@dataclass(frozen=True)
class CacheStats:
    """Totals of the index, for ``vo-service cache stats``."""

    entries: int
    total_bytes: int
    pinned: int
    leased: int
    budget_bytes: int | None
    by_unit: dict[str, tuple[int, int]]  # unit -> (entries, bytes)
    oldest_use: datetime | None
    total_hits: int


@dataclass(frozen=True)
class EvictionReport:
    """What an eviction removed (or would remove, for a dry run)."""

    removed: list[ProvenanceHash]
    freed_bytes: int
    remaining_bytes: int
    dry_run: bool


class ProductCache:
    """Content-addressed cache of node outputs with a database index.

    Parameters
    ----------
    store
        The filesystem store (or a folder to make one in).
    engine
        Database with the index tables (see :func:`upgrade_cache_schema`).
    budget_bytes
        Size budget enforced by :meth:`evict` (``None``: no automatic limit).
    """

    def __init__(
        self, store: CacheStore | Path, engine: Engine, *, budget_bytes: int | None = None
    ) -> None:
        self.store = store if isinstance(store, CacheStore) else CacheStore(Path(store))
        self.engine = engine
        self.budget_bytes = budget_bytes

    # Lookup and recording ------------------------------------------------------------
    def lookup(self, hashes: Iterable[str]) -> set[ProvenanceHash]:
        """Return the hashes that have a usable entry.

        The index and the folder must agree: an index row without files is dropped; a
        published folder without a row (its recording process died) is adopted.
        """
        wanted = sorted({check_hash(item) for item in hashes})
        indexed: set[str] = set()
        with Session(self.engine) as session:
            for chunk in _chunks(wanted):
                indexed.update(
                    session.scalars(
                        select(CacheEntryRow.provenance_hash).where(
                            CacheEntryRow.provenance_hash.in_(chunk)
                        )
                    )
                )
        present: set[ProvenanceHash] = set()
        for key in wanted:
            on_disk = self.store.contains(key)
            if key in indexed and on_disk:
                present.add(ProvenanceHash(key))
            elif key in indexed:
                logger.warning("cache index row %s has no files; dropping it", key)
                self.forget(key)
            elif on_disk:
                try:
                    self.record(self.store.info(key))
                except CorruptEntryError:
                    self.store.remove(key)
                    continue
                present.add(ProvenanceHash(key))
        return present

    def record(self, info: EntryInfo) -> None:
        """Add an index row for a published entry (no-op if another process did)."""
        now = _now()
        values = {
            "provenance_hash": info.provenance_hash,
            "unit": info.unit,
            "unit_version": info.unit_version,
            "codec": info.codec,
            "size_bytes": info.size_bytes,
            "created_at": info.created,
            "last_used_at": now,
            "hit_count": 0,
            "pinned": False,
        }
        dialect = self.engine.dialect.name
        insert_stmt: Any
        if dialect == "postgresql":
            insert_stmt = postgresql.insert(CacheEntryRow).values(**values)
        elif dialect == "sqlite":
            insert_stmt = sqlite.insert(CacheEntryRow).values(**values)
        else:  # pragma: no cover - only the two supported backends are tested
            raise NotImplementedError(f"unsupported database {dialect}")
        with self.engine.begin() as conn:
            conn.execute(insert_stmt.on_conflict_do_nothing(index_elements=["provenance_hash"]))

    def touch(self, hashes: Iterable[str]) -> None:
        """Mark entries as used now and count one hit each."""
        keys = sorted(set(hashes))
        if not keys:
            return
        now = _now()
        with self.engine.begin() as conn:
            for chunk in _chunks(keys):
                conn.execute(
                    update(CacheEntryRow)
                    .where(CacheEntryRow.provenance_hash.in_(chunk))
                    .values(last_used_at=now, hit_count=CacheEntryRow.hit_count + 1)
                )

    def forget(self, provenance_hash: str) -> None:
        """Drop an index row (not the files)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(CacheEntryRow).where(CacheEntryRow.provenance_hash == provenance_hash)
            )

    def drop(self, provenance_hash: str) -> None:
        """Remove an entry: index row and files (e.g. found corrupt)."""
        self.forget(provenance_hash)
        self.store.remove(provenance_hash)

    def entry(self, provenance_hash: str) -> CacheEntry:
        """Describe a published entry; :class:`KeyError` if absent."""
        info = self.store.info(provenance_hash)
        return CacheEntry(
            provenance_hash=info.provenance_hash,
            unit=info.unit,
            unit_version=info.unit_version,
            codec=info.codec,
            path=self.store.path(provenance_hash),
            files=tuple(info.files),
            size_bytes=info.size_bytes,
            _store=self.store,
        )

    def load(self, provenance_hash: str) -> Any:
        """Verify and decode an entry; a corrupt one is dropped and re-raised."""
        try:
            return self.store.load(provenance_hash)
        except CorruptEntryError:
            self.forget(provenance_hash)
            raise

    def pin(self, provenance_hash: str, pinned: bool = True) -> None:
        """Protect an entry from eviction (or release that protection)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(CacheEntryRow)
                .where(CacheEntryRow.provenance_hash == provenance_hash)
                .values(pinned=pinned)
            )

    # Leases -----------------------------------------------------------------------------
    def acquire_leases(self, hashes: Iterable[str], holder: str, ttl: float) -> None:
        """Claim entries (present or future) for ``ttl`` seconds on behalf of ``holder``."""
        expires = _now() + timedelta(seconds=ttl)
        keys = sorted({check_hash(item) for item in hashes})
        with Session(self.engine) as session, session.begin():
            for chunk in _chunks(keys):
                session.execute(
                    delete(CacheLeaseRow).where(
                        CacheLeaseRow.holder == holder, CacheLeaseRow.provenance_hash.in_(chunk)
                    )
                )
            session.add_all(
                CacheLeaseRow(provenance_hash=key, holder=holder, expires_at=expires)
                for key in keys
            )

    def renew_leases(self, holder: str, ttl: float) -> None:
        """Extend every lease of ``holder`` to ``ttl`` seconds from now."""
        with self.engine.begin() as conn:
            conn.execute(
                update(CacheLeaseRow)
                .where(CacheLeaseRow.holder == holder)
                .values(expires_at=_now() + timedelta(seconds=ttl))
            )

    def release_leases(self, holder: str) -> None:
        """Drop every lease of ``holder``, and any expired lease."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(CacheLeaseRow).where(
                    (CacheLeaseRow.holder == holder) | (CacheLeaseRow.expires_at < _now())
                )
            )

    @contextmanager
    def leased(self, hashes: Iterable[str], holder: str, ttl: float = 3600.0) -> Iterator[None]:
        """Hold leases on ``hashes`` for the duration of the ``with`` block."""
        self.acquire_leases(hashes, holder, ttl)
        try:
            yield
        finally:
            self.release_leases(holder)

    # Eviction and statistics --------------------------------------------------------------
    def total_bytes(self) -> int:
        """Sum of the indexed entry sizes."""
        with Session(self.engine) as session:
            return int(
                session.scalar(select(func.coalesce(func.sum(CacheEntryRow.size_bytes), 0))) or 0
            )

    def evict(self, budget_bytes: int | None = None, *, dry_run: bool = False) -> EvictionReport:
        """Remove least recently used entries until the total fits ``budget_bytes``.

        Pinned entries and entries under an unexpired lease are never removed, so the
        total may stay above the budget. Each removal is one conditional ``DELETE`` that
        re-checks pins and leases, so a lease taken concurrently wins.

        Parameters
        ----------
        budget_bytes
            Target total size (default: the cache's budget; no budget means nothing to do).
        dry_run
            Only report what would be removed.
        """
        budget = self.budget_bytes if budget_bytes is None else budget_bytes
        total = self.total_bytes()
        removed: list[ProvenanceHash] = []
        freed = 0
        if budget is None or total <= budget:
            return EvictionReport(removed, 0, total, dry_run)
        now = _now()
        active_lease = exists().where(
            and_(
                CacheLeaseRow.provenance_hash == CacheEntryRow.provenance_hash,
                CacheLeaseRow.expires_at > now,
            )
        )
        with Session(self.engine) as session:
            candidates = session.execute(
                select(CacheEntryRow.provenance_hash, CacheEntryRow.size_bytes)
                .where(CacheEntryRow.pinned.is_(False), ~active_lease)
                .order_by(CacheEntryRow.last_used_at, CacheEntryRow.provenance_hash)
            ).all()
        for key, size in candidates:
            if total - freed <= budget:
                break
            if not dry_run:
                with self.engine.begin() as conn:
                    result = conn.execute(
                        delete(CacheEntryRow).where(
                            CacheEntryRow.provenance_hash == key,
                            CacheEntryRow.pinned.is_(False),
                            ~active_lease,
                        )
                    )
                if result.rowcount != 1:
                    continue  # leased or pinned meanwhile
                self.store.remove(key)
            removed.append(ProvenanceHash(key))
            freed += int(size)
        if removed:
            logger.info("evicted %d cache entries, %d bytes", len(removed), freed)
        return EvictionReport(removed, freed, total - freed, dry_run)

    def stats(self) -> CacheStats:
        """Totals by unit, pins, active leases, hits."""
        now = _now()
        with Session(self.engine) as session:
            rows = session.execute(
                select(
                    CacheEntryRow.unit,
                    func.count(),
                    func.coalesce(func.sum(CacheEntryRow.size_bytes), 0),
                ).group_by(CacheEntryRow.unit)
            ).all()
            pinned = session.scalar(select(func.count()).where(CacheEntryRow.pinned.is_(True)))
            leased = session.scalar(
                select(func.count(func.distinct(CacheLeaseRow.provenance_hash))).where(
                    CacheLeaseRow.expires_at > now
                )
            )
            oldest = session.scalar(select(func.min(CacheEntryRow.last_used_at)))
            hits = session.scalar(select(func.coalesce(func.sum(CacheEntryRow.hit_count), 0)))
        by_unit = {str(unit): (int(count), int(size)) for unit, count, size in rows}
        return CacheStats(
            entries=sum(count for count, _ in by_unit.values()),
            total_bytes=sum(size for _, size in by_unit.values()),
            pinned=int(pinned or 0),
            leased=int(leased or 0),
            budget_bytes=self.budget_bytes,
            by_unit=by_unit,
            oldest_use=oldest,
            total_hits=int(hits or 0),
        )

    def check_consistency(self, *, level: str = "checksum") -> list[str]:
        """List every disagreement between index and store (empty: consistent).

        Used by tests and by operators after a crash; it changes nothing.
        """
        problems: list[str] = []
        with Session(self.engine) as session:
            indexed = set(session.scalars(select(CacheEntryRow.provenance_hash)))
        on_disk = set(self.store)
        for key in sorted(indexed - on_disk):
            problems.append(f"{key}: indexed but not in the store")
        for key in sorted(on_disk):
            try:
                self.store.verify(key, "checksum" if level == "checksum" else "size")
            except CorruptEntryError as exc:
                problems.append(str(exc))
        return problems
