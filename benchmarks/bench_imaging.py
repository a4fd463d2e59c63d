"""Imaging benchmark: one ScW read + bin + decode + clean in 4 bands, its floor, and a mosaic.

Run ``python -m benchmarks.bench_imaging [--events 2000000] [--repeats 3] [--mosaic 50]``.
Writes ``benchmarks/results/bench_imaging.json`` and prints a summary.

* full: read the gzipped event file, bin it into the 127-channel cube, then for 4 bands sum
  the channels, decode, search and clean (every source's model subtracted and the image
  decoded again) — what ``isgri.bin_scw`` + ``isgri.image_scw`` do, in one process;
* floor: the same read, one ``bincount`` for the 4 bands, and one decoding (the same FFTs:
  5 correlations) per band, nothing else;
* mosaic: ``isgri.mosaic`` of ``--mosaic`` ScW images (one decoded image under as many
  attitudes) onto one grid, with its search.

The instrument's decoding arrays and source-model tables (built once per process and reused
by every ScW) are timed separately as ``model_setup_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from processing.archive import read_events
from processing.instrument import Attitude, load_instrument
from processing.isgri import (
    DEFAULT_CHANNEL_EDGES,
    BinScienceWindow,
    CatalogEntry,
    ImageScienceWindow,
    ImagingModel,
    MosaicImages,
    ShadowgramBand,
    band_channels,
    bin_events,
    calibration_of,
    clean_band,
    default_channel_edges,
)
from processing.pipeline import ExternalFile, UnitContext, one_blas_thread
from processing.simulator import Scenario, simulate_archive

RESULTS = Path(__file__).parent / "results"
BANDS = [(20.0, 40.0), (40.0, 60.0), (60.0, 100.0), (100.0, 200.0)]


def make_scw(folder: Path, n_events: int) -> tuple[Path, dict[str, Any]]:
    """Simulate one Crab-field ScW with about ``n_events`` events; return its file and truth."""
    duration = max(200.0, n_events / 1250.0)  # ~1250 events/s with the Crab in the field
    scenario = Scenario.model_validate(
        {
            "name": "bench-imaging",
            "seed": 4,
            "pointings": [
                {
                    "target": "Crab",
                    "start": 54000.0,
                    "n_scw": 1,
                    "pattern": "5x5",
                    "scw_duration_s": min(duration, 20000.0),
                }
            ],
        }
    )
    result = simulate_archive(scenario, folder)
    truth = json.loads(result.truth_file.read_text())
    path = next((folder / "scw").glob("*/*/isgri_events.fits*"))
    return path, truth["science_windows"][0]


def full_run(path: Path, model: ImagingModel, catalog: list[CatalogEntry]) -> dict[str, Any]:
    model.modeller.forget_models()  # no source model carried over from the previous repeat
    t0 = time.perf_counter()
    ev = read_events(path)
    t1 = time.perf_counter()
    cube = bin_events(ev.time, ev.energy, ev.dety, ev.detz, ev.good(), DEFAULT_CHANNEL_EDGES)
    t2 = time.perf_counter()
    h = ev.header
    att = Attitude(h["RA_SCX"], h["DEC_SCX"], h["RA_SCZ"], h["DEC_SCZ"])
    eff = model.instrument.detector.live.astype(float) * float(h.get("DEADC", 1.0))
    template = model.instrument.background_template.astype(float)
    n_sources = 0
    refined: list[tuple[float, float]] = []
    for e1, e2 in BANDS:
        sl, _, _ = band_channels(DEFAULT_CHANNEL_EDGES, e1, e2)
        band = ShadowgramBand(cube[sl].sum(axis=0).astype(float), eff, ev.ontime_s)
        _, _, found, _ = clean_band(
            model.decoder, model.modeller, band, att, catalog, template=template, refined=refined
        )
        n_sources += len(found)
    t3 = time.perf_counter()
    return {
        "events": len(ev),
        "read_s": t1 - t0,
        "bin_s": t2 - t1,
        "decode_clean_s": t3 - t2,
        "total_s": t3 - t0,
        "sources": n_sources,
    }


def floor_run(path: Path, model: ImagingModel) -> dict[str, Any]:
    t0 = time.perf_counter()
    ev = read_events(path)
    t1 = time.perf_counter()
    good = ev.good()
    band_index = np.full(ev.energy.shape, -1, dtype=np.int64)
    for k, (e1, e2) in enumerate(BANDS):
        band_index[(ev.energy >= e1) & (ev.energy < e2)] = k
    sel = good & (band_index >= 0)
    flat = (band_index[sel] * 130 + ev.dety[sel]) * 134 + ev.detz[sel]
    counts = np.bincount(flat, minlength=len(BANDS) * 130 * 134).reshape(len(BANDS), 130, 134)
    t2 = time.perf_counter()
    for k in range(len(BANDS)):
        d = counts[k].astype(float)
        model.decoder.decode(d, d)
    t3 = time.perf_counter()
    return {"read_s": t1 - t0, "bincount_s": t2 - t1, "fft_s": t3 - t2, "total_s": t3 - t0}


def mosaic_run(image: dict[str, Any], n_scw: int) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    images = []
    for _ in range(n_scw):
        att = Attitude.from_roll(
            83.63 + rng.uniform(-8, 8), 22.01 + rng.uniform(-8, 8), rng.uniform(0, 360)
        )
        images.append(dict(image, ra_x=att.ra_x, dec_x=att.dec_x, ra_z=att.ra_z, dec_z=att.dec_z))
    unit = MosaicImages(center=_sky(83.63, 22.01), radius=15.0)
    t0 = time.perf_counter()
    out = unit.run(UnitContext.detached(None, "bench"), images, [])
    return {"n_scw": n_scw, "mosaic_s": time.perf_counter() - t0, "sources": len(out["sources"])}


def _sky(ra: float, dec: float) -> Any:
    from astropy.coordinates import SkyCoord

    return SkyCoord(ra, dec, unit="deg")


def _image_of(path: Path, archive: Path, catalog: list[CatalogEntry]) -> dict[str, Any]:
    """A one-band ScW image as ``isgri.image_scw`` makes it (for the mosaic timing)."""
    events = ExternalFile(path=path, checksum="sha256:0", label=path.name)
    binned = BinScienceWindow(channel_edges=default_channel_edges()).run(
        UnitContext.detached(None, "bench"), events
    )
    unit = ImageScienceWindow(bands=[[20.0, 40.0]])
    calibration = calibration_of(load_instrument(archive), archive)
    entries = [{"name": c.name, "ra": c.ra, "dec": c.dec} for c in catalog]
    return dict(unit.run(UnitContext.detached(calibration, "bench"), binned, entries), sources=[])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mosaic", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path, _ = make_scw(Path(tmp), args.events)
        instrument = load_instrument(Path(tmp))
        t0 = time.perf_counter()
        model = ImagingModel(instrument)
        setup = time.perf_counter() - t0
        catalog = [CatalogEntry("Crab", 83.63308, 22.0145)]
        # As the pipeline runs units: single-threaded BLAS (processing.pipeline.one_blas_thread).
        with one_blas_thread():
            full = [full_run(path, model, catalog) for _ in range(args.repeats)]
            floor = [floor_run(path, model) for _ in range(args.repeats)]
            mosaic = (
                mosaic_run(_image_of(path, Path(tmp), catalog), args.mosaic) if args.mosaic else {}
            )
    best_full = min(full, key=lambda r: r["total_s"])
    best_floor = min(floor, key=lambda r: r["total_s"])
    result = {
        "benchmark": "imaging",
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "events": best_full["events"],
        "bands": BANDS,
        "model_setup_s": setup,
        "full": full,
        "floor": floor,
        "best_full_s": best_full["total_s"],
        "best_floor_s": best_floor["total_s"],
        "ratio_full_to_floor": best_full["total_s"] / best_floor["total_s"],
        "mosaic": mosaic,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_imaging.json").write_text(json.dumps(result, indent=1))
    print(
        f"one ScW, {best_full['events']:,} events, 4 bands "
        f"(load {result['load_average'][0]:.1f}):\n"
        f"  full  read {best_full['read_s']:.2f} s + bin {best_full['bin_s']:.2f} s + "
        f"decode/clean {best_full['decode_clean_s']:.2f} s = {best_full['total_s']:.2f} s "
        f"({best_full['sources']} sources)\n"
        f"  floor read {best_floor['read_s']:.2f} s + bincount {best_floor['bincount_s']:.2f} s + "
        f"FFTs {best_floor['fft_s']:.2f} s = {best_floor['total_s']:.2f} s\n"
        f"  ratio {result['ratio_full_to_floor']:.2f}; instrument model setup (once per "
        f"process) {setup:.2f} s"
    )
    if mosaic:
        print(f"  mosaic of {mosaic['n_scw']} ScW images: {mosaic['mosaic_s']:.2f} s")


if __name__ == "__main__":
    main()
