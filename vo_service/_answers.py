"""Repeated product requests answered at job creation, without a runner round trip.

When a product job completes, its results are remembered under a key of what determines them:
the validated parameters (request, resolved position, selected science windows, user catalog),
the owner (the provenance document names the user), the public base URL and the software (the
service version and a hash of the source of the packages that make products: any change of
code is a new key). A job created to run with the same key is stored COMPLETED with those
results at once (:attr:`uws.JobKind.answer`), provided every product they point to is still in
the store; otherwise it runs as usual, which recomputes only what the cache lacks. Anything
that changes what a request selects (new science windows in the archive, another resolved
position) changes the validated parameters and so the key.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from uws import JobResult
from vo_service._store import ProductStore
from vo_service._store_tables import ProductAnswerRow, ProductRow
from vo_service._version import __version__

__all__ = ["answer_key", "recall", "remember"]


#: Packages whose code makes a product (the science, the product builders, the DataLink
#: blocks written into catalogs).
_PACKAGES = ("processing", "vo_service", "datalink")


@functools.lru_cache(maxsize=1)
def _software() -> str:
    """Fingerprint of the code that makes products: the service version and a hash of every
    source file of the packages that make them. (The registry of analysis units is not used:
    which units a process has registered depends on what it imported, and the web process
    that answers differs from the worker that remembered.)"""
    digest = hashlib.sha256(__version__.encode())
    for package in _PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def answer_key(spec: dict[str, Any], owner: str | None, base_url: str) -> str:
    """Key of a validated product request of ``owner`` under this software, whose results
    are published under ``base_url``."""
    text = json.dumps(
        {"spec": spec, "owner": owner, "base": base_url, "software": _software()}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()


def remember(
    store: ProductStore,
    key: str,
    products: Sequence[str],
    results: Sequence[JobResult],
) -> None:
    """Record the results of a completed request under its :func:`answer_key`."""
    row = ProductAnswerRow(
        key=key,
        created_at=datetime.now(UTC),
        products=list(products),
        results=[
            {
                "id": r.id,
                "href": r.href,
                "mime_type": r.mime_type,
                "size": r.size,
                "primary": r.primary,
            }
            for r in results
            if r.href is not None
        ],
    )
    try:
        with Session(store.engine) as session, session.begin():
            session.merge(row)
    except IntegrityError:
        pass  # remembered concurrently by an identical job


def recall(store: ProductStore, key: str) -> list[JobResult] | None:
    """The results remembered under ``key``, if every product they name still exists."""
    with Session(store.engine) as session:
        row = session.get(ProductAnswerRow, key)
        if row is None or not row.results:
            return None
        present = set(
            session.scalars(select(ProductRow.hash).where(ProductRow.hash.in_(list(row.products))))
        )
        results, products = list(row.results), list(row.products)
    for h in products:
        stored = store.get(h) if h in present else None
        if stored is None or store.damaged(stored):
            return None  # the runner rebuilds what is missing or damaged

    return [
        JobResult(
            id=str(r["id"]),
            href=str(r["href"]),
            mime_type=r.get("mime_type"),
            size=r.get("size"),
            primary=bool(r.get("primary")),
        )
        for r in results
    ]
