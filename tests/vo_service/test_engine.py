"""The runner host's local Dask cluster: started with the settings, workers warmed up."""

from __future__ import annotations

from pathlib import Path

import pytest

from processing.instrument import write_calibration
from vo_service._engine import start_engine
from vo_service.settings import Settings


def _models_built() -> int:
    from processing.codedmask._imaging import _model_for

    return int(_model_for.cache_info().currsize)


@pytest.mark.slow
def test_local_engine_warms_its_workers(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    write_calibration(archive)
    settings = Settings.load(
        data_dir=tmp_path / "var",
        archive_path=archive,
        executor="local",
        dask_workers=1,
        network_resolvers=False,
    )
    runner_settings, executor = start_engine(settings)
    assert executor is not None
    try:
        # Handlers connect to the started scheduler as to any cluster's.
        assert runner_settings.executor == "dask"
        assert runner_settings.dask_scheduler == executor.client.scheduler_info()["address"]
        # Every worker already holds the imaging model of the archive's calibration.
        built = executor.client.run(_models_built)
        assert built and all(n == 1 for n in built.values())
    finally:
        executor.close()


def test_inline_settings_start_no_cluster(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path / "var", executor="inline")
    assert start_engine(settings) == (settings, None)


@pytest.mark.slow
def test_runner_warms_the_workers_of_an_existing_cluster(tmp_path: Path) -> None:
    """``executor = dask``: the cluster's workers know no setting; the starting runner has them
    build the imaging model of its archive, and keeps no cluster of its own."""
    from processing.pipeline import DaskExecutor

    archive = tmp_path / "archive"
    write_calibration(archive)
    cluster = DaskExecutor.local(1)
    try:
        address = str(cluster.client.scheduler_info()["address"])
        settings = Settings.load(
            data_dir=tmp_path / "var",
            archive_path=archive,
            executor="dask",
            dask_scheduler=address,
            network_resolvers=False,
        )
        assert start_engine(settings) == (settings, None)
        built = cluster.client.run(_models_built)
        assert built and all(n == 1 for n in built.values())
    finally:
        cluster.close()


def test_runner_starts_when_the_scheduler_is_not_up_yet(tmp_path: Path) -> None:
    import socket

    import dask

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    settings = Settings.load(
        data_dir=tmp_path / "var", executor="dask", dask_scheduler=f"tcp://127.0.0.1:{port}"
    )
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert start_engine(settings) == (settings, None)
