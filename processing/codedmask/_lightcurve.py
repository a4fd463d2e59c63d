"""Light curves by PIF fitting: time-resolved binning, per-bin fits, concatenation over ScWs.

Time bins lie on one global grid (multiples of the bin size from IJD 0), so bins from different
science windows line up, and a bin longer than a ScW collects the pieces of every ScW it
covers. Each ScW's events are binned once per (bands, bin size) into counts per bin × band ×
pixel with their exposure (GTI overlap × DEADC); every bin and band is then fitted like a
spectral channel — with the Poisson likelihood, which matters for 10 s bins holding a few
thousand counts spread over 16 000 pixels. FRACEXP is the fraction of a bin covered by good
time in ScWs where the source had a shadow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from processing.codedmask._camera import read_camera_events
from processing.codedmask._fit import background_templates, fit_shadowgrams
from processing.codedmask._pif import instrument_for
from processing.codedmask._spectra import sky_params
from processing.instruments import default_instrument
from processing.pipeline import (
    AnalysisUnit,
    ExternalFile,
    FileInput,
    Float,
    List,
    NodeInput,
    Quantity,
    UnitContext,
    declare,
)

__all__ = [
    "BinTimeResolved",
    "ConcatLightCurves",
    "ScwLightCurve",
    "bin_time_resolved",
    "concatenate_lightcurves",
]

FloatArray = NDArray[np.float64]
_SECONDS_PER_DAY = 86400.0
_MIN_ONTIME_S = 0.01
_CHUNK_PIXELS = 4_000_000


def _overlap(lo: FloatArray, hi: FloatArray, starts: FloatArray, stops: FloatArray) -> FloatArray:
    """Length of [lo, hi) covered by the intervals [starts, stops) (all in the same unit)."""
    total = np.zeros(lo.shape)
    for a, b in zip(starts, stops, strict=True):
        total += np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0.0, None)
    return total


def bin_time_resolved(
    time: FloatArray,
    energy: NDArray[np.floating],
    dety: NDArray[np.integer],
    detz: NDArray[np.integer],
    good: NDArray[np.bool_],
    gti_start: FloatArray,
    gti_stop: FloatArray,
    bands: list[tuple[float, float]],
    bin_s: float | None,
    tstart: float,
    tstop: float,
    detector_shape: tuple[int, int] | None = None,
) -> dict[str, NDArray[Any]]:
    """Counts (bin × band × DETY × DETZ) of the good events on the global time grid.

    ``detector_shape`` is the (DETY, DETZ) size of the camera's detector image, the default
    instrument's when not given.

    ``bin_s`` = None gives one bin spanning [tstart, tstop). Returns ``counts``, ``bin_index``
    (global grid index; -1 for the single whole-ScW bin), ``bin_start``/``bin_stop`` (IJD) and
    ``ontime_s`` (good time inside each bin).
    """
    if bin_s is None:
        edges = np.array([tstart, tstop])
        index = np.array([-1], dtype=np.int64)
    else:
        width = bin_s / _SECONDS_PER_DAY
        k0 = int(np.floor(tstart / width))
        k1 = int(np.ceil(tstop / width))
        index = np.arange(k0, max(k1, k0 + 1), dtype=np.int64)
        edges = np.append(index * width, (index[-1] + 1) * width)
    n_bins = edges.size - 1
    t, e = time[good], energy[good]
    y, z = dety[good].astype(np.int64), detz[good].astype(np.int64)
    tb = np.searchsorted(edges, t, side="right") - 1
    shape = default_instrument().detector_shape if detector_shape is None else detector_shape
    n_pix = shape[0] * shape[1]
    pix = y * shape[1] + z
    # Filled in chunks of bins so that the bincount buffer stays small (10 s bins over a
    # 2000 s ScW: 7 MB per band in 16 bits); 32 bits only if a pixel ever exceeds 65 535.
    counts = np.zeros((n_bins, len(bands), n_pix), dtype=np.uint16)
    chunk = max(1, _CHUNK_PIXELS // n_pix)
    for b, (lo, hi) in enumerate(bands):
        sel = (e >= lo) & (e < hi) & (tb >= 0) & (tb < n_bins)
        tb_b, pix_b = tb[sel], pix[sel]
        for start in range(0, n_bins, chunk):
            stop = min(start + chunk, n_bins)
            inside = (tb_b >= start) & (tb_b < stop)
            flat = (tb_b[inside] - start) * n_pix + pix_b[inside]
            part = np.bincount(flat, minlength=(stop - start) * n_pix)
            if part.max(initial=0) > np.iinfo(counts.dtype).max:
                counts = counts.astype(np.uint32)
            counts[start:stop, b, :] = part.reshape(stop - start, n_pix)
    ontime = _overlap(edges[:-1], edges[1:], gti_start, gti_stop) * _SECONDS_PER_DAY
    # Slivers of good time (rounding at GTI edges) cannot be fitted: no exposure there.
    ontime[ontime < _MIN_ONTIME_S] = 0.0
    return {
        "counts": counts.reshape(n_bins, len(bands), *shape),
        "bin_index": index,
        "bin_start": edges[:-1].copy(),
        "bin_stop": edges[1:].copy(),
        "ontime_s": ontime,
    }


class BinTimeResolved(AnalysisUnit):
    """Bin one ScW's good events by time bin and energy band (for light curves)."""

    name = "isgri.bin_time"
    version = "2"
    uses_calibration = False
    params = declare(
        bands=List(
            List(Quantity("keV", digits=9), min_length=2, max_length=2),
            min_length=1,
            max_length=16,
            doc="energy bands [e_min, e_max]",
        ),
        time_bin_s=Float(min=1.0, nullable=True, default=None, doc="bin size; None: whole ScW"),
    )
    inputs = declare(events=FileInput(doc="the ScW's event file"))
    codec = "numpy"

    def run(self, ctx: UnitContext, events: ExternalFile) -> dict[str, Any]:  # type: ignore[override]
        bands = [(float(a), float(b)) for a, b in self.config["bands"]]
        if any(b <= a for a, b in bands):
            raise ValueError("each band needs e_min < e_max")
        camera, ev = read_camera_events(events.path)
        ctx.check()
        h = ev.header
        out: dict[str, Any] = bin_time_resolved(
            ev.time,
            ev.energy,
            ev.dety,
            ev.detz,
            ev.good(),
            ev.gti_start,
            ev.gti_stop,
            bands,
            self.config["time_bin_s"],
            float(h["TSTART"]),
            float(h["TSTOP"]),
            camera.detector_shape,
        )
        deadc = float(h.get("DEADC", 1.0))
        out.update(
            bands=np.asarray(bands, dtype=float),
            livetime_s=out["ontime_s"] * deadc,
            deadc=deadc,
            gti_start=ev.gti_start.copy(),
            gti_stop=ev.gti_stop.copy(),
            ra_x=float(h["RA_SCX"]),
            dec_x=float(h["DEC_SCX"]),
            ra_z=float(h["RA_SCZ"]),
            dec_z=float(h["DEC_SCZ"]),
            revolution=int(h["REVOL"]),
            tstart=float(h["TSTART"]),
            tstop=float(h["TSTOP"]),
        )
        return out


