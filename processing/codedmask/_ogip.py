"""OGIP files of the spectral and timing products.

* PHA type I spectra (OGIP/92-007): ``SPECTRUM`` extension with CHANNEL, RATE, STAT_ERR,
  SYS_ERR (fractional systematics) and QUALITY; RATE is a net (background-free) on-axis-equivalent
  rate, hence POISSERR = F, BACKFILE = NONE.
* Light curves (OGIP/93-003): ``RATE`` extension with TIME (bin centre, days since MJDREF),
  TIMEDEL, RATE, ERROR and FRACEXP, plus a ``GTI`` extension; MJDREF = 51544 (IJD), TIMESYS = TT,
  TIMEUNIT = d.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits
from numpy.typing import NDArray

from processing.codedmask._fits_time import MJDREF, set_time_keywords
from processing.instruments import InstrumentSpec, default_instrument
from processing.pipeline import write_fits

__all__ = ["MJDREF", "good_span", "write_lightcurve", "write_pha"]

FloatArray = NDArray[np.float64]

Card = tuple[str, object, str]


def _common(header: fits.Header, instrument: InstrumentSpec | None) -> None:
    spec = default_instrument() if instrument is None else instrument
    for key, value, comment in spec.fits.cards():
        header[key] = (value, comment)
    header["FILTER"] = ("NONE", "filter")


def good_span(
    bin_lo: FloatArray, bin_hi: FloatArray, gti_start: FloatArray, gti_stop: FloatArray
) -> tuple[float, float]:
    """First and last good time inside the bins ``[bin_lo, bin_hi]`` (IJD).

    Bins lie on a grid that does not start with the data: the first bin of a science window
    opens up to one bin width before it. Clipping the first and last bins to the GTIs they
    overlap makes TSTART/TSTOP the span of the data, as for the images and spectra. Without
    an overlapping GTI the bin edges are kept.
    """
    first, last = int(np.argmin(bin_lo)), int(np.argmax(bin_hi))
    lo, hi = float(bin_lo[first]), float(bin_hi[last])
    starts = gti_start[(gti_stop > lo) & (gti_start < float(bin_hi[first]))]
    stops = gti_stop[(gti_start < hi) & (gti_stop > float(bin_lo[last]))]
    tstart = max(lo, float(starts.min())) if starts.size else lo
    tstop = min(hi, float(stops.max())) if stops.size else hi
    return tstart, tstop


def write_pha(
    path: Path,
    *,
    rate: FloatArray,
    stat_err: FloatArray,
    exposure_s: float,
    sys_err: float,
    source: str,
    ra: float,
    dec: float,
    tstart: float,
    tstop: float,
    respfile: str,
    ancrfile: str,
    extra_cards: Sequence[Card] = (),
    instrument: InstrumentSpec | None = None,
) -> None:
    """Write an OGIP PHA type I spectrum of one source (channels numbered from 1).

    Channels without a finite rate or error get QUALITY = 1 (bad) and zeros.
    """
    n = rate.size
    good = np.isfinite(rate) & np.isfinite(stat_err) & (stat_err > 0)
    quality = np.where(good, 0, 1).astype(np.int16)
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "J", array=np.arange(1, n + 1, dtype=np.int32)),
            fits.Column("RATE", "E", unit="count/s", array=np.where(good, rate, 0.0)),
            fits.Column("STAT_ERR", "E", unit="count/s", array=np.where(good, stat_err, 0.0)),
            fits.Column("SYS_ERR", "E", array=np.full(n, sys_err, dtype=np.float32)),
            fits.Column("QUALITY", "I", array=quality),
        ],
        name="SPECTRUM",
    )
    h = hdu.header
    _common(h, instrument)
    h["OBJECT"] = (source, "source name")
    h["RA_OBJ"] = (ra, "[deg] source right ascension (ICRS)")
    h["DEC_OBJ"] = (dec, "[deg] source declination (ICRS)")
    h["EQUINOX"] = (2000.0, "")
    h["RADESYS"] = ("ICRS", "")
    h["HDUCLASS"] = ("OGIP", "format conforms to OGIP standard")
    h["HDUCLAS1"] = ("SPECTRUM", "PHA dataset")
    h["HDUCLAS2"] = ("NET", "net: background fitted per module")
    h["HDUCLAS3"] = ("RATE", "counts per second")
    h["HDUCLAS4"] = ("TYPE:I", "one spectrum per file")
    h["HDUVERS"] = ("1.2.1", "version of the format")
    h["CHANTYPE"] = ("PI", "channel type")
    h["DETCHANS"] = (n, "number of channels")
    h["TLMIN1"] = (1, "first channel number")
    h["TLMAX1"] = (n, "last channel number")
    h["EXPOSURE"] = (float(exposure_s), "[s] dead-time-corrected exposure")
    h["AREASCAL"] = (1.0, "area scaling")
    h["BACKFILE"] = ("NONE", "background fitted, no file")
    h["BACKSCAL"] = (1.0, "background scaling")
    h["CORRFILE"] = ("NONE", "")
    h["CORRSCAL"] = (1.0, "")
    h["RESPFILE"] = (respfile, "redistribution matrix")
    h["ANCRFILE"] = (ancrfile, "ancillary response")
    h["POISSERR"] = (False, "errors are not Poisson: use STAT_ERR")
    h["GROUPING"] = (0, "no grouping")
    set_time_keywords(h, tstart, tstop)
    for key, value, comment in extra_cards:
        h[key] = (value, comment)
    write_fits(fits.HDUList([fits.PrimaryHDU(), hdu]), path)


def write_lightcurve(
    path: Path,
    *,
    time: FloatArray,
    timedel: FloatArray,
    rate: FloatArray,
    error: FloatArray,
    fracexp: FloatArray,
    gti_start: FloatArray,
    gti_stop: FloatArray,
    source: str,
    ra: float,
    dec: float,
    e_min: float,
    e_max: float,
    extra_cards: Sequence[Card] = (),
    instrument: InstrumentSpec | None = None,
) -> None:
    """Write an OGIP light curve of one source in one band (TIME = bin centre, IJD days).

    TSTART/TSTOP are the first and last good times the bins hold (see :func:`good_span`).

    Raises
    ------
    ValueError
        When there are no bins.
    """
    if not time.size:
        raise ValueError(f"light curve of {source}: no bins to write")
    tstart, tstop = good_span(time - 0.5 * timedel, time + 0.5 * timedel, gti_start, gti_stop)
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("TIME", "D", unit="d", array=time),
            fits.Column("TIMEDEL", "D", unit="d", array=timedel),
            fits.Column("RATE", "E", unit="count/s", array=rate),
            fits.Column("ERROR", "E", unit="count/s", array=error),
            fits.Column("FRACEXP", "E", array=fracexp),
        ],
        name="RATE",
    )
    h = hdu.header
    _common(h, instrument)
    h["OBJECT"] = (source, "source name")
    h["RA_OBJ"] = (ra, "[deg] source right ascension (ICRS)")
    h["DEC_OBJ"] = (dec, "[deg] source declination (ICRS)")
    h["HDUCLASS"] = ("OGIP", "format conforms to OGIP standard")
    h["HDUCLAS1"] = ("LIGHTCURVE", "light curve dataset")
    h["HDUCLAS2"] = ("NET", "net: background fitted per module")
    h["HDUCLAS3"] = ("RATE", "counts per second")
    h["HDUVERS"] = ("1.1.0", "version of the format")
    h["E_MIN"] = (e_min, "[keV] lower band edge")
    h["E_MAX"] = (e_max, "[keV] upper band edge")
    h["EUNIT"] = ("keV", "unit of E_MIN and E_MAX")
    h["TIMEPIXR"] = (0.5, "TIME is the bin centre")
    h["TIMEDEL"] = (float(np.median(timedel)) if timedel.size else 0.0, "[d] nominal bin size")
    h["TIMEZERO"] = (0.0, "[d] time offset")
    h["TUNIT1"] = "d"
    set_time_keywords(h, tstart, tstop)
    for key, value, comment in extra_cards:
        h[key] = (value, comment)
    gti = fits.BinTableHDU.from_columns(
        [
            fits.Column("START", "D", unit="d", array=gti_start),
            fits.Column("STOP", "D", unit="d", array=gti_stop),
        ],
        name="GTI",
    )
    gh = gti.header
    _common(gh, instrument)
    gh["HDUCLASS"] = ("OGIP", "")
    gh["HDUCLAS1"] = ("GTI", "")
    gh["HDUCLAS2"] = ("STANDARD", "")
    set_time_keywords(gh, tstart, tstop)
    write_fits(fits.HDUList([fits.PrimaryHDU(), hdu, gti]), path)
