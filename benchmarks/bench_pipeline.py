"""Pipeline benchmark: parallel speed-up of independent per-ScW branches, cache-hit latency.

Run ``python -m benchmarks.bench_pipeline [--scws 20] [--workers 2] [--repeats 40]``.
Writes ``benchmarks/results/bench_pipeline.json`` and prints a summary.

* speed-up: the same DAG (``scws`` branches read → CPU-bound FFT decode, one mosaic) run
  cold on the inline executor and on a Dask ``LocalCluster`` of ``workers`` single-threaded
  processes (started and warmed up before timing), each into an empty cache;
* cache-hit latency: building the graph of an already computed request and running it
  (every node cached: nothing executes), repeated; this is what a repeated request costs
  before its products can be returned.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_pipeline_units import DecodeScw, MosaicImages, ReadScw
from processing.pipeline import (
    CacheStore,
    Calibration,
    DaskExecutor,
    Executor,
    ExternalFile,
    Graph,
    InlineExecutor,
    Node,
    Pipeline,
    ProductCache,
    upgrade_cache_schema,
)
from vo_service.db import make_engine

RESULTS = Path(__file__).parent / "results"


def make_archive(folder: Path, n_scw: int) -> list[ExternalFile]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(n_scw):
        path = folder / f"scw{index:04d}.npy"
        np.save(path, np.random.default_rng(index).random((200_000, 2)))
        files.append(
            ExternalFile.from_path(path, label=path.name, attributes={"scw_id": f"{index:012d}"})
        )
    return files


def build(files: list[ExternalFile], repeats: int) -> tuple[Graph, Node]:
    graph = Graph(calibration=Calibration("bench-ic-1"))
    images = [
        graph.add(DecodeScw(repeats=repeats), events=graph.add(ReadScw(), events=item))
        for item in files
    ]
    return graph, graph.add(MosaicImages(), images=images)


def fresh_cache(folder: Path) -> ProductCache:
    engine = make_engine(f"sqlite:///{folder / 'index.sqlite'}")
    upgrade_cache_schema(engine)
    return ProductCache(CacheStore(folder / "cache"), engine)


def cold_run(executor: Executor, files: list[ExternalFile], repeats: int, folder: Path) -> float:
    cache = fresh_cache(folder)
    _, mosaic = build(files, repeats)
    started = time.perf_counter()
    result = Pipeline(cache, executor).run([mosaic])
    elapsed = time.perf_counter() - started
    assert len(result.computed) == 2 * len(files) + 1
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scws", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=40, help="FFT passes per ScW decode")
    parser.add_argument("--latency-scws", type=int, default=50)
    parser.add_argument("--latency-runs", type=int, default=30)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = make_archive(root / "archive", max(args.scws, args.latency_scws))
        branch_files = files[: args.scws]

        inline_s = cold_run(InlineExecutor(), branch_files, args.repeats, root / "inline")
        with DaskExecutor.local(args.workers, processes=True) as dask:
            # Warm up: workers import numpy and the units before the clock starts.
            warm = root / "warm"
            warm.mkdir()
            cold_run(dask, branch_files[:2], 1, warm)
            dask_s = cold_run(dask, branch_files, args.repeats, root / "dask")

        latency_files = files[: args.latency_scws]
        cache = fresh_cache(root / "latency")
        pipeline = Pipeline(cache, InlineExecutor())
        _, target = build(latency_files, 1)
        pipeline.run([target])
        samples = []
        for _ in range(args.latency_runs):
            started = time.perf_counter()
            graph, target = build(latency_files, 1)
            result = pipeline.run([target])
            entry = result[target]
            samples.append((time.perf_counter() - started) * 1000)
            assert result.computed == [] and entry.files
        n_nodes = len(graph)

    report: dict[str, Any] = {
        "benchmark": "pipeline",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "speedup": {
            "scws": args.scws,
            "workers": args.workers,
            "fft_repeats": args.repeats,
            "inline_s": round(inline_s, 3),
            "dask_s": round(dask_s, 3),
            "speedup": round(inline_s / dask_s, 3),
            "target": 1.7,
        },
        "cache_hit_latency_ms": {
            "scws": args.latency_scws,
            "nodes": n_nodes,
            "runs": args.latency_runs,
            "median": round(statistics.median(samples), 2),
            "p90": round(sorted(samples)[int(0.9 * len(samples)) - 1], 2),
            "max": round(max(samples), 2),
            "target": 50.0,
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_pipeline.json").write_text(json.dumps(report, indent=1))
    speed = report["speedup"]
    latency = report["cache_hit_latency_ms"]
    print(
        f"speed-up {speed['scws']} ScWs on {speed['workers']} workers: "
        f"inline {speed['inline_s']} s, dask {speed['dask_s']} s -> {speed['speedup']}x "
        f"(target >= 1.7x; {report['machine']['cpus']} CPUs, shared)"
    )
    print(
        f"cache-hit request ({latency['scws']} ScWs, {latency['nodes']} nodes): "
        f"median {latency['median']} ms, p90 {latency['p90']} ms, max {latency['max']} ms "
        "(target <= 50 ms)"
    )


if __name__ == "__main__":
    main()
