"""Source spectra by PIF fitting: per science window, then stacked over science windows.

Per ScW, every fine channel of the binned cube is fitted at once (:func:`fit_shadowgrams`) with
all sky-model sources that have a shadow plus the per-module background. Rates are on-axis
equivalent count rates: the product's ARF is the on-axis effective area, so the same RMF/ARF hold
for a source anywhere in the field. Stacking averages the rates with live-time weights (which
keeps the average unbiased even where per-ScW errors depend on the rate) over the ScWs in which
the source had a shadow, and records the live time per revolution so that the response can be
averaged with the same weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from processing.codedmask._fit import background_templates, fit_shadowgrams
from processing.codedmask._pif import instrument_for
from processing.instrument import Instrument
from processing.pipeline import AnalysisUnit, Float, List, NodeInput, Str, UnitContext, declare

__all__ = ["ExtractSpectrum", "StackSpectra", "fit_scw_spectrum", "stack_spectra"]

FloatArray = NDArray[np.float64]

_SKY_PARAMS = {
    "source_names": List(Str(), min_length=1),
    "source_ra": List(Float(digits=10, min=-360.0, max=720.0), min_length=1),
    "source_dec": List(Float(digits=10, min=-90.0, max=90.0), min_length=1),
}


def sky_params() -> dict[str, Any]:
    """Parameter declarations of a sky model (shared by the spectral and timing units)."""
    return dict(_SKY_PARAMS)


def fit_scw_spectrum(
    instrument: Instrument,
    counts: NDArray[np.number],
    livetime_s: float,
    pif: dict[str, Any],
    check: Any = None,
) -> dict[str, FloatArray]:
    """Rates (channel × source) of one ScW's counts cube; NaN for sources without a shadow."""
    det = instrument.detector
    usable = np.asarray(pif["usable"], dtype=bool)
    n_src = usable.size
    n_chan = counts.shape[0]
    rate = np.full((n_chan, n_src), np.nan)
    error = np.full((n_chan, n_src), np.nan)
    templates = background_templates(instrument.background_template, det.module, det.live)
    pixels = det.live > 0
    exposure = np.full(n_chan, float(livetime_s))
    fit = fit_shadowgrams(
        counts,
        exposure,
        np.asarray(pif["pif"])[usable],
        np.asarray(pif["scale"])[usable],
        templates,
        pixels,
    )
    if check is not None:
        check()
    rate[:, usable] = fit.rate
    error[:, usable] = fit.error
    return {
        "rate": rate,
        "error": error,
        "background": fit.background,
        "chi2": fit.chi2,
        "dof": np.full(n_chan, fit.dof, dtype=np.int64),
    }


class ExtractSpectrum(AnalysisUnit):
    """Spectra of all sky-model sources in one ScW, on the cube's fine channels."""

    name = "isgri.spectrum_scw"
    version = "1"
    params = declare(**_SKY_PARAMS)
    inputs = declare(
        scw=NodeInput(doc="output of isgri.bin_scw"),
        pif=NodeInput(doc="output of isgri.source_pif for the same sky model"),
    )
    codec = "numpy"

    def run(  # type: ignore[override]
        self, ctx: UnitContext, scw: dict[str, Any], pif: dict[str, Any]
    ) -> dict[str, Any]:
        instrument = instrument_for(ctx.calibration)
        out: dict[str, Any] = fit_scw_spectrum(
            instrument, scw["counts"], float(scw["livetime_s"]), pif, ctx.check
        )
        out.update(
            channel_edges=np.asarray(scw["channel_edges"], dtype=float),
            usable=np.asarray(pif["usable"], dtype=np.int8),
            offaxis_deg=np.asarray(pif["offaxis_deg"], dtype=float),
            livetime_s=float(scw["livetime_s"]),
            revolution=int(scw["revolution"]),
            tstart=float(scw["tstart"]),
            tstop=float(scw["tstop"]),
        )
        return out


def stack_spectra(spectra: list[dict[str, Any]]) -> dict[str, Any]:
    """Live-time-weighted average of per-ScW spectra, per source.

    Returns ``rate``, ``error`` (channel × source), ``exposure_s`` (source), ``n_scw``
    (source), ``revolutions`` and ``revolution_weights`` (source × revolution: live time),
    ``tstart``/``tstop`` (IJD, over the ScWs that contributed).
    """
    if not spectra:
        raise ValueError("nothing to stack")
    edges = np.asarray(spectra[0]["channel_edges"], dtype=float)
    n_chan, n_src = np.asarray(spectra[0]["rate"]).shape
    revolutions = sorted({int(s["revolution"]) for s in spectra})
    rev_index = {r: i for i, r in enumerate(revolutions)}
    wsum = np.zeros(n_src)
    num = np.zeros((n_chan, n_src))
    var = np.zeros((n_chan, n_src))
    n_scw = np.zeros(n_src, dtype=np.int64)
    rev_w = np.zeros((n_src, len(revolutions)))
    tstart = np.full(n_src, np.inf)
    tstop = np.full(n_src, -np.inf)
    for s in spectra:
        if not np.array_equal(np.asarray(s["channel_edges"], dtype=float), edges):
            raise ValueError("spectra on different channel grids cannot be stacked")
        rate = np.asarray(s["rate"], dtype=float)
        err = np.asarray(s["error"], dtype=float)
        ok = np.asarray(s["usable"], dtype=bool) & np.all(np.isfinite(rate), axis=0)
        ok &= np.all(np.isfinite(err), axis=0)
        w = float(s["livetime_s"]) * ok
        num += np.where(ok, rate, 0.0) * w
        var += np.where(ok, err, 0.0) ** 2 * w**2
        wsum += w
        n_scw += ok
        rev_w[:, rev_index[int(s["revolution"])]] += w
        tstart = np.where(ok, np.minimum(tstart, float(s["tstart"])), tstart)
        tstop = np.where(ok, np.maximum(tstop, float(s["tstop"])), tstop)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = num / wsum
        error = np.sqrt(var) / wsum
    return {
        "channel_edges": edges,
        "rate": rate,
        "error": error,
        "exposure_s": wsum,
        "n_scw": n_scw,
        "revolutions": np.asarray(revolutions, dtype=np.int64),
        "revolution_weights": rev_w,
        "tstart": tstart,
        "tstop": tstop,
    }


class StackSpectra(AnalysisUnit):
    """Live-time-weighted stack of per-ScW spectra (a reduction over ScWs)."""

    name = "isgri.spectrum_stack"
    version = "1"
    uses_calibration = False
    params = declare()
    inputs = declare(spectra=NodeInput(many=True, doc="outputs of isgri.spectrum_scw"))
    codec = "numpy"

    def run(self, ctx: UnitContext, spectra: list[dict[str, Any]]) -> dict[str, Any]:  # type: ignore[override]
        ctx.check()
        return stack_spectra(list(spectra))
