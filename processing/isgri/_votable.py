"""VOTable (1.4) versions of spectra, light curves and fit results, and PNG previews.

Columns carry units (VOUnit) and UCDs; light-curve times are MJD (TT) referenced by a TIMESYS
element; provenance goes into INFO elements.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io.votable.tree import (
    Field,
    Info,
    Param,
    Resource,
    TableElement,
    TimeSys,
    VOTableFile,
)
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray

from processing.isgri._ogip import MJDREF

__all__ = [
    "plot_lightcurve",
    "plot_spectrum",
    "write_fit_votable",
    "write_lightcurve_votable",
    "write_spectrum_votable",
]

FloatArray = NDArray[np.float64]
ColumnSpec = tuple[str, str, str | None, str, str]  # name, datatype, unit, ucd, description


def _document(infos: Sequence[tuple[str, str]]) -> tuple[VOTableFile, Resource]:
    vot = VOTableFile(version="1.4")
    resource = Resource(type="results")
    vot.resources.append(resource)
    for name, value in infos:
        resource.infos.append(Info(name=name, value=value))
    return vot, resource


def _table(
    vot: VOTableFile,
    name: str,
    description: str,
    columns: Sequence[ColumnSpec],
    data: Sequence[FloatArray | NDArray[Any]],
    timesys_ref: str | None = None,
) -> TableElement:
    table = TableElement(vot, name=name)
    table.description = description
    for col_name, datatype, unit, ucd, doc in columns:
        f = Field(vot, name=col_name, datatype=datatype, unit=unit, ucd=ucd)
        f.description = doc
        if timesys_ref is not None and col_name == "time":
            f.ref = timesys_ref
        table.fields.append(f)
    n = len(data[0]) if data else 0
    table.create_arrays(n)
    for col, values in zip(columns, data, strict=True):
        table.array[col[0]] = np.asarray(values)
    return table


def write_spectrum_votable(
    path: Path,
    *,
    source: str,
    ra: float,
    dec: float,
    channel_edges: FloatArray,
    rate: FloatArray,
    error: FloatArray,
    sys_err: float,
    exposure_s: float,
    infos: Sequence[tuple[str, str]] = (),
) -> None:
    """One source's spectrum: channel, energy bounds, net rate and errors."""
    vot, resource = _document(infos)
    n = rate.size
    columns: list[ColumnSpec] = [
        ("channel", "int", None, "meta.id;instr.param", "PHA channel (from 1)"),
        ("e_min", "double", "keV", "em.energy;stat.min", "lower channel edge"),
        ("e_max", "double", "keV", "em.energy;stat.max", "upper channel edge"),
        ("rate", "double", "ct/s", "phot.count;arith.rate", "net on-axis-equivalent count rate"),
        ("rate_error", "double", "ct/s", "stat.error;phot.count;arith.rate", "1-sigma error"),
        ("sys_error", "double", None, "stat.error.sys", "fractional systematic error"),
    ]
    table = _table(
        vot,
        "spectrum",
        f"ISGRI spectrum of {source} by PIF fitting",
        columns,
        [
            np.arange(1, n + 1, dtype=np.int32),
            channel_edges[:-1],
            channel_edges[1:],
            rate,
            error,
            np.full(n, sys_err),
        ],
    )
    for name, value, unit, ucd in (
        ("source", source, None, "meta.id;src"),
        ("ra", ra, "deg", "pos.eq.ra;meta.main"),
        ("dec", dec, "deg", "pos.eq.dec;meta.main"),
        ("exposure", exposure_s, "s", "time.duration;obs.exposure"),
    ):
        datatype = "char" if isinstance(value, str) else "double"
        arraysize = "*" if isinstance(value, str) else None
        table.params.append(
            Param(
                vot,
                name=name,
                value=value,
                datatype=datatype,
                arraysize=arraysize,
                unit=unit,
                ucd=ucd,
            )
        )
    resource.tables.append(table)
    vot.to_xml(str(path))


