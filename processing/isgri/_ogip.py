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
from astropy.time import Time
from numpy.typing import NDArray

from processing.pipeline import write_fits

__all__ = ["MJDREF", "write_lightcurve", "write_pha"]

FloatArray = NDArray[np.float64]

#: INTEGRAL Julian Date origin: IJD = MJD - 51544 (TT).
MJDREF = 51544.0

Card = tuple[str, object, str]


def _common(header: fits.Header) -> None:
    header["TELESCOP"] = ("INTEGRAL", "mission")
    header["INSTRUME"] = ("IBIS", "instrument")
    header["DETNAM"] = ("ISGRI", "detector")
    header["FILTER"] = ("NONE", "filter")


def _time_cards(header: fits.Header, tstart: float, tstop: float) -> None:
    header["TIMESYS"] = ("TT", "time system")
    header["MJDREFI"] = (int(MJDREF), "integer part of MJD reference")
    header["MJDREFF"] = (0.0, "fractional part of MJD reference")
    header["MJDREF"] = (MJDREF, "MJD of the time origin (IJD = MJD - 51544)")
    header["TIMEREF"] = ("LOCAL", "times are not barycentred")
    header["TIMEUNIT"] = ("d", "unit of TSTART, TSTOP and TIME")
    header["TSTART"] = (tstart, "[d] start (IJD)")
    header["TSTOP"] = (tstop, "[d] stop (IJD)")
    start = Time(MJDREF + tstart, format="mjd", scale="tt")
    stop = Time(MJDREF + tstop, format="mjd", scale="tt")
    header["DATE-OBS"] = (start.isot, "start (TT)")
    header["DATE-END"] = (stop.isot, "stop (TT)")


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
    _common(h)
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
    _time_cards(h, tstart, tstop)
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
) -> None:
    """Write an OGIP light curve of one source in one band (TIME = bin centre, IJD days)."""
    tstart = float(np.min(time - 0.5 * timedel)) if time.size else 0.0
    tstop = float(np.max(time + 0.5 * timedel)) if time.size else 0.0
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
    _common(h)
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
    _time_cards(h, tstart, tstop)
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
    _common(gh)
    gh["HDUCLASS"] = ("OGIP", "")
    gh["HDUCLAS1"] = ("GTI", "")
    gh["HDUCLAS2"] = ("STANDARD", "")
    _time_cards(gh, tstart, tstop)
    write_fits(fits.HDUList([fits.PrimaryHDU(), hdu, gti]), path)
