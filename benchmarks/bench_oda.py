"""The ODA front with the real oda_api client: ``python -m benchmarks.bench_oda [--n 10]``.

On a simulated archive (``--scw`` science windows on the Crab) served by ``vo-service serve``:

* **cached repeat**: after one cold request, the client's whole ``get_product`` call for the
  same image, spectrum and light curve (its ``/api/par-names`` check, ``/run_analysis`` answered
  at creation, the products decoded into a ``DataCollection``). The client sleeps 1 s after
  every answer that is not final; an answer at creation is final, so it does not sleep.
  Target (issue 15): <= 1.5 s for the image.
* **poll overhead**: with the runner off (``serve --no-runner``) a new request stays QUEUED;
  each poll the client would send (``query_status=submitted`` and its ``job_id``) is timed
  against a GET of the same job's UWS document at ``/async/{id}``.

Writes ``benchmarks/results/bench_oda.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from oda_api.api import DispatcherAPI

from benchmarks.bench_uws_support import summary_ms, write_result
from processing.simulator import Scenario, simulate_archive
from vo_service.testing import serving

CRAB = {"RA": 83.63308, "DEC": 22.0145, "radius": 20.0}
REQUESTS: dict[str, dict[str, Any]] = {
    "isgri_image": {"E1_keV": 20.0, "E2_keV": 40.0, "osa_version": "OSA10.2", **CRAB},
    "isgri_spectrum": {"src_name": "Crab", **CRAB},
    "isgri_lc": {"src_name": "Crab", "time_bin": 300, **CRAB},
}


def _get_product(base: str, product: str) -> tuple[float, int]:
    """One ``get_product`` call: (seconds, number of ``/run_analysis`` requests it made)."""
    disp = DispatcherAPI(url=f"{base}/oda", instrument="isgri")
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the client prints exit_status.comment
        data = disp.get_product(
            instrument="isgri",
            product=product,
            product_type="Real",
            silent=True,
            **REQUESTS[product],
        )
    elapsed = time.perf_counter() - start
    if data is None or not data._p_list:
        raise RuntimeError(f"{product}: no products")
    return elapsed, len(disp.request_stats)


def cached_repeats(base: str, n: int) -> dict[str, Any]:
    """Cold request, then ``n`` timed repeats, per product."""
    out: dict[str, Any] = {}
    for product in REQUESTS:
        cold, _ = _get_product(base, product)
        runs = [_get_product(base, product) for _ in range(n)]
        out[product] = {
            "cold_s": round(cold, 2),
            "repeat": summary_ms([t for t, _ in runs]),
            # One /run_analysis request: answered at creation, no poll, no client sleep.
            "answered_at_first_request": sum(1 for _, k in runs if k == 1),
        }
    return out


def poll_overhead(base: str, n: int) -> dict[str, Any]:
    """Time the client's poll of a QUEUED job against the job's UWS document."""
    disp = DispatcherAPI(url=f"{base}/oda", instrument="isgri", wait=False)
    disp.get_product(
        instrument="isgri",
        product="isgri_image",
        silent=True,
        **{**REQUESTS["isgri_image"], "E1_keV": 30.0, "E2_keV": 80.0},
    )
    if disp.query_status != "submitted":
        raise RuntimeError(f"expected a queued job, got {disp.query_status}")
    job_url = disp.response_json["job_monitor"]["uws_job"]
    payload = disp.parameters_dict_payload  # what the next poll sends
    session = requests.Session()
    facade: list[float] = []
    uws: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        answer = session.get(f"{base}/oda/run_analysis", params=payload).json()
        t1 = time.perf_counter()
        session.get(job_url).raise_for_status()
        t2 = time.perf_counter()
        if answer["query_status"] != "submitted":
            raise RuntimeError(answer["query_status"])
        facade.append(t1 - t0)
        uws.append(t2 - t1)
    f, u = summary_ms(facade), summary_ms(uws)
    return {
        "facade_poll": f,
        "uws_job_document": u,
        "overhead_p50_ms": round(f["p50_ms"] - u["p50_ms"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scw", type=int, default=4)
    parser.add_argument("--n", type=int, default=10)
    args = parser.parse_args()
    logging.getLogger("oda_api").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "var"
        scenario = Scenario.model_validate(
            {
                "name": "bench-oda",
                "seed": 15,
                "pointings": [
                    {
                        "target": "Crab",
                        "start": "2004-03-01T00:00:00",
                        "n_scw": args.scw,
                        "scw_duration_s": 300.0,
                    }
                ],
            }
        )
        simulate_archive(scenario, data_dir / "archive")
        os.environ["HOME"] = tmp  # no ODA token discovered from the user's files
        result: dict[str, Any] = {"n_scw": args.scw, "load_average_before": os.getloadavg()}
        with serving(data_dir, "--threads", "4") as base:
            result["cached_repeat"] = cached_repeats(base, args.n)
        with serving(data_dir, "--threads", "4", "--no-runner") as base:
            result["poll"] = poll_overhead(base, max(args.n, 20))
        result["load_average_after"] = os.getloadavg()
    write_result("bench_oda", result)
    for product, r in result["cached_repeat"].items():
        rep = r["repeat"]
        print(
            f"{product}: cold {r['cold_s']} s; cached repeat (client get_product) p50 "
            f"{rep['p50_ms']} ms, p90 {rep['p90_ms']} ms (n={rep['n']}, "
            f"{r['answered_at_first_request']} answered at the first request)"
        )
    poll = result["poll"]
    print(
        f"poll of a queued job: facade p50 {poll['facade_poll']['p50_ms']} ms, /async job "
        f"document p50 {poll['uws_job_document']['p50_ms']} ms, overhead "
        f"{poll['overhead_p50_ms']} ms"
    )
    print(f"load average {result['load_average_before']} -> {result['load_average_after']}")


if __name__ == "__main__":
    main()
