"""Light-curve products (OGIP RATE files, VOTables, previews, Bayesian-block transients) and API.

The graph: per ScW ``isgri.bin_scw`` (for the attitude; usually cached already) →
``isgri.source_pif``, and ``isgri.bin_time`` → ``isgri.lightcurve_scw``; one
``isgri.lightcurve_concat``; one ``isgri.lightcurve_products``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from processing.archive import ArchiveIndex
from processing.codedmask._bin import BinScienceWindow, camera_events_file
from processing.codedmask._camera import adapter_or_none
from processing.codedmask._lightcurve import BinTimeResolved, ConcatLightCurves, ScwLightCurve
from processing.codedmask._ogip import write_lightcurve
from processing.codedmask._pif import SourcePIF, instrument_calibration, instrument_for
from processing.codedmask._response_files import band_rate, crab_spectrum
from processing.codedmask._skymodel import CatalogSource, sources_from_param, sources_to_param
from processing.codedmask._spectra import sky_params
from processing.codedmask._transients import find_blocks
from processing.codedmask._votable import plot_lightcurve, write_lightcurve_votable
from processing.instrument import Instrument
from processing.instruments import InstrumentSpec, default_instrument
from processing.isgri._products import (
    ProductDescriptor,
    RequestError,
    describe_product,
    file_stems,
    select_science_windows,
)
from processing.pipeline import (
    AnalysisUnit,
    CancelToken,
    Float,
    Graph,
    Node,
    NodeInput,
    Pipeline,
    UnitContext,
    declare,
)

__all__ = [
    "LightCurveProducts",
    "LightCurveRequest",
    "build_lightcurve_graph",
    "describe_lightcurve_product",
    "run_lightcurve_product",
]


@dataclass(frozen=True)
class LightCurveRequest:
    """A normalised light-curve request.

    ``bands``: energy bands in keV; ``time_bin_s``: bin size (None: one bin per ScW);
    ``p0``/``threshold_sigma``: Bayesian-block false-alarm probability and the significance a
    block needs to be reported as a transient.
    """

    sources: tuple[CatalogSource, ...]
    scw_ids: tuple[str, ...] | None = None
    time_range: tuple[float, float] | None = None
    bands: tuple[tuple[float, float], ...] = ((20.0, 40.0),)
    time_bin_s: float | None = 100.0
    p0: float = 0.01
    threshold_sigma: float = 5.0

    def __post_init__(self) -> None:
        if not self.sources:
            raise RequestError("sources", "at least one source is needed")
        if len({s.name for s in self.sources}) != len(self.sources):
            raise RequestError("sources", "source names must be unique")
        if not self.bands:
            raise RequestError("bands", "at least one band is needed")
        for lo, hi in self.bands:
            if not 0 < lo < hi:
                raise RequestError("bands", f"band {lo}-{hi} keV needs 0 < e_min < e_max")
        if self.time_bin_s is not None and self.time_bin_s < 1.0:
            raise RequestError("time_bin_s", "must be at least 1 s")
        if self.time_range is not None and not self.time_range[0] < self.time_range[1]:
            raise RequestError("time_range", "the start must be before the end")
        if not 0 < self.p0 < 1:
            raise RequestError("p0", "must be in (0, 1)")


class LightCurveProducts(AnalysisUnit):
    """Write OGIP light curves, VOTables and previews per source and band, and the transients."""

    name = "isgri.lightcurve_products"
    # 2: FITS 4.0 time keywords (DATEREF, TREFPOS, MJD-OBS/END); TSTART/TSTOP the first and
    # last good time, no longer the bin grid's edges (issue 22 item 5)
    version = "2"
    params = declare(
        **sky_params(),
        p0=Float(min=1e-12, max=0.5, default=0.01),
        threshold_sigma=Float(min=0.0, default=5.0),
    )
    inputs = declare(lightcurve=NodeInput(doc="output of isgri.lightcurve_concat"))
    codec = "files"

    def run(self, ctx: UnitContext, lightcurve: dict[str, Any]) -> dict[str, Path]:  # type: ignore[override]
        instrument = instrument_for(ctx.calibration)
        camera = adapter_or_none(instrument)
        sources = sources_from_param(self.config)
        bands = np.asarray(lightcurve["bands"], dtype=float)
        revs = [int(r) for r in np.asarray(lightcurve["revolutions"])]
        prov = [("PROVHASH", str(ctx.provenance_hash), "")]
        infos = [("provenance_hash", str(ctx.provenance_hash))]
        time = np.asarray(lightcurve["time"], dtype=float)
        timedel = np.asarray(lightcurve["timedel"], dtype=float)
        out: dict[str, Path] = {}
        transients: list[dict[str, Any]] = []
        stems = file_stems([s.name for s in sources])
        for b, (lo, hi) in enumerate(bands):
            crab = band_rate(instrument, crab_spectrum, (lo, hi), revs, np.ones(len(revs)))
            for k, src in enumerate(sources):
                ctx.check()
                rate = np.asarray(lightcurve["rate"][:, b, k], dtype=float)
                err = np.asarray(lightcurve["error"][:, b, k], dtype=float)
                frac = np.asarray(lightcurve["fracexp"][:, k], dtype=float)
                keep = np.isfinite(rate) & np.isfinite(err) & (frac > 0)
                if not keep.any():
                    ctx.logger.info("source %s: never in view, no light curve", src.name)
                    continue
                stem = f"{stems[k]}_{lo:g}-{hi:g}keV"
                cards = [*prov, ("CRABRATE", crab, "[count/s] Crab (10 E^-2.1) rate in the band")]
                write_lightcurve(
                    ctx.scratch_dir / f"{stem}.lc",
                    instrument=camera,
                    time=time[keep],
                    timedel=timedel[keep],
                    rate=rate[keep],
                    error=err[keep],
                    fracexp=frac[keep],
                    gti_start=np.asarray(lightcurve["gti_start"], dtype=float),
                    gti_stop=np.asarray(lightcurve["gti_stop"], dtype=float),
                    source=src.name,
                    ra=src.ra,
                    dec=src.dec,
                    e_min=float(lo),
                    e_max=float(hi),
                    extra_cards=cards,
                )
                write_lightcurve_votable(
                    ctx.scratch_dir / f"{stem}_lc.vot",
                    instrument=camera,
                    source=src.name,
                    e_min=float(lo),
                    e_max=float(hi),
                    time_ijd=time[keep],
                    timedel_d=timedel[keep],
                    rate=rate[keep],
                    error=err[keep],
                    fracexp=frac[keep],
                    infos=infos,
                )
                plot_lightcurve(
                    ctx.scratch_dir / f"{stem}_lc.png", src.name, time[keep], rate[keep], err[keep]
                )
                for suffix in (".lc", "_lc.vot", "_lc.png"):
                    out[f"{stem}{suffix}"] = ctx.scratch_dir / f"{stem}{suffix}"
                blocks = find_blocks(
                    time[keep],
                    timedel[keep],
                    rate[keep],
                    err[keep],
                    p0=float(self.config["p0"]),
                    threshold_sigma=float(self.config["threshold_sigma"]),
                )
                transients.append(
                    {
                        "source": src.name,
                        "e_min": float(lo),
                        "e_max": float(hi),
                        "crab_rate": crab,
                        "n_blocks": len(blocks),
                        "blocks": [blk.to_dict() for blk in blocks],
                        "significant": [blk.to_dict() for blk in blocks if blk.significant],
                    }
                )
        if not out:
            raise ValueError("no source of the request was in view in any science window")
        (ctx.scratch_dir / "transients.json").write_text(json.dumps(transients, indent=1))
        out["transients.json"] = ctx.scratch_dir / "transients.json"
        return out


def build_lightcurve_graph(
    index: ArchiveIndex,
    instrument: Instrument,
    request: LightCurveRequest,
    *,
    camera: InstrumentSpec | None = None,
) -> tuple[Graph, Node]:
    """The DAG of a light-curve request and its target (``isgri.lightcurve_products``);
    ``camera``: the adapter of the instrument (default: the default instrument)."""
    scws = select_science_windows(index, request.sources, request.scw_ids, request.time_range)
    graph = Graph(calibration=instrument_calibration(instrument, index.root))
    sky = sources_to_param(request.sources)
    spec = camera if camera is not None else default_instrument()
    edges = spec.channel_edge_list()
    bands = [list(b) for b in request.bands]
    pieces = []
    for scw in scws:
        events = camera_events_file(index, scw, spec)
        cube = graph.add(BinScienceWindow(channel_edges=edges), events=events)
        pif = graph.add(SourcePIF(**sky), scw=cube)
        timing = BinTimeResolved(bands=bands, time_bin_s=request.time_bin_s)
        binned = graph.add(timing, events=events)
        pieces.append(graph.add(ScwLightCurve(**sky), binned=binned, pif=pif))
    concat = graph.add(ConcatLightCurves(), pieces=pieces)
    target = graph.add(
        LightCurveProducts(**sky, p0=request.p0, threshold_sigma=request.threshold_sigma),
        lightcurve=concat,
    )
    return graph, target


def describe_lightcurve_product(
    graph: Graph,
    target: Node,
    files: dict[str, Path],
    request: LightCurveRequest,
    instrument: Instrument,
) -> ProductDescriptor:
    """Descriptor of the files an ``isgri.lightcurve_products`` node wrote."""
    metadata = {
        "sources": [s.name for s in request.sources],
        "bands": [list(b) for b in request.bands],
        "time_bin_s": request.time_bin_s,
        "n_scw": sum(1 for n in graph if n.unit.name == ScwLightCurve.name),
        "transients": json.loads(Path(files["transients.json"]).read_text()),
        "calibration": instrument.calibration_version,
    }
    return describe_product("lightcurve", target, files, metadata)


def run_lightcurve_product(
    pipeline: Pipeline,
    index: ArchiveIndex,
    instrument: Instrument,
    request: LightCurveRequest,
    *,
    token: CancelToken | None = None,
    progress: Callable[[Any], None] | None = None,
    holder: str | None = None,
) -> ProductDescriptor:
    """Build and run a light-curve request; return the product descriptor."""
    graph, target = build_lightcurve_graph(index, instrument, request)
    result = pipeline.run([target], token=token, progress=progress, holder=holder)
    files = result[target].load()
    assert isinstance(files, dict)
    return describe_lightcurve_product(graph, target, files, request, instrument)
