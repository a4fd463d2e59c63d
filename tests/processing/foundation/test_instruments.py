"""The instrument registry and band snapping on an instrument's channel grid."""

from __future__ import annotations

import pytest

from processing.instruments import (
    BandError,
    UnknownInstrumentError,
    get_instrument,
    instrument_names,
)


def test_isgri_is_registered_with_its_channel_grid() -> None:
    assert "isgri" in instrument_names()
    isgri = get_instrument("isgri")
    lo, hi = isgri.energy_range_kev
    assert (lo, hi) == (15.0, 1000.0)
    assert list(isgri.channel_edges) == sorted(isgri.channel_edges)


def test_bands_selecting_the_same_channels_snap_to_one_band() -> None:
    isgri = get_instrument("isgri")
    a = isgri.snap_band(20.4, 40.0)
    b = isgri.snap_band(20.0, 39.6)
    assert a == b
    assert (a.e_min_kev, a.e_max_kev) == (20.0, 40.0)
    assert a.channels.stop - a.channels.start == 20


@pytest.mark.parametrize(
    ("e_min", "e_max", "reason"),
    [(40.0, 20.0, "lower edge"), (2.0, 10.0, "outside"), (30.1, 30.2, "narrower")],
)
def test_bands_the_grid_cannot_hold_are_refused(e_min: float, e_max: float, reason: str) -> None:
    with pytest.raises(BandError, match=reason):
        get_instrument("isgri").snap_band(e_min, e_max)


def test_an_unknown_instrument_is_an_error() -> None:
    with pytest.raises(UnknownInstrumentError):
        get_instrument("nosuch")
