"""A Dask cluster on Kubernetes for the job runners (dask-kubernetes' operator), as
docs/distributed.md explains.

With the Dask operator installed in the cluster and ``dask-kubernetes`` here::

    python examples/deployment/kubernetes_cluster.py --image registry/codedmask-vo-service:0.1.0 \\
        --claim vo-data --workers 8 > daskcluster.yaml
    kubectl apply -f daskcluster.yaml

writes the ``DaskCluster`` resource (``--apply`` creates it through ``KubeCluster``). The
scheduler's service, ``tcp://vo-dask-scheduler.<namespace>:8786``, is what the runners get as
``VO_SERVICE_DASK_SCHEDULER``. Workers run the service's image with the shared data root (a
ReadWriteMany volume claim) mounted at ``/data``, as the runners mount it; no database
settings reach them.
"""

from __future__ import annotations

import argparse
from typing import Any

import yaml

#: glibc keeps arrays up to this size on the heap (see processing/pipeline/_dask.py).
MALLOC_MMAP_THRESHOLD = 64 * 1024**2


def cluster_spec(
    *,
    image: str,
    claim: str,
    name: str = "vo-dask",
    workers: int = 2,
    memory: str = "8Gi",
    cpu: str = "1",
    data_root: str = "/data",
) -> dict[str, Any]:
    """The ``DaskCluster`` resource: scheduler and single-threaded workers from ``image``, the
    workers with the volume claim ``claim`` mounted at ``data_root``."""
    from dask_kubernetes.operator import make_cluster_spec

    spec: dict[str, Any] = make_cluster_spec(
        name=name,
        image=image,
        n_workers=workers,
        resources={"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}},
        env={"MALLOC_MMAP_THRESHOLD_": str(MALLOC_MMAP_THRESHOLD)},
    )
    pod = spec["spec"]["worker"]["spec"]
    container = pod["containers"][0]
    container["args"] = [
        "dask",
        "worker",
        "--name",
        "$(DASK_WORKER_NAME)",
        "--nthreads",
        "1",
        "--memory-limit",
        memory.replace("Gi", "GiB"),
        "--dashboard-address",
        "8788",
    ]
    container["volumeMounts"] = [{"name": "data", "mountPath": data_root}]
    pod["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    # The scheduler holds task metadata only: no data volume, a small share of a node.
    scheduler = spec["spec"]["scheduler"]["spec"]["containers"][0]
    scheduler["resources"] = {"requests": {"cpu": "500m", "memory": "1Gi"}}
    return spec


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="the service's image")
    parser.add_argument("--claim", required=True, help="volume claim of the shared data root")
    parser.add_argument("--name", default="vo-dask")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory", default="8Gi", help="memory per worker")
    parser.add_argument("--apply", action="store_true", help="create it with KubeCluster")
    args = parser.parse_args(argv)
    spec = cluster_spec(
        image=args.image, claim=args.claim, name=args.name, workers=args.workers, memory=args.memory
    )
    if not args.apply:
        print(yaml.safe_dump(spec, sort_keys=False))
        return
    from dask_kubernetes.operator import KubeCluster

    cluster = KubeCluster(custom_cluster_spec=spec, shutdown_on_close=False)
    print(f"VO_SERVICE_DASK_SCHEDULER={cluster.scheduler_address}")


if __name__ == "__main__":
    main()
