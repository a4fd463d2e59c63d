"""A 50-ScW mosaic of an empty field: standard-normal significance, no peak above 6σ, and at
most 0.05 false single-ScW detections per ScW at 5σ (INSTRUMENT.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from processing.instrument import load_instrument
from processing.isgri import ImageRequest, run_image_product
from processing.pipeline import CacheStore, InlineExecutor, Pipeline, ProductCache
from processing.simulator import Scenario

from .conftest import simulated_archive

FIELD = (150.0, -40.0)  # no reference-catalog source within 20°


@pytest.mark.slow
def test_empty_50_scw_mosaic(tmp_path: Path) -> None:
    scenario = Scenario.model_validate(
        {
            "name": "empty-mosaic",
            "seed": 50,
            "catalog_sources": False,
            "sources": [],
            "pointings": [
                {
                    "ra": FIELD[0],
                    "dec": FIELD[1],
                    "start": 54000.0,
                    "n_scw": 50,
                    "pattern": "random",
                    "radius_deg": 6,
                    "scw_duration_s": 1000,
                }
            ],
        }
    )
    index = simulated_archive(scenario, tmp_path)
    engine = index.engine
    pipeline = Pipeline(ProductCache(CacheStore(tmp_path / "cache"), engine), InlineExecutor())
    request = ImageRequest(ra=FIELD[0], dec=FIELD[1], radius_deg=12.0)
    (product,) = run_image_product(pipeline, index, load_instrument(tmp_path), request)
    files = {f.name: f.path for f in product.files}
    assert product.metadata["n_scw"] == 50
    with fits.open(files["image.fits"]) as hl:
        sig = np.asarray(hl["SIGNIFICANCE"].data, dtype=float)
        exposure = np.asarray(hl["EXPOSURE"].data, dtype=float)
    # Pixels that many ScWs cover (the mosaic's edges see few, with partial coding only).
    deep = exposure > 0.5 * exposure.max()
    values = sig[deep]
    assert values.size > 10_000
    assert abs(values.mean()) < 0.05, values.mean()
    assert abs(values.std() - 1.0) < 0.05, values.std()
    covered = exposure > 0
    assert np.abs(sig[covered]).max() < 6.0, np.abs(sig[covered]).max()
    # No mosaic source; single-ScW detections (noise peaks at 5σ) at most 0.05 per ScW.
    catalog = Table.read(files["catalog.fits"])
    assert not any(catalog["origin"] == "mosaic"), catalog
    assert len(catalog) <= 0.05 * 50, catalog
