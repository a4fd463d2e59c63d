"""End-to-end product benchmarks with the real imaging units (issues 3, 7 and 8).

Run: ``python -m benchmarks.bench_products [--scw N] [--executor inline|local]``.
Writes ``benchmarks/results/bench_products.json``. Measures, on a simulated Crab field:

* cold image request (bin + decode + clean + mosaic + products) of N ScWs;
* the same request again (target: 0 units executed, products in ≤ 50 ms);
* the same ScWs in a new band (target: no event file read, ≤ 20 % of the cold time);
* a request overlapping the first by half its ScWs (only the new half computed);
* a SODA BAND re-derivation of the first product from the cache.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks._harness import write_result
from processing.isgri import ImageRequest, run_image_product
from processing.pipeline import CacheStore, Pipeline, ProductCache, create_executor
from processing.simulator import PointingPlan, Scenario, simulate_archive
from vo_service._context import ServiceContext
from vo_service._datalink import StoreProductSource
from vo_service._products import build_products
from vo_service.settings import Settings

CRAB = (83.63308, 22.01450)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scw", type=int, default=10)
    parser.add_argument("--duration", type=float, default=1000.0, help="ScW length (s)")
    parser.add_argument("--executor", default="inline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scenario = Scenario(
            name="bench",
            seed=9,
            pointings=[
                PointingPlan(
                    target="Crab",
                    start="2005-02-01T00:00:00",
                    n_scw=2 * args.scw,
                    scw_duration_s=args.duration,
                )
            ],
        )
        simulate_archive(scenario, root / "archive", workers=2)
        settings = Settings.load(
            data_dir=root / "var",
            archive_path=root / "archive",
            executor="inline",
            network_resolvers=False,
        )
        context = ServiceContext.build(settings)
        context.archive.ingest()
        from processing.instrument import load_instrument

        instrument = load_instrument(root / "archive")
        scws = [s.scw_id for s in context.archive.all()]
        first, overlap = scws[: args.scw], scws[args.scw // 2 : args.scw // 2 + args.scw]
        cache = ProductCache(CacheStore(settings.resolved_cache_path), context.engine)
        figures: dict[str, object] = {"n_scw": args.scw, "scw_duration_s": args.duration}
        with create_executor(args.executor, n_workers=2) as executor:
            pipeline = Pipeline(cache, executor)
            counts: dict[str, int] = {}

            def run(label: str, ids: list[str], e_min: float, e_max: float) -> float:
                progress_seen: list[object] = []
                request = ImageRequest(
                    ra=CRAB[0],
                    dec=CRAB[1],
                    radius_deg=20.0,
                    e_min=e_min,
                    e_max=e_max,
                    scw_ids=tuple(ids),
                )
                t0 = time.perf_counter()
                run_image_product(
                    pipeline, context.archive, instrument, request, progress=progress_seen.append
                )
                elapsed = time.perf_counter() - t0
                last = progress_seen[-1]
                counts[label] = int(last.computed)  # type: ignore[attr-defined]
                figures[label] = {
                    "seconds": elapsed,
                    "computed": last.computed,  # type: ignore[attr-defined]
                    "cached": last.cached,
                }  # type: ignore[attr-defined]
                return elapsed

            cold = run("cold", first, 20, 40)
            warm = run("repeat", first, 20, 40)
            band = run("new_band", first, 40, 80)
            half = run("overlap_half", overlap, 20, 40)
        figures["new_band_fraction_of_cold"] = band / cold
        # SODA BAND re-derivation through the service's product source (from the cache).
        params = {
            "request": {
                "product_type": "image",
                "ra": CRAB[0],
                "dec": CRAB[1],
                "src_name": None,
                "radius_deg": 20.0,
                "t1_ijd": None,
                "t2_ijd": None,
                "scw_list": first,
                "max_pointings": 500,
                "e1_kev": 20.0,
                "e2_kev": 40.0,
                "detection_threshold": 7.0,
                "time_bin_s": 1000.0,
                "selected_catalog": None,
                "instrument": "isgri",
                "osa_version": "current",
            },
            "ra": CRAB[0],
            "dec": CRAB[1],
            "resolver": None,
            "scw_ids": first,
            "user_catalog": None,
        }
        from processing.pipeline import CancelToken

        built = build_products(
            settings.model_dump_json(),
            params,
            token=CancelToken(),
            progress=lambda p: None,
            holder="bench",
            user=None,
        )
        source = StoreProductSource(settings)
        t0 = time.perf_counter()
        source.rederive(built[0][1].hash, band_kev=(60.0, 100.0))
        figures["soda_band_rederivation_s"] = time.perf_counter() - t0
    out = write_result("bench_products", figures)
    print(f"{args.scw} ScWs of {args.duration:.0f} s, executor {args.executor}")
    print(f"cold image        {cold:7.2f} s  ({counts['cold']} units)")
    print(
        f"same request      {warm * 1000:7.1f} ms ({counts['repeat']} units; "
        "target 0 units, <= 50 ms)"
    )
    print(
        f"new band          {band:7.2f} s  ({band / cold:.0%} of cold; target <= 20 %; "
        f"{counts['new_band']} units)"
    )
    print(f"half overlapping  {half:7.2f} s  ({counts['overlap_half']} units)")
    print(f"SODA BAND re-derivation {figures['soda_band_rederivation_s']:.2f} s")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
