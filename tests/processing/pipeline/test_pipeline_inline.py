"""Running DAGs with the inline executor: reuse, partial recomputation, failures, cancellation."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from processing.pipeline import (
    CancelToken,
    ExternalFile,
    Graph,
    InlineExecutor,
    Pipeline,
    PipelineCancelled,
    ProductCache,
    Progress,
    UnitFailed,
)
from tests.processing.pipeline.conftest import CALIBRATION, build_request, make_archive
from tests.processing.pipeline.toy_units import Failing, Sleepy


def names(graph: Graph, hashes) -> list[str]:
    return sorted(graph.get(key).name for key in hashes)


def test_same_request_twice_executes_nothing_the_second_time(cache: ProductCache, archive):
    pipeline = Pipeline(cache, InlineExecutor())
    graph, summary = build_request(archive)
    first = pipeline.run([summary])
    assert len(first.computed) == len(graph)
    assert first.load(summary)["n_scw"] == len(archive)
    _, summary_again = build_request(archive)
    second = pipeline.run([summary_again])
    assert second.computed == []
    assert second.cached == {summary.provenance_hash}  # nothing upstream even looked at
    assert second.load(summary_again) == first.load(summary)
    assert cache.stats().total_hits == 1


def test_new_parameter_of_a_late_unit_reuses_all_upstream_nodes(cache, archive):
    pipeline = Pipeline(cache, InlineExecutor())
    _, summary = build_request(archive, weight=1.0)
    first = pipeline.run([summary]).load(summary)
    graph, summary2 = build_request(archive, weight=2.0)
    result = pipeline.run([summary2])
    assert names(graph, result.computed) == ["toy.mosaic", "toy.summary"]
    assert len(result.cached) == len(archive)  # the decoded images, nothing above them
    assert result.load(summary2)["total"] == pytest.approx(2 * first["total"])


def test_new_energy_band_reads_no_event_file_again(cache, archive):
    pipeline = Pipeline(cache, InlineExecutor())
    pipeline.run([build_request(archive, e_min=20, e_max=40)[1]])
    graph, summary = build_request(archive, e_min=40, e_max=80)
    result = pipeline.run([summary])
    assert "toy.read_events" not in names(graph, result.computed)
    assert names(graph, result.cached) == ["toy.read_events"] * len(archive)


def test_overlapping_request_computes_only_the_new_half(cache, tmp_path: Path):
    pipeline = Pipeline(cache, InlineExecutor())
    files = make_archive(tmp_path / "archive", 8)
    pipeline.run([build_request(files[:4])[1]])
    graph, summary = build_request(files[2:6])
    result = pipeline.run([summary])
    computed = names(graph, result.computed)
    assert computed.count("toy.read_events") == 2
    assert computed.count("toy.decode") == 2
    new_ids = {
        graph.get(k).inputs["events"].attributes["scw_id"]
        for k in result.computed
        if graph.get(k).name == "toy.read_events"
    }
    assert new_ids == {files[4].attributes["scw_id"], files[5].attributes["scw_id"]}


def test_progress_reports_cached_and_computed(cache, archive):
    pipeline = Pipeline(cache, InlineExecutor())
    pipeline.run([build_request(archive[:4])[1]])
    updates: list[Progress] = []
    _graph, summary = build_request(archive)
    pipeline.run([summary], progress=updates.append)
    assert updates[0].computed == 0 and updates[0].cached == 4
    assert updates[-1].total == updates[-1].done == 4 + 4 * 3 + 2
    assert [u.computed for u in updates] == list(range(len(updates)))
    assert updates[-1].fraction == 1.0


def test_unit_failure_is_typed_and_keeps_finished_nodes(cache, archive):
    pipeline = Pipeline(cache, InlineExecutor())
    graph, summary = build_request(archive[:2])
    mosaic = summary.inputs["mosaic"]
    failing = graph.add(Failing(), data=mosaic)
    with pytest.raises(UnitFailed) as info:
        pipeline.run([failing])
    assert info.value.unit == "toy.failing" and "ArithmeticError" in info.value.message
    assert isinstance(info.value.__cause__, ArithmeticError)
    assert cache.lookup([mosaic.provenance_hash]) == {mosaic.provenance_hash}
    assert cache.stats().leased == 0


def test_corrupt_input_found_during_a_run_is_recomputed(cache, archive):
    pipeline = Pipeline(cache, InlineExecutor())
    _graph, summary = build_request(archive[:3])
    expected = pipeline.run([summary]).load(summary)
    mosaic = summary.inputs["mosaic"]
    image = mosaic.inputs["images"][0]
    cache.drop(mosaic.provenance_hash)
    cache.drop(summary.provenance_hash)
    target = cache.store.path(image.provenance_hash) / "image.npy"
    target.write_bytes(target.read_bytes()[:-8] + b"garbage!")
    result = pipeline.run([summary])
    assert result.load(summary) == expected
    assert image.provenance_hash in result.computed
    assert cache.check_consistency() == []


def test_cancel_stops_cooperative_unit_and_starts_nothing_more(sqlite_cache, tmp_path: Path):
    pipeline = Pipeline(sqlite_cache, InlineExecutor())
    markers = tmp_path / "markers"
    markers.mkdir()
    source = make_archive(tmp_path / "archive", 1)[0]
    graph = Graph(calibration=CALIBRATION)
    nodes = [
        graph.add(Sleepy(seconds=30, tag=f"n{i}", marker_dir=str(markers)), events=source)
        for i in range(3)
    ]
    token = CancelToken()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            pipeline.run(nodes, token=token)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    while not list(markers.glob("*.started")):
        thread.join(0.02)
    token.cancel("user abort")
    thread.join(5)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], PipelineCancelled)
    assert len(list(markers.glob("*.started"))) == 1
    assert list(markers.glob("*.finished")) == []
    assert sqlite_cache.lookup(n.provenance_hash for n in nodes) == set()
    assert sqlite_cache.check_consistency() == []
    assert [p for p in sqlite_cache.store.tmp.iterdir()] == []


def test_budget_is_enforced_after_a_run(cache, archive):
    cache.budget_bytes = 0
    pipeline = Pipeline(cache, InlineExecutor())
    _graph, summary = build_request(archive[:2])
    result = pipeline.run([summary])
    assert result.computed  # the run itself worked with leases protecting its entries
    assert cache.stats().entries == 0  # afterwards everything over budget went


def test_external_files_reach_units_unchanged(sqlite_cache, tmp_path: Path):
    files = make_archive(tmp_path / "a", 1)
    graph, _summary = build_request(files)
    read = next(node for node in graph if node.name == "toy.read_events")
    Pipeline(sqlite_cache, InlineExecutor()).run([read])
    events = sqlite_cache.load(read.provenance_hash)
    np.testing.assert_array_equal(events["events"], np.load(files[0].path))
    assert isinstance(read.inputs["events"], ExternalFile)


def test_concurrent_runs_of_the_same_request_share_the_cache(cache, archive):
    """Two runners computing the same nodes at once: both succeed, one entry per node."""
    graph, summary = build_request(archive)
    results: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(Pipeline(cache, InlineExecutor()).run([build_request(archive)[1]]))
        except BaseException as exc:  # handed to the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(results) == 3
    assert cache.stats().entries == len(graph)
    assert cache.check_consistency() == []
    assert Pipeline(cache, InlineExecutor()).run([summary]).computed == []
