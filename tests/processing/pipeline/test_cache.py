"""The cache index on SQLite and PostgreSQL: lookup, repair, leases, pins, LRU eviction."""

from __future__ import annotations

import time

import numpy as np
from sqlalchemy import inspect

from processing.pipeline import VERSION_TABLE, ProductCache, hash_canonical


def put(cache: ProductCache, name: str, size: int):
    key = hash_canonical({"entry": name})
    info = cache.store.write(
        key,
        {"a": np.zeros(size, dtype=np.uint8)},
        codec="numpy",
        unit=f"toy.{name}",
        unit_version="1",
    )
    cache.record(info)
    return key, info.size_bytes


def test_migration_creates_tables_with_own_version_table(cache: ProductCache):
    tables = set(inspect(cache.engine).get_table_names())
    assert {"pipeline_cache_entries", "pipeline_cache_leases", VERSION_TABLE} <= tables


def test_lookup_record_touch_and_stats(cache: ProductCache):
    key, size = put(cache, "a", 1000)
    missing = hash_canonical({"entry": "missing"})
    assert cache.lookup([key, missing]) == {key}
    cache.record(cache.store.info(key))  # recording twice is harmless
    cache.touch([key])
    cache.touch([key])
    stats = cache.stats()
    assert stats.entries == 1 and stats.total_bytes == size and stats.total_hits == 2
    assert stats.by_unit == {"toy.a": (1, size)}


def test_lookup_repairs_disagreements(cache: ProductCache):
    key, _ = put(cache, "a", 10)
    cache.store.remove(key)  # files gone behind the index's back
    assert cache.lookup([key]) == set()
    assert cache.stats().entries == 0
    orphan = hash_canonical({"entry": "orphan"})
    cache.store.write(orphan, b"x", codec="bytes", unit="toy.orphan", unit_version="1")
    assert cache.lookup([orphan]) == {orphan}  # published by a worker whose client died
    assert cache.stats().entries == 1
    assert cache.check_consistency() == []


def test_eviction_is_lru_and_spares_pinned_and_leased(cache: ProductCache):
    keys = {}
    for name in "abcde":
        keys[name], size = put(cache, name, 1000)
        time.sleep(0.01)
    cache.touch([keys["a"]])  # a is now the most recently used
    cache.pin(keys["b"])
    cache.acquire_leases([keys["c"]], "job-1", ttl=60)
    cache.acquire_leases([keys["d"]], "job-2", ttl=-1)  # expired: no protection
    budget = 3 * size
    dry = cache.evict(budget, dry_run=True)
    assert dry.removed == [keys["d"], keys["e"]] and cache.stats().entries == 5
    report = cache.evict(budget)
    assert report.removed == [keys["d"], keys["e"]]
    assert report.remaining_bytes == cache.total_bytes() == 3 * size
    assert cache.lookup(keys.values()) == {keys["a"], keys["b"], keys["c"]}
    # Over budget but nothing evictable except a: it goes, pinned/leased stay.
    report = cache.evict(0)
    assert report.removed == [keys["a"]]
    assert cache.lookup(keys.values()) == {keys["b"], keys["c"]}
    cache.release_leases("job-1")
    cache.pin(keys["b"], False)
    assert set(cache.evict(0).removed) == {keys["b"], keys["c"]}
    assert cache.check_consistency() == []


def test_leases_context_and_renewal(cache: ProductCache):
    key, _ = put(cache, "a", 10)
    with cache.leased([key], "job", ttl=60):
        assert cache.stats().leased == 1
        assert cache.evict(0).removed == []
        cache.renew_leases("job", 120)
    assert cache.stats().leased == 0
    assert cache.evict(0).removed == [key]
