"""Spectra and light-curve benchmark (PIF fitting).

Run ``python -m benchmarks.bench_spectra [--scws 50] [--scw-seconds 300] [--rounds 2]
[--workers 1]`` (``--workers 2``: the spectrum on a Dask ``LocalCluster``).
Writes ``benchmarks/results/bench_spectra.json`` and prints a summary.

* spectrum: 3 sources over ``scws`` science windows from cached shadowgrams: the binned cubes
  (``isgri.bin_scw``) are computed first; the timed run computes the PIFs, fits 127 channels
  per ScW, stacks, builds the RMF/ARF and writes every product (inline executor, one process).
  The fit cost does not depend on the number of events, so short simulated ScWs are enough.
* light curve: 100 s bins over one 2000 s ScW, 20-40 keV, 2 sources, from the event file
  (read, time binning, PIFs, per-bin fits, products); the cube for the attitude is cached.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from processing.archive import ArchiveIndex
from processing.instrument import load_instrument
from processing.isgri import (
    BinScienceWindow,
    CatalogSource,
    LightCurveRequest,
    SpectrumRequest,
    build_lightcurve_graph,
    build_spectrum_graph,
    run_lightcurve_product,
    run_spectrum_product,
)
from processing.pipeline import CacheStore, DaskExecutor, InlineExecutor, Pipeline, ProductCache
from processing.simulator import Scenario, simulate_archive
from vo_service.db import make_engine, upgrade_database

RESULTS = Path(__file__).parent / "results"
SOURCES = (
    CatalogSource("Crab", 83.633, 22.0145),
    CatalogSource("A0535+262", 84.7274, 26.3158),
    CatalogSource("Geminga-like", 86.0, 20.5),
)


def _archive(folder: Path, n_scw: int, seconds: float) -> tuple[ArchiveIndex, Any, Pipeline]:
    scenario = Scenario.model_validate(
        {
            "name": "bench",
            "seed": 3,
            "catalog_sources": False,
            "sources": [
                {"name": s.name, "ra": s.ra, "dec": s.dec, "flux_mcrab": f}
                for s, f in zip(SOURCES, (1000.0, 100.0, 30.0), strict=True)
            ],
            "pointings": [
                {
                    "target": "Crab",
                    "start": 53600.0,
                    "n_scw": n_scw,
                    "pattern": "5x5",
                    "scw_duration_s": seconds,
                }
            ],
        }
    )
    simulate_archive(scenario, folder, workers=2)
    engine = make_engine(f"sqlite:///{folder / 'index.sqlite'}")
    upgrade_database(engine)
    index = ArchiveIndex(engine, folder)
    index.ingest()
    cache = ProductCache(CacheStore(folder / "cache", durable=False), engine)
    return index, load_instrument(folder), Pipeline(cache, InlineExecutor())


def bench_spectrum(
    folder: Path, n_scw: int, seconds: float, rounds: int, workers: int
) -> dict[str, Any]:
    index, instrument, pipeline = _archive(folder / "spec", n_scw, seconds)
    if workers > 1:
        executor = DaskExecutor.local(workers)
        pipeline = Pipeline(pipeline.cache, executor)
    request = SpectrumRequest(sources=SOURCES, time_range=(0.0, 1e5))
    graph, _ = build_spectrum_graph(index, instrument, request)
    cubes = [n for n in graph if n.unit.name == BinScienceWindow.name]
    started = time.perf_counter()
    pipeline.run(cubes)
    binning = time.perf_counter() - started
    times = []
    cpu = []
    for r in range(rounds):
        # A new sky model each round (one more decimal of RA) forces new PIFs and fits while
        # the cubes stay cached.
        sky = tuple(CatalogSource(s.name, s.ra + 1e-6 * (r + 1), s.dec) for s in SOURCES)
        req = SpectrumRequest(sources=sky, time_range=(0.0, 1e5))
        started, cpu0 = time.perf_counter(), time.process_time()
        product = run_spectrum_product(pipeline, index, instrument, req)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu0)
    started = time.perf_counter()
    run_spectrum_product(pipeline, index, instrument, req)
    cached = time.perf_counter() - started
    if workers > 1:
        executor.close()
    return {
        "executor": f"dask local, {workers} workers" if workers > 1 else "inline",
        "scws": n_scw,
        "sources": len(SOURCES),
        "binning_cold_s": binning,
        "spectrum_from_cached_cubes_s": times,
        "best_s": min(times),
        "cpu_s": cpu,
        "fully_cached_s": cached,
        "files": len(product.files),
    }


def bench_lightcurve(folder: Path, rounds: int) -> dict[str, Any]:
    index, instrument, pipeline = _archive(folder / "lc", 1, 2000.0)
    base = LightCurveRequest(sources=SOURCES[:2], time_range=(0.0, 1e5), time_bin_s=100.0)
    graph, _ = build_lightcurve_graph(index, instrument, base)
    pipeline.run([n for n in graph if n.unit.name == BinScienceWindow.name])
    times = []
    cpu = []
    for r in range(rounds):
        # A different bin size each round: re-reads and re-bins the events, refits everything.
        req = LightCurveRequest(
            sources=SOURCES[:2], time_range=(0.0, 1e5), time_bin_s=100.0 + 1e-6 * r
        )
        started, cpu0 = time.perf_counter(), time.process_time()
        product = run_lightcurve_product(pipeline, index, instrument, req)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu0)
    return {
        "bin_s": 100.0,
        "scw_seconds": 2000.0,
        "times_s": times,
        "best_s": min(times),
        "cpu_s": cpu,
        "files": len(product.files),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scws", type=int, default=50)
    parser.add_argument("--scw-seconds", type=float, default=300.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="> 1: a Dask LocalCluster")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spectrum = bench_spectrum(Path(tmp), args.scws, args.scw_seconds, args.rounds, args.workers)
        lightcurve = bench_lightcurve(Path(tmp), args.rounds)
    result = {
        "benchmark": "bench_spectra",
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "spectrum": spectrum,
        "lightcurve": lightcurve,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_spectra.json").write_text(json.dumps(result, indent=1))
    rounds = [round(t, 2) for t in spectrum["spectrum_from_cached_cubes_s"]]
    print(
        f"[{spectrum['executor']}] spectrum, {spectrum['sources']} sources x "
        f"{spectrum['scws']} ScWs from cached cubes: "
        f"{spectrum['best_s']:.2f} s wall (rounds {rounds}; CPU of this process "
        f"{[round(t, 2) for t in spectrum['cpu_s']]} s); fully cached "
        f"{spectrum['fully_cached_s']:.2f} s; cold binning {spectrum['binning_cold_s']:.1f} s"
    )
    print(
        f"light curve, 100 s bins over one 2000 s ScW: {lightcurve['best_s']:.2f} s "
        f"(rounds {[round(t, 2) for t in lightcurve['times_s']]}, CPU "
        f"{[round(t, 2) for t in lightcurve['cpu_s']]} s); load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
