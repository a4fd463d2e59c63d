"""Fixtures of the pipeline tests: a cache on each database, toy archives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from processing.pipeline import (
    CacheStore,
    Calibration,
    ExternalFile,
    Graph,
    Node,
    ProductCache,
    upgrade_cache_schema,
)
from tests.processing.pipeline.toy_units import BinEvents, Decode, Mosaic, ReadEvents, Summary
from vo_service.db import make_engine


@pytest.fixture
def cache(database_url: str, tmp_path: Path) -> Iterator[ProductCache]:
    """An empty product cache on SQLite or PostgreSQL."""
    engine = make_engine(database_url)
    upgrade_cache_schema(engine)
    yield ProductCache(CacheStore(tmp_path / "cache", durable=False), engine)
    engine.dispose()


@pytest.fixture
def sqlite_cache(tmp_path: Path) -> Iterator[ProductCache]:
    """A cache on SQLite only (for tests about the store and executors, not the database)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'index.sqlite'}")
    upgrade_cache_schema(engine)
    yield ProductCache(CacheStore(tmp_path / "cache", durable=False), engine)
    engine.dispose()


def make_archive(folder: Path, n_scw: int, *, start: int = 0) -> list[ExternalFile]:
    """Write ``n_scw`` toy event files; return them as external inputs."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(start, start + n_scw):
        scw_id = f"0665{index:04d}0010"
        path = folder / f"{scw_id}.npy"
        if not path.exists():
            rng = np.random.default_rng(index)
            np.save(path, rng.uniform(15.0, 200.0, size=5000))
        files.append(
            ExternalFile.from_path(
                path, label=f"scw/0665/{scw_id}.001/events.npy", attributes={"scw_id": scw_id}
            )
        )
    return files


CALIBRATION = Calibration("toy-ic-1")


def build_request(
    files: list[ExternalFile],
    *,
    e_min: float = 20.0,
    e_max: float = 40.0,
    gain: float = 1.0,
    weight: float = 1.0,
) -> tuple[Graph, Node]:
    """Per-ScW branches read → bin → decode, a mosaic and a JSON summary."""
    graph = Graph(calibration=CALIBRATION)
    images = []
    for item in files:
        events = graph.add(ReadEvents(), events=item)
        shadowgram = graph.add(BinEvents(e_min=e_min, e_max=e_max), events=events)
        images.append(graph.add(Decode(gain=gain), shadowgram=shadowgram))
    mosaic = graph.add(Mosaic(weight=weight), images=images)
    summary = graph.add(Summary(), mosaic=mosaic)
    return graph, summary


@pytest.fixture
def archive(tmp_path: Path) -> list[ExternalFile]:
    """Eight toy event files."""
    return make_archive(tmp_path / "archive", 8)
