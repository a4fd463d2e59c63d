"""Cold mosaic of a benchmark field (issue 4): request → image, catalog and preview.

Run: ``python -m benchmarks.bench_mosaic [--scenario crab] [--archive DIR] [--workers 2]``.
Writes ``benchmarks/results/bench_mosaic.json``.

The field is simulated once into ``--archive`` (default ``/tmp/vo-bench/<scenario>``) and
reused. Each measured run starts from an empty product cache, on a Dask ``LocalCluster`` that
was started beforehand (the service keeps its cluster for its lifetime), so "cold" contains
everything a first request pays: reading and binning every ScW's events, decoding and
cleaning, the mosaic and its search, and writing the products. As in the service, the workers
build the imaging model when the cluster starts (``--no-warm``: the first run pays it).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks._harness import write_result
from processing.instrument import load_instrument
from processing.isgri import ImageRequest, run_image_product, warm_imaging_model
from processing.pipeline import CacheStore, Pipeline, ProductCache, create_executor
from processing.simulator import load_scenario, simulate_archive
from vo_service._context import ServiceContext
from vo_service.settings import Settings

FIELDS = {
    # scenario: (ra, dec, radius, e_min, e_max, threshold)
    "crab": (83.63308, 22.01450, 15.0, 20.0, 40.0, 7.5),
    "gx5-1": (270.2842, -25.0792, 15.0, 20.0, 30.0, 7.0),
    "v404": (306.0159, 33.8672, 15.0, 25.0, 40.0, 5.0),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", default="crab", choices=sorted(FIELDS))
    parser.add_argument("--archive", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--executor", default="local", choices=["local", "inline"])
    parser.add_argument(
        "--no-warm", dest="warm", action="store_false", help="do not warm the workers up first"
    )
    args = parser.parse_args()
    archive = args.archive or Path(tempfile.gettempdir()) / "vo-bench" / args.scenario
    if not (archive / "scw").is_dir():
        t0 = time.perf_counter()
        simulate_archive(load_scenario(args.scenario), archive, workers=args.workers)
        print(f"simulated {args.scenario} in {time.perf_counter() - t0:.1f} s")
    ra, dec, radius, e_min, e_max, threshold = FIELDS[args.scenario]
    figures: dict[str, object] = {"scenario": args.scenario, "workers": args.workers}
    with tempfile.TemporaryDirectory() as tmp:

        def context_for(name: str) -> ServiceContext:
            settings = Settings.load(
                data_dir=Path(tmp) / name,
                archive_path=archive,
                executor="inline",
                network_resolvers=False,
            )
            context = ServiceContext.build(settings)
            context.archive.ingest()
            return context

        instrument = load_instrument(archive)
        request = ImageRequest(
            ra=ra,
            dec=dec,
            radius_deg=radius,
            e_min=e_min,
            e_max=e_max,
            threshold_mosaic=threshold,
        )
        t0 = time.perf_counter()
        with create_executor(args.executor, n_workers=args.workers) as executor:
            figures["executor_start_s"] = time.perf_counter() - t0
            if args.warm and args.executor == "local":
                # As the service's engine does at start: every worker builds the imaging model.
                t0 = time.perf_counter()
                executor.client.run(warm_imaging_model, str(archive))  # type: ignore[attr-defined]
                figures["worker_warm_up_s"] = time.perf_counter() - t0
            runs = []
            for k in range(args.runs):
                # A fresh database and cache folder: nothing of an earlier run is reused.
                context = context_for(f"run{k}")
                store = CacheStore(context.settings.resolved_cache_path)
                cache = ProductCache(store, context.engine)
                pipeline = Pipeline(cache, executor)
                t0 = time.perf_counter()
                products = run_image_product(pipeline, context.archive, instrument, request)
                elapsed = time.perf_counter() - t0
                runs.append(elapsed)
                meta = products[0].metadata
                print(f"cold run {k + 1}: {meta['n_scw']} ScWs in {elapsed:.1f} s")
                context.engine.dispose()
                shutil.rmtree(Path(tmp) / f"run{k}", ignore_errors=True)
        figures.update(
            {
                "n_scw": meta["n_scw"],
                "cold_first_s": runs[0],
                "cold_warm_workers_s": runs[1:],
                "target_s": 30.0,
            }
        )
    path = write_result("bench_mosaic", figures)
    print(f"executor start {figures['executor_start_s']:.1f} s; wrote {path}")


if __name__ == "__main__":
    main()
