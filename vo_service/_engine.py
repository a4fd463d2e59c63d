"""The execution engine of the runner host.

With ``executor = local`` the process hosting the job runner starts one Dask ``LocalCluster``
for its lifetime, and job handlers (in the runner's worker processes) connect to it by address,
exactly as they would to a cluster's scheduler (``executor = dask``). The runner is then the only
Dask client, as the design asks, and a cluster costs nothing per job. With ``executor = dask``
a starting runner has the cluster's workers build the imaging model of its archive, as the
local cluster's are.
"""

from __future__ import annotations

import logging

from processing.isgri import warm_imaging_model
from processing.pipeline import DaskExecutor
from vo_service.settings import Settings

__all__ = ["start_engine"]

log = logging.getLogger(__name__)


def _warm_workers(executor: DaskExecutor, settings: Settings) -> None:
    """Have every worker build the imaging model now, not during the first request."""
    archive = str(settings.resolved_archive_path)
    try:
        executor.client.run(warm_imaging_model, archive)
    except Exception as exc:  # an archive without calibration yet: workers build it on demand
        log.warning("workers not warmed up (%s): %s", archive, exc)


def start_engine(settings: Settings) -> tuple[Settings, DaskExecutor | None]:
    """Start the local cluster when the settings ask for one.

    Returns the settings the runner should use (pointing at the started scheduler) and the
    executor owning the cluster (close it on shutdown), or the settings unchanged and ``None``.
    """
    if settings.executor == "dask" and settings.dask_scheduler:
        # A cluster's workers know no setting (not even the archive): the runner warms them.
        try:
            remote = DaskExecutor.connect(settings.dask_scheduler)
        except (OSError, TimeoutError) as exc:
            log.warning("Dask scheduler not reachable yet, workers not warmed up: %s", exc)
            return settings, None
        try:
            _warm_workers(remote, settings)
        finally:
            remote.close()
        return settings, None
    if settings.executor != "local":
        return settings, None
    executor = DaskExecutor.local(settings.dask_workers)
    address = str(executor.client.scheduler_info()["address"])
    log.info("local Dask cluster at %s", address)
    _warm_workers(executor, settings)
    return settings.model_copy(update={"executor": "dask", "dask_scheduler": address}), executor
