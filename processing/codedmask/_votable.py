"""VOTable (1.4) versions of source catalogs, spectra, light curves and fit results, and PNG
previews.

Columns carry units (VOUnit) and UCDs; light-curve times are MJD (TT) referenced by a TIMESYS
element; a catalog's positions refer to an ICRS COOSYS and its time span (IJD, TT) to a TIMESYS
with the IJD origin; provenance goes into INFO elements.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io.votable import writeto
from astropy.io.votable.tree import (
    CooSys,
    Field,
    Info,
    Param,
    Resource,
    TableElement,
    TimeSys,
    VOTableFile,
)
from astropy.table import Table
from astropy.time import Time
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray

from processing.codedmask._ogip import MJDREF
from processing.instruments import InstrumentSpec, default_instrument

__all__ = [
    "CATALOG_COOSYS_ID",
    "CATALOG_TIMESYS_ID",
    "IJD_ORIGIN_JD",
    "plot_lightcurve",
    "plot_spectrum",
    "write_catalog_votable",
    "write_fit_votable",
    "write_lightcurve_votable",
    "write_spectrum_votable",
]

FloatArray = NDArray[np.float64]
ColumnSpec = tuple[str, str, str | None, str, str]  # name, datatype, unit, ucd, description

#: Julian Date of the IJD origin: IJD = MJD - 51544 = JD - 2451544.5 (TT).
IJD_ORIGIN_JD = 2400000.5 + MJDREF
#: XML IDs of a catalog's coordinate and time systems (FIELDs and PARAMs refer to them).
CATALOG_COOSYS_ID = "icrs"
CATALOG_TIMESYS_ID = "ijd_tt"
_VOTABLE_1_4 = {"version": "1.4", "version_1_4_or_later": True}


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


def _detector(instrument: InstrumentSpec | None) -> str:
    """The detector name product descriptions start with (the default instrument's if None)."""
    return (default_instrument() if instrument is None else instrument).short_title


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
    instrument: InstrumentSpec | None = None,
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
        f"{_detector(instrument)} spectrum of {source} by PIF fitting",
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
    writeto(vot, str(path))


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
    instrument: InstrumentSpec | None = None,
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
        f"{_detector(instrument)} light curve of {source}, {e_min:g}-{e_max:g} keV, by PIF fitting",
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
    writeto(vot, str(path))


def write_fit_votable(
    path: Path, results: Sequence[tuple[str, dict[str, Any]]], infos: Sequence[tuple[str, str]] = ()
) -> None:
    """Fit results: one row per (source, model, parameter) with value and 1σ error, then one
    with the model's energy flux in its flux band (parameter ``eflux_<E1>-<E2>keV``)."""
    vot, resource = _document(infos)
    rows: list[tuple[str, str, str, float, float, str, float, int]] = []
    for source, fit in results:
        values = [(n, v, fit["errors"][n], fit["units"][n]) for n, v in fit["parameters"].items()]
        if "energy_flux" in fit:
            band = f"eflux_{fit['flux_e_min']:g}-{fit['flux_e_max']:g}keV"
            values.append((band, fit["energy_flux"], fit["energy_flux_error"], "erg cm-2 s-1"))
        for name, value, error, unit in values:
            rows.append(
                (
                    source,
                    fit["model"],
                    name,
                    float(value),
                    float(error),
                    unit,
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
    writeto(vot, str(path))


def _votable_datatype(dtype: np.dtype[Any]) -> str:
    if dtype.kind in "US":
        return "char"
    if dtype.kind == "b":
        return "boolean"
    if dtype.kind == "f":
        return "double" if dtype.itemsize == 8 else "float"
    if dtype.kind in "iu":
        return {1: "unsignedByte", 2: "short", 4: "int"}.get(dtype.itemsize, "long")
    raise ValueError(f"no VOTable datatype for {dtype}")


def _julian_epoch(ijd: float) -> str:
    """The Julian epoch of an IJD (TT) instant, as a COOSYS epoch (``J2004.167``)."""
    return f"J{Time(IJD_ORIGIN_JD + ijd, format='jd', scale='tt').jyear:.3f}"


def write_catalog_votable(
    path: Path,
    table: Table,
    columns: Sequence[tuple[str, str | None, str, str]],
    *,
    time_range_ijd: tuple[float, float],
    description: str,
    infos: Sequence[tuple[str, str]] = (),
) -> None:
    """A source catalog: one row per detection, the columns of ``table`` in order.

    Positions (UCD ``pos.eq.*``) refer to an ICRS ``COOSYS`` whose epoch is the middle of the
    observations; the PARAMs ``t_min``/``t_max`` (the span of the data, IJD) refer to a
    ``TIMESYS`` with timescale TT and origin JD 2451544.5 (VOTable 1.4 §3.2), as any time
    column would.

    Parameters
    ----------
    table
        The rows, with a column of each name in ``columns``.
    columns
        (name, VOUnit or ``None``, UCD, description) of each column, in order.
    time_range_ijd
        Start and end of the data (IJD, TT).
    description
        One sentence describing the table.
    infos
        (name, value) INFO elements (provenance).
    """
    vot, resource = _document(infos)
    t_min, t_max = time_range_ijd
    resource.coordinate_systems.append(
        CooSys(
            ID=CATALOG_COOSYS_ID,
            system="ICRS",
            epoch=_julian_epoch(0.5 * (t_min + t_max)),
            config=_VOTABLE_1_4,
        )
    )
    resource.time_systems.append(
        TimeSys(
            ID=CATALOG_TIMESYS_ID,
            timeorigin=IJD_ORIGIN_JD,
            timescale="TT",
            refposition="TOPOCENTER",  # spacecraft times, not barycentred (OGIP TIMEREF LOCAL)
            config=_VOTABLE_1_4,
        )
    )
    element = TableElement(vot, name="sources")
    element.description = description
    for name, value, ucd, doc in (
        ("t_min", t_min, "time.start;obs.exposure", "start of the data (IJD = MJD - 51544, TT)"),
        ("t_max", t_max, "time.end;obs.exposure", "end of the data (IJD = MJD - 51544, TT)"),
    ):
        param = Param(vot, name=name, value=float(value), datatype="double", unit="d", ucd=ucd)
        param.ref = CATALOG_TIMESYS_ID
        param.description = doc
        element.params.append(param)
    for name, unit, ucd, doc in columns:
        datatype = _votable_datatype(table[name].dtype)
        field = Field(
            vot,
            name=name,
            datatype=datatype,
            arraysize="*" if datatype == "char" else None,
            unit=unit,
            ucd=ucd,
        )
        if ucd.startswith("pos.eq."):
            field.ref = CATALOG_COOSYS_ID
        elif ucd.startswith("time.epoch"):
            field.ref = CATALOG_TIMESYS_ID
        field.description = doc
        element.fields.append(field)
    element.create_arrays(len(table))
    for name, *_ in columns:
        element.array[name] = np.asarray(table[name])
    resource.tables.append(element)
    writeto(vot, str(path))


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
