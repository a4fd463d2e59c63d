"""The product store: finished products copied out of the cache, indexed by provenance hash.

Products outlive cache eviction: their files are copied (hard-linked when possible) into
``store_path/<hh>/<hash>/``, written to a temporary folder first and renamed into place, so a
reader never sees half a product.

Every file's size and SHA-256 are recorded. :meth:`ProductStore.damaged` checks them (the
checksum once per file version: a verified (inode, size, mtime) is remembered), downloads and
answers at creation never hand out a damaged file, and storing the same product again
rewrites damaged or missing files from the new build. A full disk leaves no partial files and
is reported as :class:`StoreFull`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from processing.products import ProductDescriptor
from vo_service._store_tables import ProductRow

__all__ = [
    "ProductStore",
    "StoreError",
    "StoreFull",
    "StoredFile",
    "StoredProduct",
    "is_product_hash",
]

log = logging.getLogger(__name__)

_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
#: Temporary folders older than this are left over by a crash and removed.
_STALE_TMP_S = 3600.0
#: How many verified file versions are remembered.
_VERIFIED_MAX = 20_000


class StoreError(OSError):
    """The store cannot take a product; the message is for users (no path)."""


class StoreFull(StoreError):
    """No space is left in the product store."""


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def is_product_hash(text: str) -> bool:
    """Whether ``text`` is a product hash (64 lower-case hex digits)."""
    return bool(_HASH_RE.match(text))


@dataclass(frozen=True)
class StoredFile:
    """A file of a stored product."""

    name: str
    content_type: str
    size: int
    semantics: str
    description: str
    #: SHA-256 of the content (empty for products stored before checksums were kept).
    sha256: str = ""


@dataclass(frozen=True)
class StoredProduct:
    """A product in the store."""

    hash: str
    product_type: str
    created_at: datetime
    files: tuple[StoredFile, ...]
    metadata: dict[str, Any]
    progenitors: tuple[str, ...]

    @property
    def primary(self) -> StoredFile:
        return self.files[0]


def _from_row(row: ProductRow) -> StoredProduct:
    return StoredProduct(
        hash=row.hash,
        product_type=row.product_type,
        created_at=row.created_at,
        files=tuple(StoredFile(**f) for f in row.files),
        metadata=dict(row.product_metadata),
        progenitors=tuple(row.progenitors),
    )


class ProductStore:
    """Store and look up products."""

    def __init__(self, engine: Engine, root: Path) -> None:
        self.engine = engine
        self.root = Path(root)
        self._verified: OrderedDict[tuple[str, int, int, int], None] = OrderedDict()
        self._lock = threading.Lock()
        self._sweep_tmp()  # what a writer killed mid-copy left behind

    def folder(self, product_hash: str) -> Path:
        """Folder of a product's files."""
        if not is_product_hash(product_hash):
            raise ValueError(f"not a product hash: {product_hash!r}")
        return self.root / product_hash[:2] / product_hash

    # Integrity ------------------------------------------------------------------------------
    def _intact(self, path: Path, record: StoredFile) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        if st.st_size != record.size:
            return False
        if not record.sha256:
            return True
        key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if key in self._verified:
                self._verified.move_to_end(key)
                return True
        try:
            if _sha256(path) != record.sha256:
                return False
        except OSError:
            return False
        with self._lock:
            self._verified[key] = None
            while len(self._verified) > _VERIFIED_MAX:
                self._verified.popitem(last=False)
        return True

    def damaged(self, product: StoredProduct, names: Iterable[str] | None = None) -> list[str]:
        """Names of the product's files (all, or ``names``) that are missing or altered."""
        wanted = None if names is None else set(names)
        folder = self.folder(product.hash)
        bad = [
            f.name
            for f in product.files
            if (wanted is None or f.name in wanted) and not self._intact(folder / f.name, f)
        ]
        if bad:
            log.error("product %s in %s: damaged files %s", product.hash, folder, bad)
        return bad

    # Writing --------------------------------------------------------------------------------
    def _sweep_tmp(self) -> None:
        """Remove temporary folders a crashed writer left (they would keep a full disk full)."""
        tmp = self.root / "tmp"
        try:
            entries = list(tmp.iterdir())
        except OSError:
            return
        now = time.time()
        for entry in entries:
            try:
                if now - entry.stat().st_mtime > _STALE_TMP_S:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                continue

    def _write(self, product: ProductDescriptor) -> Path:
        """The product's files in a new temporary folder (removed again on any failure)."""
        tmp = self.root / "tmp" / uuid.uuid4().hex
        try:
            tmp.mkdir(parents=True)
            for f in product.files:
                target = tmp / f.name
                try:
                    os.link(f.path, target)
                except OSError:
                    shutil.copyfile(f.path, target)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            self._sweep_tmp()
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                log.error("product store %s is full: %s", self.root, exc)
                raise StoreFull(
                    errno.ENOSPC, "the product store is full; the operator has been told"
                ) from exc
            log.error("cannot write product %s into %s: %s", product.provenance_hash, tmp, exc)
            raise StoreError(exc.errno or errno.EIO, "the product store cannot be written") from exc
        return tmp

    def _replace(self, product: ProductDescriptor, final: Path) -> None:
        """Put a fresh copy of the product's files in place of ``final`` (damaged)."""
        fresh = self._write(product)
        old = self.root / "tmp" / f"{uuid.uuid4().hex}.damaged"
        with contextlib.suppress(FileNotFoundError):
            os.rename(final, old)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(fresh, final)
        except OSError:
            shutil.rmtree(fresh, ignore_errors=True)  # another writer repaired it first
        shutil.rmtree(old, ignore_errors=True)

    def _records(self, product: ProductDescriptor, final: Path) -> list[dict[str, Any]]:
        return [
            {
                "name": f.name,
                "content_type": f.content_type,
                "size": (final / f.name).stat().st_size,
                "semantics": f.semantics,
                "description": f.description,
                "sha256": _sha256(final / f.name),
            }
            for f in product.files
        ]

    def put(self, product: ProductDescriptor) -> StoredProduct:
        """Store a product (idempotent: storing the same hash again returns the stored one,
        with any damaged or missing file rewritten from ``product``).

        Raises
        ------
        StoreFull, StoreError
            When the files cannot be written (nothing partial is left behind).
        """
        existing = self.get(product.provenance_hash)
        if existing is not None:
            if not self.damaged(existing):
                return existing
            log.warning("repairing product %s from a new build", product.provenance_hash)
            final = self.folder(product.provenance_hash)
            self._replace(product, final)
            with Session(self.engine) as session, session.begin():
                row = session.get(ProductRow, product.provenance_hash)
                if row is not None:
                    row.files = self._records(product, final)
            repaired = self.get(product.provenance_hash)
            assert repaired is not None
            return repaired
        final = self.folder(product.provenance_hash)
        if not final.exists():
            tmp = self._write(product)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                tmp.rename(final)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)  # another writer got there first
        row = ProductRow(
            hash=product.provenance_hash,
            product_type=product.product_type,
            created_at=datetime.now(UTC),
            files=self._records(product, final),
            product_metadata=product.metadata,
            progenitors=list(product.progenitors),
        )
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
        except IntegrityError:
            pass  # stored concurrently by another job: same hash, same content
        stored = self.get(product.provenance_hash)
        assert stored is not None
        return stored

    def get(self, product_hash: str) -> StoredProduct | None:
        """The stored product, or ``None``."""
        if not is_product_hash(product_hash):
            return None
        with Session(self.engine) as session:
            row = session.get(ProductRow, product_hash)
            return None if row is None else _from_row(row)

    def file_path(self, product_hash: str, name: str) -> Path | None:
        """Path of a product's file, only for files the product lists."""
        product = self.get(product_hash)
        if product is None or name not in {f.name for f in product.files}:
            return None
        return self.folder(product_hash) / name

    def recent(self, limit: int = 100) -> list[StoredProduct]:
        """Most recent products first."""
        stmt = select(ProductRow).order_by(ProductRow.created_at.desc()).limit(limit)
        with Session(self.engine) as session:
            return [_from_row(r) for r in session.scalars(stmt)]
