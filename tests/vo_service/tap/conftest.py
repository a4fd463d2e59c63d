"""A live service (HTTP server and job runner in this process) per back end for the TAP tests,
with synthetic detections in ``isgri.detections`` next to the ones of a real image product."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import requests

from processing.simulator import SimulationResult
from tests.vo_service.conftest import in_process_service
from vo_service._context import ServiceContext
from vo_service._tap_db import is_postgres, tap_tables
from vo_service._tap_tables import DETECTIONS

#: Synthetic detections: a field of this many sources around (83, 22).
N_SYNTHETIC = 200
SYNTHETIC_PRODUCT = "ivo://synthetic.example/isgri?" + "0" * 64


@dataclass
class TapLive:
    url: str
    context: ServiceContext
    backend: str
    #: (ra, dec) of the synthetic detections, in detection_id order.
    positions: np.ndarray

    @property
    def tap(self) -> str:
        return f"{self.url}/tap"

    def run_image(self) -> str:
        """Run an image job; its product ID."""
        created = requests.post(
            f"{self.url}/async",
            data={"src_name": "Crab", "radius": "20", "E1_keV": "20", "E2_keV": "40"}
            | {"PHASE": "RUN"},
            allow_redirects=False,
            timeout=30,
        )
        job = created.headers["Location"]
        for _ in range(60):
            doc = requests.get(f"{job}?WAIT=30", timeout=60).text
            if "COMPLETED" in doc or "ERROR" in doc:
                break
        assert "COMPLETED" in doc, doc
        results = requests.get(f"{job}/results", timeout=30).text
        product = results.split("/products/")[1].split("/")[0]
        return f"{self.context.settings.ivoid}?{product}"


def _synthetic(context: ServiceContext) -> np.ndarray:
    rng = np.random.default_rng(14)
    ra = 83.0 + rng.uniform(-5, 5, N_SYNTHETIC)
    dec = 22.0 + rng.uniform(-5, 5, N_SYNTHETIC)
    rows = [
        {
            "detection_id": f"{SYNTHETIC_PRODUCT}/source/{i + 1}",
            "product_id": SYNTHETIC_PRODUCT,
            "source_name": f"SYN {i + 1}",
            "ra": float(ra[i]),
            "dec": float(dec[i]),
            "r90": 2.0,
            "e_min": 20.0,
            "e_max": 40.0,
            "rate": 1.0,
            "rate_err": 0.1,
            "significance": 8.0,
            "t_min": 52700.0,
            "t_max": 52701.0,
            "origin": "mosaic",
            "in_catalog": False,
        }
        for i in range(N_SYNTHETIC)
    ]
    with context.engine.begin() as connection:
        table = tap_tables(is_postgres(connection))[DETECTIONS.name]
        connection.execute(table.delete().where(table.c.product_id == SYNTHETIC_PRODUCT))
        connection.execute(table.insert(), rows)
    return np.column_stack([ra, dec])


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def tap_live(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_archive: SimulationResult,
) -> Iterator[TapLive]:
    extra = {}
    if request.param == "postgresql":
        extra["database_url"] = request.getfixturevalue("postgres_url")
    root = tmp_path_factory.mktemp(f"tap_{request.param}")
    with in_process_service(root, tiny_archive, serve=True, prepare=_synthetic, **extra) as live:
        yield TapLive(live.base_url, live.context, request.param, live.prepared)
