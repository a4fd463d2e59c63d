"""Plot data of spectra and light curves, read from the product's own files.

Spectra: the count rate per channel with its error, and, when the product carries a quick fit
(``fits.json``), the best model folded through the product's RMF and ARF with the same
:func:`processing.isgri.fold` the fit used, and the residuals in σ. Light curves: the rate per
bin with errors and the Bayesian blocks of ``transients.json``.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table

from processing.archive import MJDREF
from vo_service._store import StoredProduct

__all__ = ["plot_data"]

log = logging.getLogger(__name__)


def _finite(values: Any) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def _response(folder: Path, stem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ENERG_LO, ENERG_HI, the ARF and the dense RMF matrix (true bins × channels)."""
    with fits.open(folder / f"{stem}.rmf", memmap=False) as rmf:
        matrix = rmf["MATRIX"].data
        n_chan = len(rmf["EBOUNDS"].data)
        dense = np.zeros((len(matrix), n_chan))
        first = int(rmf["EBOUNDS"].data["CHANNEL"][0])
        starts = np.asarray(matrix["F_CHAN"]).reshape(len(matrix), -1)[:, 0] - first
        for i, (start, row) in enumerate(zip(starts, matrix["MATRIX"], strict=True)):
            values = np.asarray(row, dtype=float)
            dense[i, int(start) : int(start) + len(values)] = values
        lo = np.asarray(matrix["ENERG_LO"], dtype=float)
        hi = np.asarray(matrix["ENERG_HI"], dtype=float)
    with fits.open(folder / f"{stem}.arf", memmap=False) as arf:
        area = np.asarray(arf["SPECRESP"].data["SPECRESP"], dtype=float)
    return lo, hi, area, dense


def _model(folder: Path, stem: str, fit: dict[str, Any]) -> np.ndarray | None:
    from processing.isgri import fold, photon_model

    try:
        lo, hi, area, dense = _response(folder, stem)
    except (OSError, KeyError, ValueError) as exc:
        log.warning("response of %s/%s unreadable: %s", folder.name, stem, exc)
        return None
    params = np.array([float(v) for v in fit["parameters"].values()])
    nh = float(fit.get("extras", {}).get("nh_1e22", 0.0))
    photon = photon_model(fit["model"], np.sqrt(lo * hi), params, nh)
    return np.asarray(fold(photon, lo, hi, area, dense))


def _spectra(folder: Path, names: list[str]) -> list[dict[str, Any]]:
    fits_by_source: dict[str, dict[str, Any]] = {}
    if "fits.json" in names:
        try:
            for fit in json.loads((folder / "fits.json").read_text()):
                fits_by_source.setdefault(str(fit["source"]), fit)  # the first model
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("fits of %s unreadable: %s", folder.name, exc)
    plots = []
    for name in [n for n in names if n.endswith("_spectrum.vot")]:  # the named source first
        stem = name[: -len("_spectrum.vot")]
        table = Table.read(folder / name, format="votable")
        e_min = np.asarray(table["e_min"], dtype=float)
        e_max = np.asarray(table["e_max"], dtype=float)
        rate = np.asarray(table["rate"], dtype=float)
        error = np.asarray(table["rate_error"], dtype=float)
        source = str(table.meta.get("description", stem)).rsplit(" of ", 1)[-1].split(" by ")[0]
        plot: dict[str, Any] = {
            "source": source,
            "energy": _finite(np.sqrt(e_min * e_max)),
            "energy_lo": _finite(np.sqrt(e_min * e_max) - e_min),
            "energy_hi": _finite(e_max - np.sqrt(e_min * e_max)),
            "rate": _finite(rate),
            "error": _finite(error),
        }
        fit = fits_by_source.get(source)
        model = None if fit is None else _model(folder, stem, fit)
        if fit is not None and model is not None and len(model) == len(rate):
            with np.errstate(divide="ignore", invalid="ignore"):
                residual = np.where(error > 0, (rate - model) / error, np.nan)
            in_band = (e_min >= float(fit["e_min"])) & (e_max <= float(fit["e_max"]))
            plot["model"] = _finite(np.where(in_band, model, np.nan))
            plot["residual"] = _finite(np.where(in_band, residual, np.nan))
            plot["fit"] = f"{fit['model']}, χ² = {float(fit['chi2']):.1f} for {fit['dof']} d.o.f."
        plots.append(plot)
    return plots


def _light_curves(folder: Path, names: list[str]) -> list[dict[str, Any]]:
    blocks_by_source: dict[str, list[dict[str, Any]]] = {}
    if "transients.json" in names:
        try:
            for entry in json.loads((folder / "transients.json").read_text()):
                blocks_by_source[str(entry["source"])] = list(entry.get("blocks", []))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("transients of %s unreadable: %s", folder.name, exc)
    plots = []
    for name in [n for n in names if n.endswith("_lc.vot")]:
        table = Table.read(folder / name, format="votable")
        # "ISGRI light curve of <source>, <band>, by PIF fitting"
        parts = str(table.meta.get("description", name)).split(" of ", 1)[-1].split(", ")
        source = parts[0]
        plot: dict[str, Any] = {
            "source": source,
            "band": parts[1] if len(parts) > 2 else "",
            "time": _finite(table["time"]),
            "halfwidth": _finite(np.asarray(table["timedel"], dtype=float) / 2),
            "rate": _finite(table["rate"]),
            "error": _finite(table["rate_error"]),
        }
        blocks = blocks_by_source.get(source, [])
        if blocks:
            plot["blocks"] = [
                {
                    "start": float(b["start"]) + MJDREF,
                    "stop": float(b["stop"]) + MJDREF,
                    "rate": float(b["rate"]),
                    "significant": bool(b.get("significant", False)),
                }
                for b in blocks
            ]
        plots.append(plot)
    return plots


def plot_data(stored: StoredProduct, folder: Path) -> dict[str, Any]:
    """``{"spectra": [...], "light_curves": [...]}`` of a product (empty lists when none).

    A stored product never changes, so its plot data are computed once per process."""
    return _plot_data(stored.hash, str(folder), tuple(f.name for f in stored.files))


@functools.lru_cache(maxsize=64)
def _plot_data(product_hash: str, where: str, files: tuple[str, ...]) -> dict[str, Any]:
    folder, names = Path(where), list(files)
    try:
        return {
            "spectra": _spectra(folder, names),
            "light_curves": _light_curves(folder, names),
        }
    except (OSError, ValueError, KeyError) as exc:
        log.warning("plot data of %s unreadable: %s", product_hash, exc)
        return {"spectra": [], "light_curves": []}
