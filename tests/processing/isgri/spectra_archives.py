"""Small simulated archives and a pipeline for the spectral and timing tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processing.archive import ArchiveIndex
from processing.instrument import Instrument, load_instrument
from processing.pipeline import CacheStore, InlineExecutor, Pipeline, ProductCache
from processing.simulator import Scenario, simulate_archive
from vo_service.db import make_engine, upgrade_database

#: MJD of the flare archive (2015, revolution ~1550: threshold 22 keV).
FLARE_T0 = 57190.0
FLARE_PEAK_S = 1500.0

CRAB = {"name": "Crab", "ra": 83.633, "dec": 22.0145}
FAINT = {"name": "Faint", "ra": 86.5, "dec": 23.0}
FLARER = {"name": "Flarer", "ra": 306.0, "dec": 33.87}
STEADY = {"name": "Steady", "ra": 308.1, "dec": 35.2}
GX5 = {"name": "GX 5-1", "ra": 270.2842, "dec": -25.0792}
GRS1758 = {"name": "GRS 1758-258", "ra": 270.3017, "dec": -25.7433}

SCENARIOS: dict[str, dict[str, Any]] = {
    # A Crab-like source and a 20 mCrab one 2.9° away; 3 x 2000 s on a hexagonal dither.
    "crab": {
        "seed": 5,
        "sources": [
            {**CRAB, "flux_mcrab": 1000, "spectrum": {"model": "powerlaw", "index": 2.1}},
            {**FAINT, "flux_mcrab": 20, "spectrum": {"model": "powerlaw", "index": 2.0}},
        ],
        "pointings": [
            {
                "target": "Crab",
                "start": 53600.0,
                "n_scw": 3,
                "pattern": "hex",
                "scw_duration_s": 2000,
            }
        ],
    },
    # The acceptance set-up: the same sky for 50 x 2000 s (~95 ks of live time).
    "crab100": {
        "seed": 5,
        "sources": [
            {**CRAB, "flux_mcrab": 1000, "spectrum": {"model": "powerlaw", "index": 2.1}},
            {**FAINT, "flux_mcrab": 20, "spectrum": {"model": "powerlaw", "index": 2.0}},
        ],
        "pointings": [
            {
                "target": "Crab",
                "start": 53600.0,
                "n_scw": 50,
                "pattern": "hex",
                "scw_duration_s": 2000,
            }
        ],
    },
    # A 2000 mCrab flare on a 50 mCrab source, and a constant 300 mCrab source.
    "flare": {
        "seed": 7,
        "sources": [
            {
                **FLARER,
                "flux_mcrab": 50,
                "spectrum": {"index": 2.0},
                "lightcurve": {
                    "flares": [
                        {
                            "peak_mjd": FLARE_T0 + FLARE_PEAK_S / 86400,
                            "peak_mcrab": 2000,
                            "rise_s": 150,
                            "decay_s": 400,
                        }
                    ]
                },
            },
            {**STEADY, "flux_mcrab": 300, "spectrum": {"index": 2.2}},
        ],
        "pointings": [
            {
                "ra": 306.5,
                "dec": 34.5,
                "start": FLARE_T0,
                "n_scw": 2,
                "pattern": "hex",
                "scw_duration_s": 1800,
                "slew_s": 60,
            }
        ],
    },
    # Two sources 0.66° apart (GX 5-1 / GRS 1758-258), fitted together.
    "confused": {
        "seed": 11,
        "sources": [
            {**GX5, "flux_mcrab": 600, "spectrum": {"index": 2.5}},
            {**GRS1758, "flux_mcrab": 300, "spectrum": {"index": 1.8}},
        ],
        "pointings": [
            {
                "target": "GX 5-1",
                "start": 54000.0,
                "n_scw": 2,
                "pattern": "hex",
                "scw_duration_s": 2000,
            }
        ],
    },
}


@dataclass
class Archive:
    """A simulated archive with its index, instrument, scenario and a fresh pipeline."""

    root: Path
    scenario: Scenario
    index: ArchiveIndex
    instrument: Instrument
    pipeline: Pipeline


def build_archive(name: str, folder: Path) -> Archive:
    """Simulate scenario ``name`` under ``folder``, index it, and set up an inline pipeline."""
    scenario = Scenario.model_validate({"name": name, "catalog_sources": False, **SCENARIOS[name]})
    simulate_archive(scenario, folder, workers=2)
    engine = make_engine(f"sqlite:///{folder / 'index.sqlite'}")
    upgrade_database(engine)
    index = ArchiveIndex(engine, folder)
    index.ingest()
    cache = ProductCache(CacheStore(folder / "cache", durable=False), engine)
    pipeline = Pipeline(cache, InlineExecutor())
    return Archive(folder, scenario, index, load_instrument(folder), pipeline)


def votlint_problems(path: Path) -> list[str]:
    """ERROR and WARNING lines of STILTS votlint (it exits 0 even when it finds errors)."""
    import shutil
    import subprocess

    stilts = shutil.which("stilts")
    assert stilts is not None, "STILTS is needed for the VOTable checks"
    run = subprocess.run(
        [stilts, "votlint", f"votable={path}"], capture_output=True, text=True, check=False
    )
    lines = (run.stdout + run.stderr).splitlines()
    return [line for line in lines if line.startswith(("ERROR", "WARNING"))]
