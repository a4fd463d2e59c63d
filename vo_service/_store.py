"""The product store: finished products copied out of the cache, indexed by provenance hash.

Products outlive cache eviction: their files are copied (hard-linked when possible) into
``store_path/<hh>/<hash>/``, written to a temporary folder first and renamed into place, so a
reader never sees half a product.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from processing.products import ProductDescriptor
from vo_service._store_tables import ProductRow

__all__ = ["ProductStore", "StoredFile", "StoredProduct", "is_product_hash"]

_HASH_RE = re.compile(r"^[0-9a-f]{64}$")


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

    def folder(self, product_hash: str) -> Path:
        """Folder of a product's files."""
        if not is_product_hash(product_hash):
            raise ValueError(f"not a product hash: {product_hash!r}")
        return self.root / product_hash[:2] / product_hash

    def put(self, product: ProductDescriptor) -> StoredProduct:
        """Store a product (idempotent: storing the same hash again returns the stored one)."""
        existing = self.get(product.provenance_hash)
        if existing is not None:
            return existing
        final = self.folder(product.provenance_hash)
        if not final.exists():
            tmp = self.root / "tmp" / uuid.uuid4().hex
            tmp.mkdir(parents=True)
            for f in product.files:
                target = tmp / f.name
                try:
                    os.link(f.path, target)
                except OSError:
                    shutil.copyfile(f.path, target)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                tmp.rename(final)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)  # another writer got there first
        files = [
            {
                "name": f.name,
                "content_type": f.content_type,
                "size": (final / f.name).stat().st_size,
                "semantics": f.semantics,
                "description": f.description,
            }
            for f in product.files
        ]
        row = ProductRow(
            hash=product.provenance_hash,
            product_type=product.product_type,
            created_at=datetime.now(UTC),
            files=files,
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
