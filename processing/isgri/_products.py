"""Spectral products (OGIP PHA + RMF + ARF, VOTables, fits, previews) and the service API.

The graph of a spectrum request: per ScW ``isgri.bin_scw`` → ``isgri.source_pif`` →
``isgri.spectrum_scw``; one ``isgri.spectrum_stack`` over the ScWs; one
``isgri.spectrum_products`` writing the files. Every node is cached by provenance hash, so a
second request for the same sources reuses the per-ScW fits, and a request for other sources
reuses the binned cubes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from processing.archive import ArchiveIndex, ScienceWindow
from processing.codedmask._bin import BinScienceWindow, camera_events_file
from processing.codedmask._camera import adapter_or_none
from processing.codedmask._ogip import write_pha
from processing.codedmask._pif import SourcePIF, instrument_calibration, instrument_for
from processing.codedmask._response_files import arf_values, response_matrix, write_arf, write_rmf
from processing.codedmask._skymodel import CatalogSource, sources_from_param, sources_to_param
from processing.codedmask._specfit import SpectralFitError, fit_spectrum, fold, photon_model
from processing.codedmask._spectra import ExtractSpectrum, StackSpectra, sky_params
from processing.codedmask._votable import plot_spectrum, write_fit_votable, write_spectrum_votable
from processing.instrument import Instrument
from processing.instruments import InstrumentSpec, default_instrument
from processing.instruments._isgri import MAX_OFFAXIS_DEG
from processing.pipeline import (
    AnalysisUnit,
    CancelToken,
    Float,
    Graph,
    List,
    Node,
    NodeInput,
    Pipeline,
    Str,
    UnitContext,
    declare,
)
from processing.products import ProductDescriptor, ProductFile

__all__ = [
    "CONTENT_TYPES",
    "ProductDescriptor",
    "ProductFile",
    "RequestError",
    "SpectrumProducts",
    "SpectrumRequest",
    "build_spectrum_graph",
    "describe_product",
    "describe_spectrum_product",
    "file_stems",
    "run_spectrum_product",
    "safe_name",
    "select_science_windows",
]

#: Content types of the product files, by suffix.
CONTENT_TYPES = {
    ".pha": "application/fits",
    ".rmf": "application/fits",
    ".arf": "application/fits",
    ".lc": "application/fits",
    ".vot": "application/x-votable+xml",
    ".png": "image/png",
    ".json": "application/json",
}


class RequestError(ValueError):
    """A spectral or timing request that cannot be served; the message names the parameter."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter
        self.reason = reason


def safe_name(name: str) -> str:
    """File-name-safe version of a source name (``GX 5-1`` → ``GX_5-1``, ``+`` → ``p``)."""
    stem = re.sub(r"[^A-Za-z0-9.-]+", "_", name.replace("+", "p")).strip("_.-")
    return stem[:80] or "source"


def file_stems(names: Sequence[str]) -> list[str]:
    """Distinct file stems for the sources of a request (a numeric suffix on collisions)."""
    stems: list[str] = []
    for name in names:
        stem = safe_name(name)
        candidate, n = stem, 1
        while candidate in stems:
            n += 1
            candidate = f"{stem}_{n}"
        stems.append(candidate)
    return stems


@dataclass(frozen=True)
class SpectrumRequest:
    """A normalised spectrum request.

    ``sources``: the sky model (all fitted together; products for each). Science windows: the
    listed ``scw_ids``, or all those pointing within 15.5° of a source in ``time_range`` (IJD).
    ``models``: quick fits to run (``powerlaw``, ``cutoffpl``) in ``fit_band`` keV; each
    reports its energy flux in ``flux_band`` keV (None: the camera's first default band).
    """

    sources: tuple[CatalogSource, ...]
    scw_ids: tuple[str, ...] | None = None
    time_range: tuple[float, float] | None = None
    models: tuple[str, ...] = ("powerlaw",)
    fit_band: tuple[float, float] = (30.0, 300.0)
    flux_band: tuple[float, float] | None = None
    sys_err: float = 0.01
    nh_1e22: float = 0.0

    def __post_init__(self) -> None:
        if not self.sources:
            raise RequestError("sources", "at least one source is needed")
        if len({s.name for s in self.sources}) != len(self.sources):
            raise RequestError("sources", "source names must be unique")
        if self.time_range is not None and not self.time_range[0] < self.time_range[1]:
            raise RequestError("time_range", "the start must be before the end")
        for m in self.models:
            if m not in ("powerlaw", "cutoffpl"):
                raise RequestError("models", f"unknown model {m!r} (powerlaw, cutoffpl)")
        if not 0 < self.fit_band[0] < self.fit_band[1]:
            raise RequestError("fit_band", "needs 0 < e_min < e_max")
        if self.flux_band is not None and not 0 < self.flux_band[0] < self.flux_band[1]:
            raise RequestError("flux_band", "needs 0 < e_min < e_max")
        if not 0 <= self.sys_err < 1:
            raise RequestError("sys_err", "must be in [0, 1)")


