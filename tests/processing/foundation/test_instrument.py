"""The instrument model: a true MURA mask, ISGRI geometry, response, all loaded from IC files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from processing.instrument import (
    Attitude,
    CalibrationError,
    coded_fraction,
    cyclic_extension,
    load_instrument,
    mura_pattern,
    pixel_illumination,
    write_calibration,
)


@pytest.fixture(scope="module")
def instrument(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("ic")
    write_calibration(root)
    return load_instrument(root)


def test_basic_pattern_is_a_mura() -> None:
    a = mura_pattern(53).astype(float)
    assert a.shape == (53, 53)
    assert abs(a.mean() - 0.5) < 0.01
    # MURA decoding array: G = 2A - 1 except G[0, 0] = +1. Cyclic correlation is a delta.
    g = 2 * a - 1
    g[0, 0] = 1
    corr = np.real(np.fft.ifft2(np.fft.fft2(a) * np.conj(np.fft.fft2(g))))
    peak = corr[0, 0]
    off_peak = np.delete(corr.ravel(), 0)
    assert peak == pytest.approx((53 * 53 - 1) / 2, abs=1e-6)
    assert np.max(np.abs(off_peak)) < 1e-6


def test_non_prime_order_is_refused() -> None:
    with pytest.raises(ValueError, match="prime"):
        mura_pattern(51)


def test_mask_is_cyclically_extended_to_95(instrument) -> None:  # type: ignore[no-untyped-def]
    m = instrument.mask.pattern
    assert m.shape == (95, 95)
    np.testing.assert_array_equal(m[:42], m[53:95])  # period 53 along both axes
    np.testing.assert_array_equal(m[:, :42], m[:, 53:95])
    np.testing.assert_array_equal(m, cyclic_extension(mura_pattern(53), 95))
    assert instrument.mask.element_mm == 11.2
    assert instrument.mask.thickness_mm == 16.0
    assert instrument.mask.focal_mm == 3200.0


def test_detector_geometry_has_modules_and_gaps(instrument) -> None:  # type: ignore[no-untyped-def]
    det = instrument.detector
    assert det.shape == (130, 134)
    assert det.n_modules == 8
    assert set(np.unique(det.module)) == {-1, *range(8)}
    # gaps: DETY 64-65, DETZ 32-33, 66-67, 100-101
    assert np.all(det.module[64:66, :] == -1)
    for z in (32, 33, 66, 67, 100, 101):
        assert np.all(det.module[:, z] == -1)
    assert (det.module >= 0).sum() == 128 * 128
    assert np.all(det.live[det.module < 0] == 0)
    assert 0.98 < det.live.sum() / 128**2 < 1.0  # a few dead pixels
    assert det.sensitive_area_cm2 == pytest.approx(2621.44)
    assert instrument.sky_pixel_deg * 60 == pytest.approx(4.94, abs=0.01)


def test_fields_of_view(instrument) -> None:  # type: ignore[no-untyped-def]
    mask, det = instrument.mask, instrument.detector

    def cf(deg: float) -> float:
        return coded_fraction(mask, det, float(np.tan(np.radians(deg))), 0.0)

    assert cf(4.0) == 1.0  # fully coded ~8.3 deg wide
    assert cf(4.5) < 1.0
    assert 0.4 < cf(9.5) < 0.6  # half coded ~19 deg wide
    assert cf(15.0) == 0.0  # zero response ~29 deg wide


def test_thick_mask_vignetting(instrument) -> None:  # type: ignore[no-untyped-def]
    mask, det = instrument.mask, instrument.detector
    live = det.live > 0
    on = pixel_illumination(mask, det, 0.0, 0.0)[live].mean()
    assert on == pytest.approx(mask.open_fraction, abs=0.02)
    t = float(np.tan(np.radians(3.0)))
    off = pixel_illumination(mask, det, t, 0.0)[live].mean()
    # Fully coded, so only the walls of the 16 mm mask shade: a few per cent at 3 degrees.
    assert 0.90 < off / on < 0.99


def test_response_model(instrument) -> None:  # type: ignore[no-untyped-def]
    red = instrument.redistribution
    assert red.sigma(np.array([60.0]))[0] * 2.3548 == pytest.approx(4.8, rel=1e-3)
    edges = np.geomspace(15, 1000, 200)
    channels = np.linspace(10, 1100, 400)
    matrix = red.matrix(edges, channels)
    assert np.all(matrix >= 0)
    centre = np.sqrt(edges[1:] * edges[:-1])
    inside = (centre > 40) & (centre < 900)  # escape peaks and tails stay above 10 keV
    assert np.allclose(matrix.sum(axis=1)[inside], 1.0, atol=1e-3)  # probability conserved
    low = (centre > 27) & (centre < 32)  # Cd escape from here falls below the channels
    assert np.all(matrix.sum(axis=1)[low] < 0.95)
    rng = np.random.default_rng(1)
    sample = red.sample(np.full(200_000, 100.0), rng)
    # Sampled and integrated model agree on the fraction of events below 90 keV.
    true_bin = np.searchsorted(edges, 100.0) - 1
    frac_model = matrix[true_bin, channels[:-1] < 90.0].sum()
    assert (sample < 90.0).mean() == pytest.approx(frac_model, abs=0.02)
    assert instrument.low_threshold.at(500) == 15.0
    assert instrument.low_threshold.at(1200) == 22.0
    assert instrument.low_threshold.at(1700) == 30.0
    assert instrument.effective_area(np.array([60.0]))[0] == pytest.approx(920.0)


def test_calibration_is_read_from_the_files(tmp_path: Path) -> None:
    files = write_calibration(tmp_path)
    mask_file = next(f for f in files if "mask" in f.name)
    with fits.open(mask_file, mode="update") as hdul:
        hdul["ISGR-MASK-MOD"].header["FOCALLEN"] = 3400.0
    inst = load_instrument(tmp_path)
    assert inst.mask.focal_mm == 3400.0  # the code holds no second copy of the numbers
    version_a = inst.calibration_version
    write_calibration(tmp_path)
    assert load_instrument(tmp_path).calibration_version != version_a


def test_missing_calibration_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="isgr_mask_mod"):
        load_instrument(tmp_path)


def test_attitude_round_trip() -> None:
    att = Attitude.from_roll(83.6, 22.0, 37.0)
    ra = np.array([83.6, 85.0, 80.0, 90.0])
    dec = np.array([22.0, 25.0, 18.0, 21.0])
    ty, tz, front = att.to_tangents(ra, dec)
    assert front.all()
    back_ra, back_dec = att.to_sky(ty, tz)
    np.testing.assert_allclose(back_ra, ra, atol=1e-9)
    np.testing.assert_allclose(back_dec, dec, atol=1e-9)
    # roll 0: Z points north, Y east
    att0 = Attitude.from_roll(83.6, 22.0, 0.0)
    ty, tz, _ = att0.to_tangents(83.6, 23.0)
    assert abs(ty) < 1e-9 and tz > 0
    ty, tz, _ = att0.to_tangents(84.6, 22.0)
    assert ty > 0 and abs(tz) < 1e-3
