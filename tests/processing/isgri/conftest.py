"""Fixtures of the imaging tests: a calibration-only archive, and in-memory simulated ScWs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine

from processing.archive import ArchiveIndex
from processing.instrument import Attitude, Instrument, load_instrument, write_calibration
from processing.isgri import (
    DEFAULT_CHANNEL_EDGES,
    ImagingModel,
    ShadowgramBand,
    band_channels,
    bin_events,
)
from processing.simulator import (
    BackgroundModel,
    PlannedScw,
    Scenario,
    SkySource,
    plan,
    simulate_archive,
    simulate_scw,
)
from processing.simulator._schedule import _offset_position
from vo_service.db import upgrade_database


@pytest.fixture(scope="session")
def ic_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ic_archive")
    write_calibration(root)
    return root


@pytest.fixture(scope="session")
def instrument(ic_archive: Path) -> Instrument:
    return load_instrument(ic_archive)


@pytest.fixture(scope="session")
def model(instrument: Instrument) -> ImagingModel:
    return ImagingModel(instrument)


@dataclass
class SimulatedBand:
    """One simulated ScW binned in 20-40 keV, with its truth."""

    band: ShadowgramBand
    attitude: Attitude
    sources: list[SkySource]
    truth: list[dict[str, float | str]]
    livetime_s: float


def simulate_band(
    instrument: Instrument,
    *,
    offsets_deg: list[tuple[float, float]],
    flux_mcrab: list[float],
    background: float = 300.0,
    duration_s: float = 2000.0,
    seed: int = 1,
    roll_deg: float = 30.0,
    e_band: tuple[float, float] = (20.0, 40.0),
) -> SimulatedBand:
    """A ScW pointed at the Crab's position, with Crab-like sources at tangent-plane offsets."""
    scenario = Scenario.model_validate(
        {
            "name": "imaging-test",
            "seed": seed,
            "catalog_sources": False,
            "sources": [{"name": "Crab"}],
            "pointings": [
                {
                    "target": "Crab",
                    "start": 54000.0,
                    "n_scw": 1,
                    "pattern": "staring",
                    "scw_duration_s": duration_s,
                    "roll_deg": roll_deg,
                }
            ],
            "background": {
                "rate_20_40": background,
                "noisy_pixels": 0,
                "line_rates": [30.0, 10.0] if background > 0 else [0.0, 0.0],
                "telemetry_gap_probability": 0.0,
            },
        }
    )
    sky, scws = plan(scenario)
    crab = sky[0]
    sources = []
    for k, ((east, north), flux) in enumerate(zip(offsets_deg, flux_mcrab, strict=True)):
        ra, dec = _offset_position(crab.ra, crab.dec, east, north)
        sources.append(replace(crab, name=f"S{k}", ra=ra, dec=dec, flux_mcrab=flux))
    planned: PlannedScw = scws[0]
    bg = BackgroundModel.model_validate(scenario.background.model_dump())
    events, truth = simulate_scw(instrument, sources, planned, bg, seed)
    cube = bin_events(
        events.time, events.energy, events.dety, events.detz, events.good(), DEFAULT_CHANNEL_EDGES
    )
    sl, _, _ = band_channels(DEFAULT_CHANNEL_EDGES, *e_band)
    counts = cube[sl].sum(axis=0).astype(float)
    efficiency = instrument.detector.live.astype(float) * truth.deadc
    return SimulatedBand(
        band=ShadowgramBand(counts, efficiency, truth.ontime_s),
        attitude=planned.attitude,
        sources=sources,
        truth=truth.sources,
        livetime_s=truth.ontime_s * truth.deadc,
    )


def significance_values(image: np.ndarray, variance: np.ndarray, coded: np.ndarray) -> np.ndarray:
    ok = (coded > 0.1) & (variance > 0)
    return np.asarray(image[ok] / np.sqrt(variance[ok]))


def simulated_archive(scenario: Scenario, root: Path) -> ArchiveIndex:
    """Simulate ``scenario`` into ``root`` and index it in a SQLite database there."""
    simulate_archive(scenario, root, workers=2)
    engine = create_engine(f"sqlite:///{root}/index.sqlite")
    upgrade_database(engine)
    index = ArchiveIndex(engine, root)
    index.ingest()
    return index
