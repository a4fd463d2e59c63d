"""FITS time keywords: one writer for images, catalogs, spectra and light curves."""

from __future__ import annotations

import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

from processing.codedmask._fits_time import TIME_KEYWORDS, set_time_keywords
from processing.codedmask._mosaic import mosaic_wcs
from processing.codedmask._ogip import good_span, write_lightcurve, write_pha

# 2006-09-22T00:00:00 TT and 1 h 31 min 20 s later, as IJD.
T0, T1 = 2456.0, 2456.0 + 5480.0 / 86400.0


def _times(h: fits.Header) -> tuple[Time, Time]:
    origin = h["MJDREFI"] + h["MJDREFF"]
    scale = h["TIMESYS"].lower()
    return (
        Time(origin + h["TSTART"], format="mjd", scale=scale),
        Time(origin + h["TSTOP"], format="mjd", scale=scale),
    )


def test_a_wcs_header_gets_one_time_origin_and_all_forms_agree() -> None:
    wcs, _ = mosaic_wcs(83.63, 22.01, 5.0, 0.1, "TAN")
    header = wcs.to_header()
    assert header["MJDREF"] == 0.0  # what astropy writes for a WCS without times
    header["DATE-BEG"] = "1999-01-01T00:00:00"  # a stale start from another writer
    set_time_keywords(header, T0, T1)
    assert "DATE-BEG" not in header
    assert [k for k in header if k in TIME_KEYWORDS] == list(TIME_KEYWORDS)  # each once
    start, stop = _times(header)
    assert start.isot == "2006-09-22T00:00:00.000" and header["DATE-OBS"] == start.isot
    assert stop.isot == "2006-09-22T01:31:20.000" and header["DATE-END"] == stop.isot
    assert header["MJD-OBS"] == pytest.approx(54000.0, abs=1e-9)
    assert Time(header["DATEREF"], scale="tt").mjd == header["MJDREF"] == 51544.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 'datfix' fix-ups: the cards are consistent
        read = WCS(header)
    assert list(read.wcs.mjdref) == [51544.0, 0.0] and read.wcs.timesys == "TT"
    assert read.wcs.mjdend == pytest.approx(header["MJD-END"])
    # Written twice (a header copied from another HDU), still one card each.
    set_time_keywords(header, T0 + 1, T1 + 1)
    assert sum(1 for k in header if k == "MJDREF") == 1
    assert _times(header)[0].isot == "2006-09-23T00:00:00.000"


@pytest.mark.parametrize("span", [(T1, T0), (float("nan"), T1), (T0, float("inf"))])
def test_a_span_that_is_not_an_interval_is_refused(span: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="not a finite interval"):
        set_time_keywords(fits.Header(), *span)


def test_light_curve_span_is_the_good_time_inside_its_bins(tmp_path: Path) -> None:
    """Bins on a 1000 s grid open before the ScW's first good time; TSTART does not."""
    day = 86400.0
    gti_start = np.array([T0 + 130 / day, T0 + 2000 / day])
    gti_stop = np.array([T0 + 1900 / day, T0 + 3210 / day])
    edges = T0 + np.arange(0, 4001, 1000) / day
    lo, hi = edges[:-1], edges[1:]
    assert good_span(lo, hi, gti_start, gti_stop) == (gti_start[0], gti_stop[1])
    # A source in view of the second interval only starts there.
    assert good_span(lo[2:], hi[2:], gti_start, gti_stop) == (lo[2], gti_stop[1])
    path = tmp_path / "src.lc"
    write_lightcurve(
        path,
        time=0.5 * (lo + hi),
        timedel=hi - lo,
        rate=np.ones(4),
        error=np.full(4, 0.1),
        fracexp=np.array([0.87, 0.9, 1.0, 0.21]),
        gti_start=gti_start,
        gti_stop=gti_stop,
        source="Src",
        ra=1.0,
        dec=2.0,
        e_min=20.0,
        e_max=40.0,
    )
    with fits.open(path) as hl:
        for name in ("RATE", "GTI"):
            start, stop = _times(hl[name].header)
            assert abs(start - Time(51544 + gti_start[0], format="mjd", scale="tt")) < 1 * u.ms
            assert abs(stop - Time(51544 + gti_stop[1], format="mjd", scale="tt")) < 1 * u.ms
            assert hl[name].header["TIMEREF"] == "LOCAL"
    with pytest.raises(ValueError, match="no bins"):
        empty = np.array([])
        write_lightcurve(
            path,
            time=empty,
            timedel=empty,
            rate=empty,
            error=empty,
            fracexp=empty,
            gti_start=gti_start,
            gti_stop=gti_stop,
            source="Src",
            ra=1.0,
            dec=2.0,
            e_min=20.0,
            e_max=40.0,
        )


def test_spectrum_carries_the_same_time_cards(tmp_path: Path) -> None:
    path = tmp_path / "src.pha"
    write_pha(
        path,
        rate=np.ones(3),
        stat_err=np.full(3, 0.1),
        exposure_s=1000.0,
        sys_err=0.01,
        source="Src",
        ra=1.0,
        dec=2.0,
        tstart=T0,
        tstop=T1,
        respfile="src.rmf",
        ancrfile="src.arf",
    )
    with fits.open(path) as hl:
        h = hl["SPECTRUM"].header
    assert [k for k in h if k in TIME_KEYWORDS] == list(TIME_KEYWORDS)
    assert Time(h["DATE-OBS"], scale="tt") == _times(h)[0]
    assert h["DATE-END"] == "2006-09-22T01:31:20.000"