def write_lightcurve_votable(
    path: Path,
    *,
    source: str,
    e_min: float,
    e_max: float,
    time_ijd: FloatArray,
    timedel_d: FloatArray,
    rate: FloatArray,
    error: FloatArray,
    fracexp: FloatArray,
    infos: Sequence[tuple[str, str]] = (),
) -> None:
    """One source's light curve: time (MJD, TT) with a TIMESYS element, rate, error, FRACEXP."""
    vot, resource = _document(infos)
    vot.time_systems.append(
        TimeSys(
            ID="time_frame",
            timeorigin="MJD-origin",  # times are MJD: origin JD 2400000.5
            timescale="TT",
            refposition="TOPOCENTER",
            config={"version": "1.4", "version_1_4_or_later": True},
        )
    )
    columns: list[ColumnSpec] = [
        ("time", "double", "d", "time.epoch", "bin centre, MJD (TT)"),
        ("timedel", "double", "d", "time.interval", "bin width"),
        ("rate", "double", "ct/s", "phot.count;arith.rate", "net on-axis-equivalent count rate"),
        ("rate_error", "double", "ct/s", "stat.error;phot.count;arith.rate", "1-sigma error"),
        ("fracexp", "double", None, "time.duration;arith.ratio", "fraction of the bin exposed"),
    ]
    table = _table(
        vot,
        "lightcurve",
        f"ISGRI light curve of {source}, {e_min:g}-{e_max:g} keV, by PIF fitting",
        columns,
        [time_ijd + MJDREF, timedel_d, rate, error, fracexp],
        timesys_ref="time_frame",
    )
    table.params.append(
        Param(
            vot, name="e_min", value=e_min, datatype="double", unit="keV", ucd="em.energy;stat.min"
        )
    )
    table.params.append(
        Param(
            vot, name="e_max", value=e_max, datatype="double", unit="keV", ucd="em.energy;stat.max"
        )
    )
    resource.tables.append(table)
    vot.to_xml(str(path))


def write_fit_votable(
    path: Path, results: Sequence[tuple[str, dict[str, Any]]], infos: Sequence[tuple[str, str]] = ()
) -> None:
    """Fit results: one row per (source, model, parameter) with value and 1σ error."""
    vot, resource = _document(infos)
    rows: list[tuple[str, str, str, float, float, str, float, int]] = []
    for source, fit in results:
        for name, value in fit["parameters"].items():
            rows.append(
                (
                    source,
                    fit["model"],
                    name,
                    float(value),
                    float(fit["errors"][name]),
                    fit["units"][name],
                    float(fit["chi2"]),
                    int(fit["dof"]),
                )
            )
    columns: list[ColumnSpec] = [
        ("source", "char", None, "meta.id;src", "source name"),
        ("model", "char", None, "meta.id", "spectral model"),
        ("parameter", "char", None, "meta.id;stat.fit.param", "parameter name"),
        ("value", "double", None, "stat.fit.param", "best-fit value"),
        ("error", "double", None, "stat.error;stat.fit.param", "1-sigma error"),
        ("unit", "char", None, "meta.unit", "unit of value and error"),
        ("chi2", "double", None, "stat.fit.chi2", "chi-square at the best fit"),
        ("dof", "int", None, "stat.fit.dof", "degrees of freedom"),
    ]
    table = TableElement(vot, name="spectral_fits")
    table.description = "Quick spectral fits forward-folded through the product RMF/ARF"
    for col_name, datatype, unit, ucd, doc in columns:
        f = Field(
            vot,
            name=col_name,
            datatype=datatype,
            arraysize="*" if datatype == "char" else None,
            unit=unit,
            ucd=ucd,
        )
        f.description = doc
        table.fields.append(f)
    table.create_arrays(len(rows))
    for i, row in enumerate(rows):
        table.array[i] = row
    resource.tables.append(table)
    vot.to_xml(str(path))


def plot_spectrum(
    path: Path,
    source: str,
    channel_edges: FloatArray,
    rate: FloatArray,
    error: FloatArray,
    model_rate: FloatArray | None = None,
) -> None:
    """PNG preview: rate per keV against energy (log-log), with the folded model if given."""
    width = np.diff(channel_edges)
    centre = 0.5 * (channel_edges[1:] + channel_edges[:-1])
    fig, ax = _figure((6.0, 4.0))
    ok = np.isfinite(rate) & np.isfinite(error)
    ax.errorbar(
        centre[ok],
        rate[ok] / width[ok],
        yerr=error[ok] / width[ok],
        xerr=width[ok] / 2,
        fmt=".",
        ms=2,
        lw=0.7,
        label="data",
    )
    if model_rate is not None:
        ax.step(channel_edges[1:], model_rate / width, where="pre", lw=1, label="model")
        ax.legend()
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("energy (keV)")
    ax.set_ylabel("count/s/keV")
    ax.set_title(source)
    FigureCanvasAgg(fig).print_png(str(path))


def plot_lightcurve(
    path: Path, source: str, time_ijd: FloatArray, rate: FloatArray, error: FloatArray
) -> None:
    """PNG preview of a light curve (time in MJD)."""
    fig, ax = _figure((7.0, 3.5))
    ax.errorbar(time_ijd + MJDREF, rate, yerr=error, fmt=".", ms=2, lw=0.7)
    ax.set_xlabel("MJD (TT)")
    ax.set_ylabel("count/s")
    ax.set_title(source)
    FigureCanvasAgg(fig).print_png(str(path))


def _figure(size: tuple[float, float]) -> tuple[Figure, Axes]:
    """A figure outside pyplot (no global state; safe in worker threads)."""
    fig = Figure(figsize=size, dpi=90)
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.15, top=0.9)
    return fig, fig.add_subplot()
