"""``vo-service cache stats|evict|verify`` against a cache filled by a real run."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from processing.pipeline import CacheStore, InlineExecutor, Pipeline, ProductCache
from tests.processing.pipeline.conftest import build_request, make_archive
from vo_service.cli import main
from vo_service.cli._cache import parse_size
from vo_service.db import make_engine, upgrade_database


@pytest.fixture
def filled(database_url: str, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("VO_SERVICE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VO_SERVICE_DATABASE_URL", database_url)
    monkeypatch.setenv("VO_SERVICE_CACHE_PATH", str(tmp_path / "cache"))
    engine = make_engine(database_url)
    upgrade_database(engine)  # the service's migrations include the pipeline's
    cache = ProductCache(CacheStore(tmp_path / "cache"), engine)
    graph, summary = build_request(make_archive(tmp_path / "archive", 3))
    Pipeline(cache, InlineExecutor()).run([summary])
    yield cache, graph
    engine.dispose()


def test_stats_reports_entries_by_unit(filled):
    cache, graph = filled
    result = CliRunner().invoke(main, ["cache", "stats", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["entries"] == len(graph)
    assert data["by_unit"]["toy.decode"]["entries"] == 3
    assert data["total_bytes"] == cache.total_bytes()
    text = CliRunner().invoke(main, ["cache", "stats"])
    assert text.exit_code == 0 and "toy.read_events" in text.output


def test_evict_dry_run_then_real(filled):
    cache, graph = filled
    dry = CliRunner().invoke(main, ["cache", "evict", "--budget", "0", "--dry-run"])
    assert dry.exit_code == 0 and f"would remove {len(graph)} entries" in dry.output
    assert cache.stats().entries == len(graph)
    real = CliRunner().invoke(main, ["cache", "evict", "--budget", "0"])
    assert real.exit_code == 0 and f"removed {len(graph)} entries" in real.output
    assert cache.stats().entries == 0 and list(cache.store) == []


def test_verify_finds_a_damaged_entry(filled):
    cache, graph = filled
    assert CliRunner().invoke(main, ["cache", "verify"]).exit_code == 0
    node = next(iter(graph))
    victim = next(p for p in cache.store.path(node.provenance_hash).iterdir() if p.suffix == ".npy")
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["cache", "verify"])
    assert result.exit_code == 1 and "checksum mismatch" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1024", 1024), ("2K", 2048), ("1.5G", 1536 * 1024**2), ("20GiB", 20 * 1024**3)],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


def test_parse_size_rejects_garbage():
    with pytest.raises(click.BadParameter):
        parse_size("lots")