class ScwLightCurve(AnalysisUnit):
    """Fit every time bin and band of one ScW: source rates per bin (Poisson likelihood)."""

    name = "isgri.lightcurve_scw"
    version = "1"
    params = declare(**sky_params())
    inputs = declare(
        binned=NodeInput(doc="output of isgri.bin_time"),
        pif=NodeInput(doc="output of isgri.source_pif for the same sky model"),
    )
    codec = "numpy"

    def run(  # type: ignore[override]
        self, ctx: UnitContext, binned: dict[str, Any], pif: dict[str, Any]
    ) -> dict[str, Any]:
        instrument = instrument_for(ctx.calibration)
        det = instrument.detector
        counts = np.asarray(binned["counts"])
        n_bins, n_bands = counts.shape[:2]
        usable = np.asarray(pif["usable"], dtype=bool)
        n_src = usable.size
        rate = np.full((n_bins, n_bands, n_src), np.nan)
        error = np.full((n_bins, n_bands, n_src), np.nan)
        live = np.asarray(binned["livetime_s"], dtype=float)
        if usable.any():
            templates = background_templates(instrument.background_template, det.module, det.live)
            fit = fit_shadowgrams(
                counts.reshape(n_bins * n_bands, *det.shape),
                np.repeat(live, n_bands),
                np.asarray(pif["pif"])[usable],
                np.asarray(pif["scale"])[usable],
                templates,
                det.live > 0,
            )
            rate[:, :, usable] = fit.rate.reshape(n_bins, n_bands, -1)
            error[:, :, usable] = fit.error.reshape(n_bins, n_bands, -1)
        ctx.check()
        return {
            "rate": rate,
            "error": error,
            "usable": usable.astype(np.int8),
            "bin_index": np.asarray(binned["bin_index"]),
            "bin_start": np.asarray(binned["bin_start"], dtype=float),
            "bin_stop": np.asarray(binned["bin_stop"], dtype=float),
            "ontime_s": np.asarray(binned["ontime_s"], dtype=float),
            "livetime_s": live,
            "bands": np.asarray(binned["bands"], dtype=float),
            "gti_start": np.asarray(binned["gti_start"], dtype=float),
            "gti_stop": np.asarray(binned["gti_stop"], dtype=float),
            "revolution": int(binned["revolution"]),
        }


