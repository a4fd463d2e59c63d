"""Simulate a whole archive: calibration, reference catalog, event files and the truth.

An archive holds the events of each camera its scenario lists (``instruments``: ISGRI, the
JEM-X-like camera or both) for the same science windows, each in its own user-level file
(named by the camera's calibration facts) and with its own IC folder.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from processing.archive import default_event_layout, scw_dir, write_events
from processing.instrument import (
    Instrument,
    calibration_layout,
    load_instrument,
    write_calibration,
)
from processing.instruments import DEFAULT_INSTRUMENT, get_instrument
from processing.simulator._forward import ScwTruth, simulate_scw
from processing.simulator._scenario import Scenario
from processing.simulator._schedule import PlannedScw, SkySource, plan
from processing.simulator._sky import reference_sources

__all__ = ["SimulationResult", "event_header", "simulate_archive", "truth_path"]

log = logging.getLogger(__name__)


def _catalog_file() -> Path:
    """Where the default camera's adapter keeps the reference catalog (``<stem>_NNNN.fits``)."""
    return Path(get_instrument(DEFAULT_INSTRUMENT).layout.reference_catalog)


def _extension_name(file: Path) -> str:
    """The extension of an OSA data file named ``abcd_efgh_ijk_NNNN.fits``: ``ABCD-EFGH-IJK``."""
    return re.sub(r"_\d{4}$", "", file.stem).upper().replace("_", "-")


@dataclass
class SimulationResult:
    """Where the archive went and what it holds."""

    root: Path
    scenario: str
    scw_ids: list[str]
    truth_file: Path


def truth_path(root: Path, scenario: str) -> Path:
    """File holding the simulation truth of ``scenario`` beside the archive."""
    return Path(root) / "truth" / f"{scenario}.json"


def _write_reference_catalog(root: Path) -> None:
    """The archive's reference catalog (like OSA's cat/hec/gnrl_refr_cat), from the sky list."""
    refs = reference_sources()
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("NAME", "32A", array=[r.name for r in refs]),
            fits.Column("RA_OBJ", "D", unit="deg", array=[r.ra for r in refs]),
            fits.Column("DEC_OBJ", "D", unit="deg", array=[r.dec for r in refs]),
            fits.Column("CLASS", "24A", array=[r.source_class for r in refs]),
            fits.Column(
                "ISGRI_FLUX_1", "E", unit="mCrab", array=[r.flux_20_40_mcrab for r in refs]
            ),
            fits.Column(
                "ISGRI_FLUX_2", "E", unit="mCrab", array=[r.flux_40_100_mcrab for r in refs]
            ),
        ],
        name=_extension_name(_catalog_file()),
    )
    table.header["COMMENT"] = "ISGRI_FLUX_1: 20-40 keV, ISGRI_FLUX_2: 40-100 keV (typical levels)"
    path = root / _catalog_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp, overwrite=True)
    tmp.replace(path)


def event_header(
    planned: PlannedScw,
    truth: ScwTruth,
    scenario: Scenario,
    instrument: str | Path = "isgri",
) -> dict[str, object]:
    """Header keywords of a simulated event file (INTEGRAL names, plus SIMULATE and the scenario);
    TELESCOP, INSTRUME and DETNAM are the camera's (from its calibration facts)."""
    att = planned.attitude
    names = calibration_layout(instrument).fits_keys
    return {
        "TELESCOP": (names["telescop"], "mission"),
        "INSTRUME": (names["instrume"], "instrument"),
        "DETNAM": (names["detnam"], "detector"),
        "REVOL": (planned.scw.revolution, "revolution number"),
        "SWID": (planned.scw.base, "science window identifier"),
        "SW_TYPE": ("POINTING", "science window type"),
        "TSTART": (planned.tstart_ijd, "[d] start time (IJD)"),
        "TSTOP": (planned.tstop_ijd, "[d] stop time (IJD)"),
        "TELAPSE": ((planned.tstop_mjd - planned.tstart_mjd) * 86400.0, "[s] elapsed time"),
        "ONTIME": (truth.ontime_s, "[s] sum of good time intervals"),
        "DEADC": (truth.deadc, "dead-time correction factor (live fraction)"),
        "RA_SCX": (float(att.ra_x), "[deg] pointing axis RA"),
        "DEC_SCX": (float(att.dec_x), "[deg] pointing axis Dec"),
        "RA_SCZ": (float(att.ra_z), "[deg] orientation axis RA"),
        "DEC_SCZ": (float(att.dec_z), "[deg] orientation axis Dec"),
        "TIMESYS": ("TT", "time system"),
        "TIMEREF": ("LOCAL", ""),
        "TIMEUNIT": ("d", "unit of TIME, TSTART, TSTOP"),
        "MJDREF": (51544.0, "IJD = MJD - MJDREF"),
        "EQUINOX": (2000.0, ""),
        "RADECSYS": ("FK5", ""),
        "SIMULATE": (True, "SIMULATED DATA, not an INTEGRAL observation"),
        "SIMSCEN": (scenario.name, "simulation scenario"),
        "SIMSEED": (scenario.seed, "simulation seed"),
        "ORIGIN": ("codedmask-vo-service simulator", ""),
    }