def select_science_windows(
    index: ArchiveIndex,
    sources: Sequence[CatalogSource],
    scw_ids: Sequence[str] | None,
    time_range: tuple[float, float] | None,
) -> list[ScienceWindow]:
    """The science windows of a request, in time order."""
    if scw_ids is not None:
        return index.get(scw_ids)
    t1, t2 = time_range if time_range is not None else (None, None)
    found: dict[str, ScienceWindow] = {}
    for s in sources:
        for scw in index.query(s.ra, s.dec, MAX_OFFAXIS_DEG, t1, t2):
            found[scw.scw_id] = scw
    scws = sorted(found.values(), key=lambda w: w.tstart)
    if not scws:
        raise RequestError("sources", "no science window points within 15.5° in the time range")
    return scws


class SpectrumProducts(AnalysisUnit):
    """Write the spectral products of a stack: per source PHA, RMF, ARF, VOTable, PNG; fits."""

    name = "isgri.spectrum_products"
    # 2: FITS 4.0 time keywords (DATEREF, TREFPOS, MJD-OBS/END), issue 22 item 5
    # 3: each fit's energy flux in ``flux_band`` with its error (was 20-40 keV for every
    # camera, without an error, and only in fits.json)
    version = "3"
    params = declare(
        **sky_params(),
        models=List(Str(choices=("powerlaw", "cutoffpl")), default=["powerlaw"]),
        fit_band=List(Float(min=0.0), min_length=2, max_length=2, default=[30.0, 300.0]),
        flux_band=List(
            Float(min=0.0),
            min_length=2,
            max_length=2,
            default=[20.0, 40.0],
            doc="band of the reported energy flux, keV",
        ),
        sys_err=Float(min=0.0, max=0.99, default=0.01),
        nh_1e22=Float(min=0.0, default=0.0),
    )
    inputs = declare(stack=NodeInput(doc="output of isgri.spectrum_stack"))
    codec = "files"

    def run(self, ctx: UnitContext, stack: dict[str, Any]) -> dict[str, Path]:  # type: ignore[override]
        instrument = instrument_for(ctx.calibration)
        camera = adapter_or_none(instrument)
        cfg = self.config
        sources = sources_from_param(cfg)
        edges = np.asarray(stack["channel_edges"], dtype=float)
        out: dict[str, Path] = {}
        fits_summary: list[tuple[str, dict[str, Any]]] = []
        prov = [("PROVHASH", str(ctx.provenance_hash), "")]
        infos = [("provenance_hash", str(ctx.provenance_hash))]
        revs = [int(r) for r in np.asarray(stack["revolutions"])]
        stems = file_stems([s.name for s in sources])
        for k, src in enumerate(sources):
            ctx.check()
            exposure = float(stack["exposure_s"][k])
            if exposure <= 0:
                ctx.logger.info("source %s: no exposure with a shadow, no spectrum", src.name)
                continue
            stem = stems[k]
            rate = np.asarray(stack["rate"][:, k], dtype=float)
            err = np.asarray(stack["error"][:, k], dtype=float)
            weights = np.asarray(stack["revolution_weights"][k], dtype=float)
            matrix, elo, ehi = response_matrix(instrument, edges, revs, weights)
            arf = arf_values(instrument, elo, ehi)
            rev_cards = [("REVSTART", min(revs), "first revolution"), ("REVSTOP", max(revs), "")]
            write_rmf(
                ctx.scratch_dir / f"{stem}.rmf",
                instrument,
                edges,
                matrix,
                elo,
                ehi,
                [*prov, *rev_cards],
            )
            write_arf(ctx.scratch_dir / f"{stem}.arf", instrument, elo, ehi, arf, prov)
            write_pha(
                ctx.scratch_dir / f"{stem}.pha",
                instrument=camera,
                rate=rate,
                stat_err=err,
                exposure_s=exposure,
                sys_err=float(cfg["sys_err"]),
                source=src.name,
                ra=src.ra,
                dec=src.dec,
                tstart=float(stack["tstart"][k]),
                tstop=float(stack["tstop"][k]),
                respfile=f"{stem}.rmf",
                ancrfile=f"{stem}.arf",
                extra_cards=[*prov, ("NSCW", int(stack["n_scw"][k]), "science windows stacked")],
            )
            write_spectrum_votable(
                ctx.scratch_dir / f"{stem}_spectrum.vot",
                instrument=camera,
                source=src.name,
                ra=src.ra,
                dec=src.dec,
                channel_edges=edges,
                rate=rate,
                error=err,
                sys_err=float(cfg["sys_err"]),
                exposure_s=exposure,
                infos=infos,
            )
            best_model: np.ndarray | None = None
            for model in cfg["models"]:
                try:
                    fit = fit_spectrum(
                        rate,
                        err,
                        edges,
                        elo,
                        ehi,
                        arf,
                        matrix,
                        model=model,
                        e_min=float(cfg["fit_band"][0]),
                        e_max=float(cfg["fit_band"][1]),
                        sys_err=float(cfg["sys_err"]),
                        nh_1e22=float(cfg["nh_1e22"]),
                        flux_band=(float(cfg["flux_band"][0]), float(cfg["flux_band"][1])),
                    )
                except SpectralFitError as exc:
                    ctx.logger.info("source %s, %s: not fitted: %s", src.name, model, exc)
                    continue
                fits_summary.append((src.name, fit.to_dict()))
                if best_model is None:
                    params = np.array(list(fit.parameters.values()))
                    centre = np.sqrt(elo * ehi)
                    best_model = fold(
                        photon_model(model, centre, params, float(cfg["nh_1e22"])),
                        elo,
                        ehi,
                        arf,
                        matrix,
                    )
            plot_spectrum(
                ctx.scratch_dir / f"{stem}_spectrum.png", src.name, edges, rate, err, best_model
            )
            for suffix in (".pha", ".rmf", ".arf", "_spectrum.vot", "_spectrum.png"):
                out[f"{stem}{suffix}"] = ctx.scratch_dir / f"{stem}{suffix}"
        if not out:
            raise ValueError("no source of the request had a shadow in any science window")
        write_fit_votable(ctx.scratch_dir / "fits.vot", fits_summary, infos)
        (ctx.scratch_dir / "fits.json").write_text(
            json.dumps([{"source": s, **f} for s, f in fits_summary], indent=1)
        )
        out["fits.vot"] = ctx.scratch_dir / "fits.vot"
        out["fits.json"] = ctx.scratch_dir / "fits.json"
        return out