def concatenate_lightcurves(pieces: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge per-ScW light curves in time order; pieces of one global bin are averaged.

    Averages use live-time weights per source (only ScWs where the source had a shadow);
    FRACEXP = good time with the source in view / bin length. Bins where no piece saw the source
    keep NaN rates. Returns ``time`` (bin centre, IJD), ``timedel`` (d), ``rate``/``error``
    (bin × band × source), ``fracexp`` and ``exposure_s`` (bin × source), ``bands``, GTIs.
    """
    if not pieces:
        raise ValueError("no light-curve pieces to concatenate")
    bands = np.asarray(pieces[0]["bands"], dtype=float)
    n_bands, n_src = np.asarray(pieces[0]["rate"]).shape[1:]
    keys: dict[tuple[int, float], int] = {}
    starts: list[float] = []
    stops: list[float] = []
    rows = []
    for p in sorted(pieces, key=lambda q: float(np.asarray(q["bin_start"])[0])):
        if not np.array_equal(np.asarray(p["bands"], dtype=float), bands):
            raise ValueError("light curves in different bands cannot be concatenated")
        for j, k in enumerate(np.asarray(p["bin_index"])):
            # Whole-ScW bins (index -1) are never merged: key them by their start.
            key = (int(k), float(p["bin_start"][j]) if k < 0 else 0.0)
            if key not in keys:
                keys[key] = len(starts)
                starts.append(float(p["bin_start"][j]))
                stops.append(float(p["bin_stop"][j]))
            rows.append((keys[key], p, j))
    n = len(starts)
    wsum = np.zeros((n, n_src))
    ontime = np.zeros((n, n_src))
    num = np.zeros((n, n_bands, n_src))
    var = np.zeros((n, n_bands, n_src))
    for i, p, j in rows:
        r = np.asarray(p["rate"])[j]
        e = np.asarray(p["error"])[j]
        ok = np.asarray(p["usable"], dtype=bool) & np.all(np.isfinite(r), axis=0)
        ok &= np.all(np.isfinite(e), axis=0) & (float(p["livetime_s"][j]) > 0)
        w = float(p["livetime_s"][j]) * ok
        num[i] += np.where(ok, r, 0.0) * w
        var[i] += np.where(ok, e, 0.0) ** 2 * w**2
        wsum[i] += w
        ontime[i] += float(p["ontime_s"][j]) * ok
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = num / wsum[:, None, :]
        error = np.sqrt(var) / wsum[:, None, :]
    start = np.asarray(starts)
    stop = np.asarray(stops)
    order = np.argsort(start, kind="stable")
    timedel = (stop - start)[order]
    gti_start = np.concatenate([np.asarray(p["gti_start"]) for p in pieces])
    gti_stop = np.concatenate([np.asarray(p["gti_stop"]) for p in pieces])
    g = np.argsort(gti_start)
    return {
        "time": (0.5 * (start + stop))[order],
        "timedel": timedel,
        "rate": rate[order],
        "error": error[order],
        "fracexp": (ontime[order] / (timedel * _SECONDS_PER_DAY)[:, None]),
        "exposure_s": wsum[order],
        "bands": bands,
        "gti_start": gti_start[g],
        "gti_stop": gti_stop[g],
        "revolutions": np.unique([int(p["revolution"]) for p in pieces]).astype(np.int64),
    }


class ConcatLightCurves(AnalysisUnit):
    """Concatenate per-ScW light curves in time order (a reduction over ScWs)."""

    name = "isgri.lightcurve_concat"
    version = "1"
    uses_calibration = False
    params = declare()
    inputs = declare(pieces=NodeInput(many=True, doc="outputs of isgri.lightcurve_scw"))
    codec = "numpy"

    def run(self, ctx: UnitContext, pieces: list[dict[str, Any]]) -> dict[str, Any]:  # type: ignore[override]
        ctx.check()
        return concatenate_lightcurves(list(pieces))
