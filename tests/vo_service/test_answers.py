"""Remembered answers of product requests: recalled only while their products exist."""

from __future__ import annotations

import shutil
from pathlib import Path

from processing.products import ProductDescriptor, ProductFile
from uws import JobResult
from vo_service._answers import answer_key, recall, remember
from vo_service._store import ProductStore
from vo_service.db import make_engine, upgrade_database

SPEC = {"request": {"product_type": "image", "e1_kev": 20.0}, "scw_ids": ["005000010010"]}
BASE = "http://127.0.0.1:8080"


def _store(database_url: str, tmp_path: Path) -> ProductStore:
    engine = make_engine(database_url)
    upgrade_database(engine)
    return ProductStore(engine, tmp_path / "products")


def _product(tmp_path: Path, digest: str) -> ProductDescriptor:
    path = tmp_path / f"{digest[:8]}.fits"
    path.write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    return ProductDescriptor(
        provenance_hash=digest,
        product_type="image",
        files=(ProductFile(path, "application/fits", "#this", "image"),),
    )


def test_recall_needs_the_same_request_owner_and_base_and_every_product(
    database_url: str, tmp_path: Path
) -> None:
    store = _store(database_url, tmp_path)
    hashes = ["a" * 64, "b" * 64]
    for h in hashes:
        store.put(_product(tmp_path, h))
    results = [
        JobResult("image.fits", "application/fits", href=f"{BASE}/p/{hashes[0]}", primary=True),
        JobResult("spectrum.fits", "application/fits", href=f"{BASE}/p/{hashes[1]}", size=80),
    ]
    key = answer_key(SPEC, "alice", BASE)
    assert recall(store, key) is None
    remember(store, key, hashes, results)
    remember(store, key, hashes, results)  # an identical job completing later
    assert recall(store, key) == results
    # Another owner, request or public address is another key.
    assert recall(store, answer_key(SPEC, "bob", BASE)) is None
    other = {**SPEC, "scw_ids": ["005000020010"]}
    assert recall(store, answer_key(other, "alice", BASE)) is None
    assert recall(store, answer_key(SPEC, "alice", "https://archive.example.org")) is None
    # A product whose files are gone: the request runs again.
    shutil.rmtree(store.folder(hashes[1]))
    assert recall(store, key) is None
