"""FITS time keywords of the products: one writer for every HDU that covers a time span.

Product times are INTEGRAL Julian Dates (IJD = MJD − 51544, TT), so every HDU with times states
its reference and time scale the way both the FITS standard (4.0, §9: TIMESYS, MJDREF, DATEREF,
TREFPOS, DATE-OBS/MJD-OBS, DATE-END/MJD-END, TSTART/TSTOP) and the OGIP conventions (OGIP/93-003:
MJDREFI/MJDREFF, TIMEREF, TIMEUNIT) expect. astropy's ``WCS.to_header`` writes ``MJDREF = 0.0``
(and sometimes a ``DATEREF`` of MJD 0) for a WCS without times; :func:`set_time_keywords`
removes those before writing ours, so an image HDU never carries two time origins.

Examples
--------
>>> from astropy.io import fits
>>> from astropy.time import Time
>>> h = fits.Header()
>>> set_time_keywords(h, 2000.0, 2000.5)
>>> Time(h["MJDREFI"] + h["MJDREFF"] + h["TSTART"], format="mjd", scale="tt").isot
'2005-06-23T00:00:00.000'
>>> h["DATE-END"]
'2005-06-23T12:00:00.000'
"""

from __future__ import annotations

import math

from astropy.io import fits
from astropy.time import Time

from processing.archive import MJDREF

__all__ = ["MJDREF", "TIME_KEYWORDS", "set_time_keywords"]

#: The keywords :func:`set_time_keywords` owns (removed first, then written), in header order.
TIME_KEYWORDS = (
    "TIMESYS",
    "MJDREFI",
    "MJDREFF",
    "MJDREF",
    "DATEREF",
    "TREFPOS",
    "TIMEREF",
    "TIMEUNIT",
    "TSTART",
    "TSTOP",
    "DATE-OBS",
    "MJD-OBS",
    "DATE-END",
    "MJD-END",
)

# Time origins other than ours that a WCS or an earlier writer may have left behind.
_FOREIGN_KEYWORDS = ("JDREF", "JDREFI", "JDREFF", "DATE-BEG", "MJD-BEG", "DATE-AVG", "MJD-AVG")


def set_time_keywords(header: fits.Header, tstart: float, tstop: float) -> None:
    """Write the time span ``[tstart, tstop]`` (IJD, TT) and its reference into ``header``.

    Any earlier time keywords (``MJDREF = 0.0`` from ``WCS.to_header``, a stale ``DATEREF``)
    are removed first, so the cards are written once and agree with each other: ``TSTART`` +
    ``MJDREFI`` + ``MJDREFF`` is the MJD of ``DATE-OBS`` and ``MJD-OBS``.

    Raises
    ------
    ValueError
        When a time is not finite or ``tstop < tstart``.
    """
    if not (math.isfinite(tstart) and math.isfinite(tstop)) or tstop < tstart:
        raise ValueError(f"time span [{tstart}, {tstop}] (IJD) is not a finite interval")
    for key in (*TIME_KEYWORDS, *_FOREIGN_KEYWORDS):
        header.remove(key, ignore_missing=True, remove_all=True)
    start = Time(MJDREF + tstart, format="mjd", scale="tt")
    stop = Time(MJDREF + tstop, format="mjd", scale="tt")
    reference = Time(MJDREF, format="mjd", scale="tt")
    header["TIMESYS"] = ("TT", "time scale of all times")
    header["MJDREFI"] = (int(MJDREF), "[d] integer part of the MJD time origin")
    header["MJDREFF"] = (MJDREF - int(MJDREF), "[d] fractional part of the MJD time origin")
    header["MJDREF"] = (MJDREF, "[d] MJD of the time origin (IJD = MJD - 51544)")
    header["DATEREF"] = (reference.isot, "time origin (TT), the same as MJDREF")
    header["TREFPOS"] = ("TOPOCENTER", "times at the spacecraft (not barycentred)")
    header["TIMEREF"] = ("LOCAL", "OGIP name of TREFPOS: not barycentred")
    header["TIMEUNIT"] = ("d", "unit of TSTART, TSTOP and time columns")
    header["TSTART"] = (float(tstart), "[d] start, days since the origin (IJD)")
    header["TSTOP"] = (float(tstop), "[d] stop, days since the origin (IJD)")
    header["DATE-OBS"] = (start.isot, "start (TT)")
    header["MJD-OBS"] = (float(start.mjd), "[d] start (MJD, TT)")
    header["DATE-END"] = (stop.isot, "stop (TT)")
    header["MJD-END"] = (float(stop.mjd), "[d] stop (MJD, TT)")