def _simulate_one(
    args: tuple[Path, Scenario, list[SkySource], PlannedScw, int, str],
) -> dict[str, object]:
    root, scenario, sources, planned, compresslevel, key = args
    instrument: Instrument = load_instrument(root, key)
    layout = instrument.events or default_event_layout()
    events, truth = simulate_scw(
        instrument,
        sources,
        planned,
        scenario.background_of(key),
        scenario.seed,
        scenario.max_offaxis_deg,
    )
    events.header = event_header(planned, truth, scenario, key)
    path = root / scw_dir(planned.scw) / layout.file
    write_events(path, events, compresslevel=compresslevel, layout=layout)
    record = asdict(truth)
    if scenario.instruments != ["isgri"]:  # an ISGRI-only truth keeps its old records
        record["instrument"] = key
    record.update(
        n_events=len(events),
        revolution=planned.scw.revolution,
        tstart_ijd=planned.tstart_ijd,
        tstop_ijd=planned.tstop_ijd,
        ra_x=float(planned.attitude.ra_x),
        dec_x=float(planned.attitude.dec_x),
        ra_z=float(planned.attitude.ra_z),
        dec_z=float(planned.attitude.dec_z),
    )
    return record


def simulate_archive(
    scenario: Scenario,
    root: Path,
    *,
    workers: int = 1,
    compresslevel: int = 1,
    progress: Callable[[int, int], None] | None = None,
    limit: int | None = None,
) -> SimulationResult:
    """Write the archive of ``scenario`` under ``root`` and the truth beside it.

    ``workers`` > 1 simulates science windows in parallel processes; the files are identical.
    ``limit`` simulates only the first science windows (for quick looks).
    """
    root = Path(root)
    for key in scenario.instruments:
        write_calibration(root, instrument=key)
    _write_reference_catalog(root)
    sources, scws = plan(scenario)
    if limit is not None:
        scws = scws[:limit]
    jobs = [
        (root, scenario, sources, p, compresslevel, key)
        for p in scws
        for key in scenario.instruments
    ]
    records: list[dict[str, object]] = []
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for n, rec in enumerate(pool.map(_simulate_one, jobs), 1):
                records.append(rec)
                if progress:
                    progress(n, len(jobs))
    else:
        for n, job in enumerate(jobs, 1):
            records.append(_simulate_one(job))
            if progress:
                progress(n, len(jobs))
    first = scenario.instruments[0]
    truth: dict[str, object] = {
        "scenario": scenario.record(),
        "sources": [
            {
                "name": s.name,
                "ra": s.ra,
                "dec": s.dec,
                "flux_mcrab": s.flux_mcrab,
                "spectrum": s.spectrum.model_dump(),
                "lightcurve": s.lightcurve.model_dump(),
            }
            for s in sources
        ],
        "science_windows": [r for r in records if r.get("instrument", first) == first],
        "notes": "simulated archive; fluxes in mCrab (20-40 keV energy flux); IJD = MJD - 51544",
    }
    if scenario.instruments != ["isgri"]:
        truth["science_windows_by_instrument"] = {
            key: [r for r in records if r.get("instrument") == key] for key in scenario.instruments
        }
    out = truth_path(root, scenario.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(truth, indent=1, default=_json_default))
    return SimulationResult(root, scenario.name, [str(p.scw) for p in scws], out)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
