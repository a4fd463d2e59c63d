"""A request beyond the per-job limit is processed in shards and equals the one-piece product."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from processing.simulator import PointingPlan, Scenario, simulate_archive
from uws import JobContext, ParameterSet
from vo_service._context import ServiceContext
from vo_service._products import handle_product_job, validate_product_parameters
from vo_service.settings import Settings


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sharding")
    scenario = Scenario(
        name="shards",
        seed=3,
        pointings=[
            PointingPlan(target="Crab", start="2005-01-01T00:00:00", n_scw=7, scw_duration_s=100)
        ],
    )
    simulate_archive(scenario, root, workers=2)
    return root


def _image(archive: Path, data_dir: Path, limit: int) -> tuple[dict, np.ndarray]:
    settings = Settings.load(
        data_dir=data_dir,
        archive_path=archive,
        executor="inline",
        network_resolvers=False,
        max_pointings=limit,
    )
    context = ServiceContext.build(settings)
    context.archive.ingest()
    settings_json = settings.model_dump_json()
    params = validate_product_parameters(
        settings_json,
        ParameterSet([("src_name", "Crab"), ("radius", "20"), ("max_pointings", "200")]),
    )
    job = JobContext("j", None, params, data_dir, threading.Event())
    results = handle_product_job(settings_json, job)
    product_hash = results[0].href.split("/products/")[1].split("/")[0]
    stored = context.store.get(product_hash)
    assert stored is not None
    with fits.open(context.store.folder(product_hash) / "image.fits") as hdul:
        return stored.metadata, np.array(hdul["INTENSITY"].data)


def test_sharded_mosaic_equals_the_one_piece_mosaic(archive: Path, tmp_path: Path) -> None:
    sharded_meta, sharded = _image(archive, tmp_path / "sharded", limit=3)
    whole_meta, whole = _image(archive, tmp_path / "whole", limit=50)
    assert sharded_meta["shards"] == 3 and whole_meta["shards"] == 1
    assert len(sharded_meta["scw_ids"]) == 7
    np.testing.assert_array_equal(sharded, whole)
