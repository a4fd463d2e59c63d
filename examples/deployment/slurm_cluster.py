"""A Dask cluster on SLURM for the job runners (dask-jobqueue), as docs/distributed.md explains.

Run it on a host the compute nodes can reach (a login or service node), in the service's Python
environment with ``dask-jobqueue`` installed::

    python examples/deployment/slurm_cluster.py --data-root /shared/vo --workers 8

It starts the Dask scheduler here, submits one SLURM job per Dask worker and prints the
scheduler address; give that address to the runners (``VO_SERVICE_EXECUTOR=dask``,
``VO_SERVICE_DASK_SCHEDULER=tcp://host:8786``) and keep the script running. The workers need
only the shared data root, mounted at the same path as on the runners, and the same Python
environment; they never open the database.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

#: glibc keeps arrays up to this size on the heap (see processing/pipeline/_dask.py).
MALLOC_MMAP_THRESHOLD = 64 * 1024**2


def slurm_cluster(
    *,
    python: str,
    queue: str | None = None,
    account: str | None = None,
    memory: str = "8GiB",
    walltime: str = "12:00:00",
    host: str | None = None,
    port: int = 8786,
    **options: Any,
) -> Any:
    """A ``dask_jobqueue.SLURMCluster`` shaped for the pipeline's units.

    One single-threaded worker process per SLURM job (units are single-threaded and a busy
    worker is restarted by its nanny on a cancel), node-local scratch, and the allocator
    setting of the service's own local cluster.

    Parameters
    ----------
    python
        The interpreter of the service's environment on the compute nodes.
    queue, account
        SLURM partition and account.
    memory
        Memory of each job (and the worker's limit).
    walltime
        Job lifetime; the cluster submits new jobs as old ones end when it adapts.
    host, port
        Where the scheduler listens (an interface the compute nodes reach).
    """
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(
        cores=1,
        processes=1,
        memory=memory,
        walltime=walltime,
        queue=queue,
        account=account,
        python=python,
        local_directory="$TMPDIR",
        job_script_prologue=[f"export MALLOC_MMAP_THRESHOLD_={MALLOC_MMAP_THRESHOLD}"],
        scheduler_options={"host": host or "", "port": port},
        **options,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="SLURM jobs (Dask workers)")
    parser.add_argument("--queue", default=None, help="SLURM partition")
    parser.add_argument("--account", default=None, help="SLURM account")
    parser.add_argument("--memory", default="8GiB", help="memory per worker")
    parser.add_argument("--host", default=None, help="scheduler interface (default: all)")
    parser.add_argument("--port", type=int, default=8786, help="scheduler port")
    args = parser.parse_args(argv)
    cluster = slurm_cluster(
        python=sys.executable,
        queue=args.queue,
        account=args.account,
        memory=args.memory,
        host=args.host,
        port=args.port,
    )
    cluster.scale(jobs=args.workers)
    print(f"VO_SERVICE_DASK_SCHEDULER={cluster.scheduler_address}", flush=True)
    try:
        while True:
            time.sleep(60)
    except KeyboardInterrupt:
        cluster.close()


if __name__ == "__main__":
    main()
