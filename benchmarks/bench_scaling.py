"""Cold mosaics of 5 to 100 science windows: is the time linear in the ScW count? (issue 21)

Run: ``python -m benchmarks.bench_scaling [--sizes 5,10,25,50,100] [--workers 2]``.
Writes ``benchmarks/results/bench_scaling.json``.

One Crab field of ``max(sizes)`` ScWs (1000 s each) is simulated once; each size then runs
cold (a fresh database and cache folder) on the same Dask ``LocalCluster`` of ``--workers``
workers, warmed up as the service warms its cluster, over the first N ScWs. The times are
fitted with t = a + b·N (least squares); the summary prints the per-ScW slope, the fixed part
and each size's deviation from the line, and the load average (2 shared cores: compare ratios
within one run, not absolute times across runs).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._harness import write_result
from processing.instrument import load_instrument
from processing.isgri import ImageRequest, run_image_product, warm_imaging_model
from processing.pipeline import CacheStore, Pipeline, ProductCache, create_executor
from processing.simulator import PointingPlan, Scenario, simulate_archive
from vo_service._context import ServiceContext
from vo_service.settings import Settings

CRAB = (83.63308, 22.01450)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="5,10,25,50,100")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=1000.0, help="ScW length (s)")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scenario = Scenario(
            name="scaling",
            seed=21,
            pointings=[
                PointingPlan(
                    target="Crab",
                    start="2005-02-01T00:00:00",
                    n_scw=max(sizes),
                    scw_duration_s=args.duration,
                )
            ],
        )
        t0 = time.perf_counter()
        simulate_archive(scenario, root / "archive", workers=args.workers)
        print(f"simulated {max(sizes)} ScWs in {time.perf_counter() - t0:.0f} s")
        instrument = load_instrument(root / "archive")
        times: list[float] = []
        with create_executor("local", n_workers=args.workers) as executor:
            executor.client.run(warm_imaging_model, str(root / "archive"))  # type: ignore[attr-defined]
            for n in sizes:
                settings = Settings.load(
                    data_dir=root / f"var{n}",
                    archive_path=root / "archive",
                    executor="inline",
                    network_resolvers=False,
                )
                context = ServiceContext.build(settings)
                context.archive.ingest()
                scws = sorted(s.scw_id for s in context.archive.all())[:n]
                request = ImageRequest(
                    ra=CRAB[0],
                    dec=CRAB[1],
                    radius_deg=20.0,
                    e_min=20.0,
                    e_max=40.0,
                    scw_ids=tuple(scws),
                    max_scw=n,
                )
                cache = ProductCache(CacheStore(settings.resolved_cache_path), context.engine)
                pipeline = Pipeline(cache, executor)
                t0 = time.perf_counter()
                run_image_product(pipeline, context.archive, instrument, request)
                times.append(time.perf_counter() - t0)
                print(f"{n:4d} ScWs cold: {times[-1]:6.2f} s")
                context.engine.dispose()
                shutil.rmtree(root / f"var{n}", ignore_errors=True)
    n_arr = np.array(sizes, dtype=float)
    t_arr = np.array(times)
    slope, fixed = np.polyfit(n_arr, t_arr, 1)
    deviation = (t_arr - (fixed + slope * n_arr)) / t_arr
    figures = {
        "workers": args.workers,
        "scw_duration_s": args.duration,
        "sizes": sizes,
        "cold_s": times,
        "per_scw_s": float(slope),
        "fixed_s": float(fixed),
        "deviation_from_line": [float(d) for d in deviation],
    }
    path = write_result("bench_scaling", figures)
    print(
        f"t = {fixed:.2f} s + {slope:.3f} s x N; largest deviation from the line "
        f"{np.max(np.abs(deviation)):.0%}; wrote {path}"
    )


if __name__ == "__main__":
    main()
