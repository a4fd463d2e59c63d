"""The SLURM and Kubernetes examples of docs/distributed.md build their configuration objects
offline (issue 18 item 3): dask-jobqueue's SLURM job script, dask-kubernetes' DaskCluster
resource. Submitting jobs or creating resources needs a real SLURM or Kubernetes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "deployment"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_slurm_cluster_submits_single_threaded_workers_of_the_service_environment() -> None:
    pytest.importorskip("dask_jobqueue", reason="dask-jobqueue (test extra) is not installed")
    example = _load("slurm_cluster")
    cluster = example.slurm_cluster(
        python="/opt/vo/venv/bin/python",
        queue="compute",
        account="vo",
        memory="6GiB",
        host="127.0.0.1",
        port=0,
    )
    try:
        script = cluster.job_script()
        address = cluster.scheduler_address
    finally:
        cluster.close()
    assert address.startswith("tcp://127.0.0.1:")
    assert "#SBATCH -p compute" in script and "#SBATCH -A vo" in script
    assert "#SBATCH --cpus-per-task=1" in script
    worker = next(line for line in script.splitlines() if "dask_worker" in line)
    assert worker.startswith("/opt/vo/venv/bin/python -m distributed.cli.dask_worker " + address)
    assert "--nthreads 1" in worker and "--nanny" in worker
    assert "--local-directory $TMPDIR" in worker  # node-local scratch, not the shared root
    assert f"export MALLOC_MMAP_THRESHOLD_={example.MALLOC_MMAP_THRESHOLD}" in script
    assert "VO_SERVICE_" not in script  # no service setting (no database) reaches a worker


def test_kubernetes_cluster_resource_mounts_the_shared_data_root(capsys) -> None:
    pytest.importorskip("dask_kubernetes", reason="dask-kubernetes (test extra) is not installed")
    example = _load("kubernetes_cluster")
    example.main(
        ["--image", "registry.example.org/vo:0.1.0", "--claim", "vo-data", "--workers", "3"]
    )
    resource = yaml.safe_load(capsys.readouterr().out)
    assert resource["apiVersion"] == "kubernetes.dask.org/v1"
    assert resource["kind"] == "DaskCluster"
    worker = resource["spec"]["worker"]
    assert worker["replicas"] == 3
    container = worker["spec"]["containers"][0]
    assert container["image"] == "registry.example.org/vo:0.1.0"
    assert container["args"][:2] == ["dask", "worker"]
    assert container["args"][container["args"].index("--nthreads") + 1] == "1"
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert worker["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "vo-data"}}
    ]
    names = {e["name"] for e in container["env"]}
    assert "MALLOC_MMAP_THRESHOLD_" in names
    assert not any(n.startswith("VO_SERVICE_") for n in names)
    scheduler = resource["spec"]["scheduler"]
    assert scheduler["service"]["ports"][0]["port"] == 8786
    assert "volumes" not in scheduler["spec"]
