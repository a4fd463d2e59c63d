"""The runner host's local Dask cluster: started with the settings, workers warmed up."""

from __future__ import annotations

from pathlib import Path

import pytest

from processing.instrument import write_calibration
from vo_service._engine import start_engine
from vo_service.settings import Settings


def _models_built() -> int:
    from processing.isgri._imaging import _model_for

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
