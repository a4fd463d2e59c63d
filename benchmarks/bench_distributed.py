"""A cold mosaic on the distributed topology vs the embedded default (issue 18 items 2 and 4).

Run: ``python -m benchmarks.bench_distributed [--scw 50] [--skip-embedded]``. Writes
``benchmarks/results/bench_distributed[_<N>].json``.

The same image request (``--scw`` science windows of 300 s around the Crab, all selected) runs
cold, in the same run, on

* the distributed topology as separate processes (``vo_service._topology.LocalTopology``):
  PostgreSQL, ``dask scheduler`` + 2 ``dask worker`` (one thread each), one ``vo-service
  worker`` runner and ``vo-service serve --no-runner``;
* the embedded default: ``vo-service serve`` with SQLite and its own local Dask cluster of 2
  workers.

Before the timed request, each deployment runs a one-ScW image in another band (every process
then has imported and built what a job needs; the timed request finds at most that ScW's
binning cached, in both). Measured: wall time from the POST to COMPLETED, and the peak
resident memory (sampled every 0.25 s, each process with its children) of the runner, of each
Dask worker, and of the embedded server. The request is larger than the per-job limit
(``max_pointings`` = 50) from 51 ScWs on, so ``--scw 1000`` also measures the sharded run
(20 shards, then one mosaic of 1,000 images).
On a 2-core machine both deployments share the same two cores, so the ratio measures the cost of
the separate processes, not a speed-up; the load average is recorded with the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import requests
from sqlalchemy import create_engine, text

from benchmarks._harness import write_result
from processing.simulator import PointingPlan, Scenario, simulate_archive
from vo_service._topology import LocalTopology, service_environment
from vo_service.testing import serving

POSTGRES_ADMIN = os.environ.get(
    "VO_SERVICE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def request(n_scw: int) -> dict[str, str]:
    return {
        "product_type": "image",
        "RA": "83.633",
        "DEC": "22.014",
        "radius": "20",
        "max_pointings": str(n_scw),
        "E1_keV": "20",
        "E2_keV": "40",
        "PHASE": "RUN",
    }


class PeakMemory:
    """Peak RSS (MiB) of named process trees, sampled in a thread."""

    def __init__(self, pids: dict[str, int], interval: float = 0.25) -> None:
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.interval = interval

    @staticmethod
    def _tree_rss(pid: int) -> float:
        try:
            root = psutil.Process(pid)
            total = root.memory_info().rss
            for child in root.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    continue
        except psutil.Error:
            return 0.0
        return total / 1024**2

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], self._tree_rss(pid))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def warm_up(base: str, scw_id: str, timeout: float) -> float:
    """One single-ScW image in another band: every process has imported and built what a job
    needs (runner slots, Dask workers), and the timed request finds at most that ScW's
    binning in the cache (the same in both deployments)."""
    params = {"product_type": "image", "scw_list": scw_id, "E1_keV": "30", "E2_keV": "60"}
    return run_job(base, {**params, "RA": "83.633", "DEC": "22.014", "PHASE": "RUN"}, timeout)


def run_job(base: str, params: dict[str, str], timeout: float) -> float:
    """POST a job and wait for COMPLETED; seconds from the POST."""
    t0 = time.perf_counter()
    created = requests.post(f"{base}/async", data=params, allow_redirects=False, timeout=60)
    created.raise_for_status()
    job = created.headers["Location"].rsplit("/", 1)[1]
    while True:
        phase = requests.get(f"{base}/async/{job}/phase", timeout=60).text.strip()
        if phase in {"COMPLETED", "ERROR", "ABORTED"}:
            break
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"job {job} still {phase} after {timeout:.0f} s")
        time.sleep(0.25)
    elapsed = time.perf_counter() - t0
    if phase != "COMPLETED":
        raise RuntimeError(f"job {job} ended {phase}: {requests.get(f'{base}/async/{job}').text}")
    return elapsed


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"bench_dist_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def distributed(
    archive: Path, work: Path, n_scw: int, timeout: float, first_scw: str, worker_memory: str
) -> dict[str, Any]:
    data = work / "distributed" / "data"
    shutil.copytree(archive, data / "archive")
    cli = str(Path(sys.executable).parent / "vo-service")
    with postgres_database() as url:
        for args in (["db", "upgrade"], ["archive", "ingest"]):
            subprocess.run(
                [cli, *args], env=service_environment(data, url), check=True, capture_output=True
            )
        with LocalTopology(
            data, url, dask_workers=2, runners=1, worker_memory=worker_memory
        ) as topo:
            pids = {p.name: p.pid for p in topo.processes if p.name != "web"}
            warm = warm_up(topo.base_url, first_scw, timeout)
            error = None
            t0 = time.perf_counter()
            with PeakMemory(pids) as memory:
                try:
                    seconds = run_job(topo.base_url, request(n_scw), timeout)
                except RuntimeError as exc:  # recorded: e.g. a worker over its memory limit
                    seconds, error = time.perf_counter() - t0, str(exc)[:2000]
            logs = topo.data_dir / "logs"
            restarts = {
                p.stem: p.read_text(errors="replace").count("exceeded 95% memory budget")
                for p in sorted(logs.glob("dask-worker-*.log"))
            }
            return {
                "seconds": seconds,
                "error": error,
                "memory_restarts": restarts,
                "warm_up_s": warm,
                "peak_rss_mib": memory.peak,
                "load_after": os.getloadavg(),
            }


def embedded(
    archive: Path, work: Path, n_scw: int, timeout: float, first_scw: str
) -> dict[str, Any]:
    data = work / "embedded" / "var"
    shutil.copytree(archive, data / "archive")
    env = {"VO_SERVICE_EXECUTOR": "local", "VO_SERVICE_DASK_WORKERS": "2"}
    with serving(data, env=env) as base:
        server = next(
            p
            for p in psutil.process_iter(["cmdline", "environ"])
            if "serve" in (p.info["cmdline"] or [])
            and (p.info["environ"] or {}).get("VO_SERVICE_DATA_DIR") == str(data)
        )
        warm = warm_up(base, first_scw, timeout)
        with PeakMemory({"serve (runner, workers)": server.pid}) as memory:
            seconds = run_job(base, request(n_scw), timeout)
        return {
            "seconds": seconds,
            "warm_up_s": warm,
            "peak_rss_mib": memory.peak,
            "load_after": os.getloadavg(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scw", type=int, default=50, help="science windows in the mosaic")
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--timeout", type=float, default=7200.0)
    parser.add_argument("--worker-memory", default="3GiB", help="memory limit of a Dask worker")
    args = parser.parse_args()
    # SIGTERM ends the run through the context managers: no process of the topology is left.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        scenario = Scenario(
            name="crabfield",
            seed=18,
            pointings=[
                PointingPlan(
                    target="Crab", start="2004-03-01T00:00:00", n_scw=args.scw, scw_duration_s=300
                )
            ],
        )
        simulation = simulate_archive(scenario, work / "archive", workers=os.cpu_count() or 1)
        archive, first = simulation.root, sorted(simulation.scw_ids)[0]
        simulated = time.perf_counter() - t0
        load_before = os.getloadavg()
        result: dict[str, Any] = {
            "scw": args.scw,
            "simulate_s": simulated,
            "load_before": load_before,
            "worker_memory_limit": args.worker_memory,
            "distributed": distributed(
                archive, work, args.scw, args.timeout, first, args.worker_memory
            ),
        }
        if not args.skip_embedded:
            result["embedded"] = embedded(archive, work, args.scw, args.timeout, first)
            result["ratio_distributed_over_embedded"] = (
                result["distributed"]["seconds"] / result["embedded"]["seconds"]
            )
    name = "bench_distributed" if args.scw == 50 else f"bench_distributed_{args.scw}"
    path = write_result(name, result)
    d = result["distributed"]
    print(f"{args.scw} ScWs, cold image (load before {load_before[0]:.2f})")
    print(f"  distributed (2 Dask workers, 1 runner): {d['seconds']:.1f} s")
    if d["error"]:
        print(f"    FAILED: {d['error'][:300]} (memory restarts {d['memory_restarts']})")
    for proc, mib in d["peak_rss_mib"].items():
        print(f"    peak RSS {proc}: {mib:.0f} MiB")
    if "embedded" in result:
        e = result["embedded"]
        print(f"  embedded default (local cluster of 2): {e['seconds']:.1f} s")
        for proc, mib in e["peak_rss_mib"].items():
            print(f"    peak RSS {proc}: {mib:.0f} MiB")
        print(f"  ratio distributed / embedded: {result['ratio_distributed_over_embedded']:.2f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