def build_spectrum_graph(
    index: ArchiveIndex,
    instrument: Instrument,
    request: SpectrumRequest,
    *,
    camera: InstrumentSpec | None = None,
) -> tuple[Graph, Node]:
    """The DAG of a spectrum request and its target (the ``isgri.spectrum_products`` node);
    ``camera``: the adapter of the instrument (default: the default instrument)."""
    scws = select_science_windows(index, request.sources, request.scw_ids, request.time_range)
    graph = Graph(calibration=instrument_calibration(instrument, index.root))
    sky = sources_to_param(request.sources)
    spec = camera if camera is not None else default_instrument()
    edges = spec.channel_edge_list()
    spectra = []
    for scw in scws:
        cube = graph.add(
            BinScienceWindow(channel_edges=edges), events=camera_events_file(index, scw, spec)
        )
        pif = graph.add(SourcePIF(**sky), scw=cube)
        spectra.append(graph.add(ExtractSpectrum(**sky), scw=cube, pif=pif))
    stack = graph.add(StackSpectra(), spectra=spectra)
    target = graph.add(
        SpectrumProducts(
            **sky,
            models=list(request.models),
            fit_band=list(request.fit_band),
            flux_band=list(request.flux_band or spec.default_band_kev),
            sys_err=request.sys_err,
            nh_1e22=request.nh_1e22,
        ),
        stack=stack,
    )
    return graph, target


def describe_product(
    kind: str, node: Node, files: dict[str, Path], metadata: dict[str, Any]
) -> ProductDescriptor:
    """Descriptor of a ``files``-codec product entry."""
    items = [
        ProductFile(Path(path), CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream"))
        for name, path in sorted(files.items())
    ]
    return ProductDescriptor(str(node.provenance_hash), kind, tuple(items), metadata)


def describe_spectrum_product(
    graph: Graph,
    target: Node,
    files: dict[str, Path],
    request: SpectrumRequest,
    instrument: Instrument,
) -> ProductDescriptor:
    """Descriptor of the files an ``isgri.spectrum_products`` node wrote."""
    metadata = {
        "sources": [s.name for s in request.sources],
        "n_scw": sum(1 for n in graph if n.unit.name == ExtractSpectrum.name),
        "fits": json.loads(Path(files["fits.json"]).read_text()),
        "calibration": instrument.calibration_version,
    }
    return describe_product("spectrum", target, files, metadata)


def run_spectrum_product(
    pipeline: Pipeline,
    index: ArchiveIndex,
    instrument: Instrument,
    request: SpectrumRequest,
    *,
    token: CancelToken | None = None,
    progress: Callable[[Any], None] | None = None,
    holder: str | None = None,
) -> ProductDescriptor:
    """Build and run a spectrum request; return the product descriptor."""
    graph, target = build_spectrum_graph(index, instrument, request)
    result = pipeline.run([target], token=token, progress=progress, holder=holder)
    files = result[target].load()
    assert isinstance(files, dict)
    return describe_spectrum_product(graph, target, files, request, instrument)
