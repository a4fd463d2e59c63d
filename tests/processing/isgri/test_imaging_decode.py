"""Decoding: resampled decoding arrays, empty-sky statistics, the variance cross term, the WCS."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from processing.codedmask._sourcemodel import _refine
from processing.instrument import Attitude, Instrument
from processing.isgri import ImagingModel, fit_background, resample_mask, scw_wcs

from .conftest import significance_values, simulate_band


def test_resampled_mask_conserves_open_area(instrument: Instrument) -> None:
    mask = instrument.mask
    pitch = instrument.detector.pitch_mm
    m_r, in_r = resample_mask(mask.pattern, mask.element_mm, pitch, 234, 116.5)
    assert m_r.min() >= 0 and m_r.max() <= 1 + 1e-12
    assert np.all(in_r - m_r >= -1e-12)  # G- = In_r - M_r is a closed fraction
    open_area = mask.pattern.sum() * mask.element_mm**2
    assert m_r.sum() * pitch**2 == pytest.approx(open_area, rel=1e-9)
    assert in_r.sum() * pitch**2 == pytest.approx((mask.size * mask.element_mm) ** 2, rel=1e-9)
    # Element/pitch is not an integer: fractional cells exist.
    assert np.any((m_r > 0.01) & (m_r < 0.99))


def test_fft_padding_avoids_cyclic_wrap(model: ImagingModel) -> None:
    dec = model.decoder
    assert all(f >= s for f, s in zip(dec.fft_shape, dec.shape, strict=True))
    assert dec.shape == (dec.n_cells[0] + 129, dec.n_cells[1] + 133)


def _empty_sky(instrument: Instrument, model: ImagingModel, seed: int) -> np.ndarray:
    sim = simulate_band(instrument, offsets_deg=[], flux_mcrab=[], duration_s=1500, seed=seed)
    band = sim.band
    dec = model.decoder
    used = band.used
    bg = fit_background(band.rate, instrument.background_template, instrument.detector.module, used)
    sky = dec.decode(band.rate - bg, band.variance)
    return significance_values(sky.image, sky.variance, sky.coded)


@pytest.mark.slow
def test_empty_sky_significance_is_standard_normal(
    instrument: Instrument, model: ImagingModel
) -> None:
    values = np.concatenate([_empty_sky(instrument, model, seed) for seed in (11, 12, 13)])
    assert abs(values.mean()) < 0.05
    assert values.std() == pytest.approx(1.0, abs=0.05)
    assert np.abs(values).max() < 6.0


def test_variance_needs_the_cross_term(instrument: Instrument, model: ImagingModel) -> None:
    """Without the cross term the noise is overestimated by several per cent (σ ≈ 0.92)."""
    sim = simulate_band(instrument, offsets_deg=[], flux_mcrab=[], duration_s=1500, seed=21)
    dec, band = model.decoder, sim.band
    bg = fit_background(
        band.rate, instrument.background_template, instrument.detector.module, band.used
    )
    sky = dec.decode(band.rate - bg, band.variance)
    with_cross = significance_values(sky.image, sky.variance, sky.coded)
    wv = dec.weights**2 * band.variance
    n_p, n_m = np.where(dec.valid, dec.n_plus, 1.0), np.where(dec.valid, dec.n_minus, 1.0)
    no_cross = dec._correlate("pp", wv) / n_p**2 + dec._correlate("mm", wv) / n_m**2
    without = significance_values(sky.image, np.where(dec.valid, no_cross, 0.0), sky.coded)
    assert with_cross.std() == pytest.approx(1.0, abs=0.05)
    assert without.std() < 0.96


@pytest.mark.parametrize("offset", [(0.0, 0.0), (3.3, -2.1), (-7.4, 5.9), (11.0, 2.5)])
def test_wcs_places_a_noiseless_injection_to_sub_pixel_accuracy(
    model: ImagingModel, offset: tuple[float, float]
) -> None:
    """A noiseless source decoded and refined lands within 0.15 pixel of its true position."""
    attitude = Attitude.from_roll(83.63, 22.01, 37.0)
    dec = model.decoder
    truth = SkyCoord(83.63 + offset[0] / np.cos(np.radians(22.01)), 22.01 + offset[1], unit="deg")
    ty, tz, _ = attitude.to_tangents(truth.ra.deg, truth.dec.deg)
    image = model.modeller.image(float(ty), float(tz))
    # Noiseless ghosts are nearly as high as the source: look near the expected pixel only.
    pa, pb = (round(float(p)) for p in dec.tangent_to_pixel(ty, tz))
    window = image[pa - 4 : pa + 5, pb - 4 : pb + 5]
    wa, wb = np.unravel_index(int(np.argmax(window)), window.shape)
    a, b = pa - 4 + wa, pb - 4 + wb
    fa, fb = _refine(image, int(a), int(b))
    ra, dec_ = scw_wcs(attitude, dec).pixel_to_world_values(fb, fa)
    found = SkyCoord(float(ra), float(dec_), unit="deg")
    pixel_arcmin = np.degrees(dec.pixel_tan) * 60.0
    assert found.separation(truth).arcmin < 0.15 * pixel_arcmin
    # The WCS agrees with the attitude's own tangent-plane geometry at an arbitrary pixel.
    ra2, dec2 = scw_wcs(attitude, dec).pixel_to_world_values(250.3, 120.7)
    ty2, tz2 = dec.pixel_to_tangent(120.7, 250.3)
    ra3, dec3 = attitude.to_sky(ty2, tz2)
    sep = SkyCoord(float(ra2), float(dec2), unit="deg").separation(
        SkyCoord(float(ra3), float(dec3), unit="deg")
    )
    assert sep.arcsec < 0.5


@pytest.mark.parametrize("projection", ["TAN", "CAR"])
def test_mosaic_grid_is_centred_on_the_request(projection: str) -> None:
    from processing.isgri import mosaic_wcs

    wcs, (ny, nx) = mosaic_wcs(266.4, -28.9, 10.0, 0.0823, projection)
    assert ny == nx and ny % 2 == 1 and ny * 0.0823 >= 20.0
    ra, dec = wcs.pixel_to_world_values((nx - 1) / 2.0, (ny - 1) / 2.0)
    assert float(ra) == pytest.approx(266.4, abs=1e-9)
    assert float(dec) == pytest.approx(-28.9, abs=1e-9)
    # North up, east left.
    _, dec_up = wcs.pixel_to_world_values((nx - 1) / 2.0, (ny - 1) / 2.0 + 10)
    ra_left, _ = wcs.pixel_to_world_values((nx - 1) / 2.0 - 10, (ny - 1) / 2.0)
    assert float(dec_up) > -28.9 and float(ra_left) > 266.4
