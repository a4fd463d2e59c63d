"""The Dask executor on a real LocalCluster (2 worker processes): same products as inline,
parallel branches, cancellation (cooperative and not), and a worker killed mid-unit."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from processing.pipeline import (
    CacheStore,
    CancelToken,
    DaskExecutor,
    Graph,
    InlineExecutor,
    Pipeline,
    PipelineCancelled,
    ProductCache,
    UnitFailed,
    create_executor,
    upgrade_cache_schema,
)
from tests.processing.pipeline.conftest import CALIBRATION, build_request, make_archive
from tests.processing.pipeline.toy_units import Failing, Sleepy
from vo_service.db import make_engine


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[DaskExecutor]:
    executor = DaskExecutor.local(2, processes=True, grace_seconds=1.0)
    yield executor
    executor.close()


def _sleepers(tmp_path: Path, n: int, *, seconds: float, cooperative: bool = True, tag: str = "s"):
    markers = tmp_path / "markers"
    markers.mkdir(exist_ok=True)
    source = make_archive(tmp_path / "archive", 1)[0]
    graph = Graph(calibration=CALIBRATION)
    nodes = [
        graph.add(
            Sleepy(
                seconds=seconds, tag=f"{tag}{i}", marker_dir=str(markers), cooperative=cooperative
            ),
            events=source,
        )
        for i in range(n)
    ]
    return nodes, markers


def _run_in_thread(pipeline: Pipeline, nodes, token: CancelToken):
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = pipeline.run(nodes, token=token)
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_dask_and_inline_give_identical_products(dask_executor, database_url, tmp_path: Path):

    files = make_archive(tmp_path / "archive", 6)
    outputs = {}
    for name, executor in (("inline", InlineExecutor()), ("dask", dask_executor)):
        engine = make_engine(database_url if name == "dask" else f"sqlite:///{tmp_path}/i.sqlite")
        upgrade_cache_schema(engine)
        cache = ProductCache(CacheStore(tmp_path / f"cache-{name}", durable=False), engine)
        graph, summary = build_request(files)
        result = Pipeline(cache, executor).run([summary])
        assert len(result.computed) == len(graph)
        # Every file of every node is byte-identical between the executors.
        outputs[name] = {
            node.provenance_hash: {
                k: v.sha256 for k, v in cache.store.info(node.provenance_hash).files.items()
            }
            for node in graph
        }
        outputs[name + "-summary"] = result.load(summary)
        again = Pipeline(cache, executor).run([build_request(files)[1]])
        assert again.computed == []
        engine.dispose()
    assert outputs["inline"] == outputs["dask"]
    assert outputs["inline-summary"] == outputs["dask-summary"]


def test_failure_on_a_worker_is_reported_typed(dask_executor, sqlite_cache, tmp_path: Path):
    graph, summary = build_request(make_archive(tmp_path / "archive", 2))
    failing = graph.add(Failing(), data=summary.inputs["mosaic"])
    with pytest.raises(UnitFailed) as info:
        Pipeline(sqlite_cache, dask_executor).run([failing])
    assert info.value.unit == "toy.failing" and "toy failure" in info.value.message
    assert sqlite_cache.check_consistency() == []


def test_cancel_drops_queued_and_stops_cooperative_units(dask_executor, sqlite_cache, tmp_path):
    nodes, markers = _sleepers(tmp_path, 6, seconds=30, tag="coop")
    token = CancelToken()
    thread, outcome = _run_in_thread(Pipeline(sqlite_cache, dask_executor), nodes, token)
    _wait_for(lambda: len(list(markers.glob("*.started"))) == 2)
    cancelled_at = time.monotonic()
    token.cancel("abort")
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - cancelled_at < 5
    assert isinstance(outcome.get("error"), PipelineCancelled)
    time.sleep(0.5)  # give a wrongly scheduled task the chance to start
    assert len(list(markers.glob("*.started"))) == 2
    assert list(markers.glob("*.finished")) == []
    assert sqlite_cache.lookup(n.provenance_hash for n in nodes) == set()
    assert sqlite_cache.check_consistency() == []


def test_unit_ignoring_cancellation_is_ended_by_restarting_its_worker(
    dask_executor, sqlite_cache, tmp_path
):
    nodes, markers = _sleepers(tmp_path, 2, seconds=60, cooperative=False, tag="stuck")
    token = CancelToken()
    thread, outcome = _run_in_thread(Pipeline(sqlite_cache, dask_executor), nodes, token)
    _wait_for(lambda: len(list(markers.glob("*.started"))) == 2)
    pids = {int(p.read_text()) for p in markers.glob("*.started")}
    cancelled_at = time.monotonic()
    token.cancel("abort")
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - cancelled_at < 5
    assert isinstance(outcome.get("error"), PipelineCancelled)
    for pid in pids:  # the worker processes running the stuck units are gone
        _wait_for(lambda pid=pid: not _alive(pid), timeout=10)
    assert sqlite_cache.lookup(n.provenance_hash for n in nodes) == set()
    assert sqlite_cache.check_consistency() == []
    dask_executor.client.wait_for_workers(2, timeout=60)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers signal 0; read its state. A process reaped between the open and
    # the read of its stat file makes the read fail with ESRCH (ProcessLookupError).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_kill_9_of_a_worker_mid_unit_leaves_cache_consistent(dask_executor, sqlite_cache, tmp_path):
    dask_executor.client.wait_for_workers(2, timeout=60)
    nodes, markers = _sleepers(tmp_path, 1, seconds=2.0, tag="victim")
    token = CancelToken()
    thread, outcome = _run_in_thread(Pipeline(sqlite_cache, dask_executor), nodes, token)
    started = markers / "victim0.started"
    _wait_for(started.exists)
    victim = int(started.read_text())
    os.kill(victim, signal.SIGKILL)
    thread.join(60)
    assert not thread.is_alive()
    # Dask re-ran the task on a live worker: the run completed.
    assert "result" in outcome, outcome.get("error")
    assert int((markers / "victim0.finished").read_text()) != victim
    assert sqlite_cache.check_consistency() == []
    sqlite_cache.store.sweep(older_than=0)  # the killed unit's scratch folder
    rerun = Pipeline(sqlite_cache, dask_executor).run(nodes)
    assert rerun.computed == []


def test_create_executor_from_setting_names(dask_executor):
    assert isinstance(create_executor("inline"), InlineExecutor)
    address = dask_executor.client.scheduler.address
    with create_executor("dask", scheduler=address) as executor:
        assert isinstance(executor, DaskExecutor)
        assert executor.client.scheduler_info()["address"] == address
