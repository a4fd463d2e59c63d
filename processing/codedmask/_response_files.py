"""Spectral response of the PIF-fitted spectra: RMF (redistribution × threshold) and ARF.

The fitted rates are on-axis-equivalent count rates (:func:`processing.codedmask.source_scale`), so
the ARF is the instrument's on-axis effective area A_eff(E) (open mask included) and is the same
for every source. The RMF integrates the detector's redistribution model (Gaussian core, charge-
loss tail, Cd/Te escape peaks) and the low-threshold roll-off over each channel: the threshold
acts on the measured energy, so each channel is split into sub-channels, weighted by the
threshold efficiency, and summed. For a stack, the threshold efficiency is averaged over the
revolutions with the live-time weights of the stacked science windows.
OGIP formats: CAL/GEN/92-002 (RMF ``MATRIX`` + ``EBOUNDS``, ARF ``SPECRESP``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits
from numpy.typing import NDArray

from processing.instrument import Instrument
from processing.instruments import InstrumentSpec, adapter_of, default_instrument
from processing.pipeline import write_fits

__all__ = [
    "arf_values",
    "band_rate",
    "crab_spectrum",
    "response_matrix",
    "true_energy_edges",
    "write_arf",
    "write_rmf",
]

FloatArray = NDArray[np.float64]
_SUBCHANNELS = 4
_TRUE_BINS = 800
_CacheKey = tuple[str, tuple[float, ...], tuple[float, ...]]
_cache: dict[_CacheKey, tuple[FloatArray, FloatArray, NDArray[np.int64]]] = {}


def true_energy_edges(instrument: Instrument) -> FloatArray:
    """Logarithmic true-energy grid of the response (the instrument's energy range)."""
    lo, hi = instrument.energy_range_keV
    return np.geomspace(lo, hi, _TRUE_BINS + 1)


def _sub_edges(
    instrument: Instrument, channel_edges: FloatArray, thresholds: tuple[float, ...]
) -> FloatArray:
    """Sub-channel edges: each channel in at least 4 parts, and at most 0.1 keV wide where the
    threshold efficiency changes (within 6 roll-off widths of the thresholds in use)."""
    frac = np.arange(_SUBCHANNELS) / _SUBCHANNELS
    lo, hi = channel_edges[:-1], channel_edges[1:]
    parts = [(lo[:, None] + frac[None, :] * (hi - lo)[:, None]).ravel(), channel_edges]
    thr = instrument.low_threshold
    for t in thresholds:
        parts.append(np.arange(t - 6 * thr.width_keV, t + 6 * thr.width_keV, 0.1))
    edges = np.unique(np.concatenate(parts))
    return edges[(edges >= channel_edges[0]) & (edges <= channel_edges[-1])]


def _sub_matrix(
    instrument: Instrument, channel_edges: FloatArray, thresholds: tuple[float, ...]
) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
    key = (instrument.calibration_version, tuple(float(x) for x in channel_edges), thresholds)
    if key not in _cache:
        sub_edges = _sub_edges(instrument, channel_edges, thresholds)
        matrix = instrument.redistribution.matrix(true_energy_edges(instrument), sub_edges)
        centre = 0.5 * (sub_edges[1:] + sub_edges[:-1])
        channel = np.searchsorted(channel_edges, centre, side="right") - 1
        if len(_cache) > 8:
            _cache.clear()
        _cache[key] = (matrix, centre, channel)
    return _cache[key]


def response_matrix(
    instrument: Instrument,
    channel_edges: FloatArray,
    revolutions: Sequence[int],
    weights: Sequence[float] | FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Redistribution matrix R[true bin, channel] including the (weighted) low threshold.

    Returns ``(matrix, energ_lo, energ_hi)``.
    """
    edges = np.asarray(channel_edges, dtype=float)
    w = np.asarray(weights, dtype=float)
    if len(revolutions) == 0 or w.sum() <= 0:
        raise ValueError("a response needs at least one revolution with a positive weight")
    thresholds = tuple(sorted({instrument.low_threshold.at(int(r)) for r in revolutions}))
    sub_matrix, sub_centre, channel = _sub_matrix(instrument, edges, thresholds)
    thr = np.zeros(sub_centre.size)
    for rev, weight in zip(revolutions, w, strict=True):
        thr += weight * instrument.low_threshold.efficiency(sub_centre, int(rev))
    thr /= w.sum()
    n_chan = edges.size - 1
    weighted = sub_matrix * thr[None, :]
    matrix = np.zeros((weighted.shape[0], n_chan))
    for j in range(n_chan):  # sub-channels of a channel are contiguous
        sel = np.flatnonzero(channel == j)
        matrix[:, j] = weighted[:, sel[0] : sel[-1] + 1].sum(axis=1)
    true_edges = true_energy_edges(instrument)
    return matrix, true_edges[:-1], true_edges[1:]


def arf_values(instrument: Instrument, energ_lo: FloatArray, energ_hi: FloatArray) -> FloatArray:
    """ARF (cm²): the on-axis effective area, averaged over each true-energy bin."""
    sub = np.linspace(0.0, 1.0, 9)
    grid = energ_lo[:, None] * (energ_hi / energ_lo)[:, None] ** sub[None, :]
    return np.asarray(instrument.effective_area(grid).mean(axis=1), dtype=float)


def _adapter(instrument: Instrument) -> InstrumentSpec:
    """The adapter of the IC files ``instrument`` was loaded from (the default instrument's for
    a model built without files)."""
    return adapter_of(instrument) if instrument.calibration_files else default_instrument()


def _common_cards(header: fits.Header, instrument: Instrument) -> None:
    for key, value, comment in _adapter(instrument).fits.cards():
        header[key] = (value, comment)
    header["FILTER"] = ("NONE", "filter")
    header["HDUCLASS"] = ("OGIP", "format conforms to OGIP standard")
    header["CALVERS"] = (instrument.calibration_version, "calibration files (hash)")


def write_rmf(
    path: Path,
    instrument: Instrument,
    channel_edges: FloatArray,
    matrix: FloatArray,
    energ_lo: FloatArray,
    energ_hi: FloatArray,
    extra_cards: Sequence[tuple[str, object, str]] = (),
) -> None:
    """Write an OGIP RMF (``MATRIX`` and ``EBOUNDS``), channels numbered from 1.

    Rows are stored as one group from the first to the last channel above 1e-8 (zero-suppressed
    variable-length arrays), as CAL/GEN/92-002 allows.
    """
    n_chan = channel_edges.size - 1
    thresh = 1e-8
    f_chan = np.zeros(matrix.shape[0], dtype=np.int32)
    n_chan_col = np.zeros(matrix.shape[0], dtype=np.int32)
    rows: list[NDArray[np.float32]] = []
    for i, row in enumerate(matrix):
        nz = np.flatnonzero(row > thresh)
        if nz.size == 0:
            f_chan[i], n_chan_col[i] = 1, 1
            rows.append(np.zeros(1, dtype=np.float32))
            continue
        f_chan[i] = nz[0] + 1
        n_chan_col[i] = nz[-1] - nz[0] + 1
        rows.append(row[nz[0] : nz[-1] + 1].astype(np.float32))
    matrix_hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", unit="keV", array=energ_lo),
            fits.Column("ENERG_HI", "E", unit="keV", array=energ_hi),
            fits.Column("N_GRP", "I", array=np.ones(matrix.shape[0], dtype=np.int16)),
            fits.Column("F_CHAN", "J", array=f_chan),
            fits.Column("N_CHAN", "J", array=n_chan_col),
            fits.Column("MATRIX", "PE()", array=np.array(rows, dtype=object)),
        ],
        name="MATRIX",
    )
    h = matrix_hdu.header
    _common_cards(h, instrument)
    h["HDUCLAS1"] = ("RESPONSE", "dataset relates to spectral response")
    h["HDUCLAS2"] = ("RSP_MATRIX", "dataset is a spectral response matrix")
    h["HDUCLAS3"] = ("REDIST", "redistribution only (the area is in the ARF)")
    h["HDUVERS"] = ("1.3.0", "version of the format")
    h["CHANTYPE"] = ("PI", "channel type")
    h["DETCHANS"] = (n_chan, "number of channels")
    h["LO_THRES"] = (thresh, "lowest probability stored")
    h["TLMIN4"] = (1, "first channel number")
    h["TLMAX4"] = (n_chan, "last channel number")
    for key, value, comment in extra_cards:
        h[key] = (value, comment)
    ebounds = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "J", array=np.arange(1, n_chan + 1, dtype=np.int32)),
            fits.Column("E_MIN", "E", unit="keV", array=channel_edges[:-1]),
            fits.Column("E_MAX", "E", unit="keV", array=channel_edges[1:]),
        ],
        name="EBOUNDS",
    )
    h = ebounds.header
    _common_cards(h, instrument)
    h["HDUCLAS1"] = ("RESPONSE", "dataset relates to spectral response")
    h["HDUCLAS2"] = ("EBOUNDS", "nominal energies of the channels")
    h["HDUVERS"] = ("1.2.0", "version of the format")
    h["CHANTYPE"] = ("PI", "channel type")
    h["DETCHANS"] = (n_chan, "number of channels")
    h["TLMIN1"] = (1, "first channel number")
    h["TLMAX1"] = (n_chan, "last channel number")
    write_fits(fits.HDUList([fits.PrimaryHDU(), matrix_hdu, ebounds]), path)


def write_arf(
    path: Path,
    instrument: Instrument,
    energ_lo: FloatArray,
    energ_hi: FloatArray,
    specresp: FloatArray,
    extra_cards: Sequence[tuple[str, object, str]] = (),
) -> None:
    """Write an OGIP ARF (``SPECRESP``)."""
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", unit="keV", array=energ_lo),
            fits.Column("ENERG_HI", "E", unit="keV", array=energ_hi),
            fits.Column("SPECRESP", "E", unit="cm**2", array=specresp),
        ],
        name="SPECRESP",
    )
    h = hdu.header
    _common_cards(h, instrument)
    h["HDUCLAS1"] = ("RESPONSE", "dataset relates to spectral response")
    h["HDUCLAS2"] = ("SPECRESP", "effective area")
    h["HDUVERS"] = ("1.1.0", "version of the format")
    h["COMMENT"] = "On-axis effective area incl. the open mask; rates are on-axis equivalent."
    for key, value, comment in extra_cards:
        h[key] = (value, comment)
    write_fits(fits.HDUList([fits.PrimaryHDU(), hdu]), path)


def band_rate(
    instrument: Instrument,
    photon_spectrum: Callable[[FloatArray], FloatArray],
    band: tuple[float, float],
    revolutions: Sequence[int],
    weights: Sequence[float] | FloatArray,
) -> float:
    """On-axis count rate (counts/s) in a measured-energy band of a photon spectrum.

    ``photon_spectrum(E)`` gives ph cm⁻² s⁻¹ keV⁻¹ at ``E`` keV. This converts the rates of the
    products into physical units (e.g. the Crab's rate in the band, for mCrab light curves).
    """
    edges = np.asarray(band, dtype=float)
    matrix, elo, ehi = response_matrix(instrument, edges, revolutions, weights)
    centre = np.sqrt(elo * ehi)
    folded = (photon_spectrum(centre) * (ehi - elo) * arf_values(instrument, elo, ehi)) @ matrix
    return float(folded[0])


def crab_spectrum(energy: FloatArray) -> FloatArray:
    """The Crab as the archive defines 1000 mCrab: 10 E^-2.1 ph cm⁻² s⁻¹ keV⁻¹."""
    return np.asarray(10.0 * np.asarray(energy, dtype=float) ** -2.1)
