"""The search's fast paths against what they replace: the compiled one-model fit against the
general least-squares fit, the 3×3 masked peak refinement against masking the whole image."""

from __future__ import annotations

import numpy as np
import pytest

from processing.codedmask import _shadowfit
from processing.codedmask._sourcemodel import _refine, _refine_where
from processing.instrument import Instrument


def test_the_compiled_fit_is_compiled() -> None:
    assert _shadowfit.COMPILED, "numba is a dependency: the compiled fit must load"


def test_one_model_fit_is_the_least_squares_fit(instrument: Instrument) -> None:
    """On the real detector's modules and template, random data and random models (patches,
    spread, zero on every fitted pixel): the same flux and error as :func:`least_squares` to
    rounding."""
    rng = np.random.default_rng()
    det = instrument.detector
    module = det.module
    template = instrument.background_template.astype(float)
    used = det.live.astype(bool) & (rng.uniform(size=det.shape) > 0.03)
    rate = rng.normal(0.0, 1.0, det.shape) + template
    variance = rng.uniform(0.5, 2.0, det.shape)
    models = [rng.uniform(size=det.shape) * (rng.uniform(size=det.shape) < p) for p in (0.5, 0.9)]
    models.append(np.zeros(det.shape))
    for _ in range(20):
        spot = np.zeros(det.shape)
        a, b = rng.integers(0, det.shape[0]), rng.integers(0, det.shape[1])
        spot[max(a - 20, 0) : a + 20, max(b - 20, 0) : b + 20] = rng.uniform(size=(1,))
        models.append(spot)
    for model in models:
        flux, err = _shadowfit.flux_alone(model, rate, variance, template, module, used)
        ref_flux, ref_err, _ = _shadowfit.least_squares(
            [model], rate, variance, template, module, used
        )
        assert flux == pytest.approx(float(ref_flux[0]), rel=1e-10, abs=1e-12 * ref_err[0])
        assert err == pytest.approx(float(ref_err[0]), rel=1e-10, abs=1e-12)
    assert _shadowfit.flux_alone(models[2], rate, variance, template, module, used) == (0.0, 0.0)


def test_masked_refinement_reads_only_the_patch() -> None:
    rng = np.random.default_rng()
    image = rng.normal(size=(60, 70)) + 5.0
    mask = rng.uniform(size=image.shape) > 0.2
    peaks = [
        (int(a), int(b))
        for a, b in zip(rng.integers(0, 60, 300), rng.integers(0, 70, 300), strict=True)
    ]
    peaks += [(0, 5), (59, 69), (10, 0), (30, 69)]  # borders stay put
    masked = np.where(mask, image, 0.0)
    for a, b in peaks:
        assert _refine_where(image, mask, a, b) == _refine(masked, a, b)


def test_mosaic_pixel_map_is_the_nearest_scw_pixel() -> None:
    """The mosaic's flat pixel map picks, for every mosaic pixel, the ScW pixel that contains
    its centre (computed here axis by axis from the attitude), on random pointings in and out
    of the mosaic, in both projections."""
    from processing.codedmask._mosaic import _at, _pixel_map, mosaic_wcs
    from processing.instrument import Attitude, radec_to_unit

    rng = np.random.default_rng()
    shape_scw = (363, 367)
    covered = 0
    for projection in ("TAN", "CAR"):
        ra0, dec0 = rng.uniform(0, 360), rng.uniform(-80, 80)
        wcs, shape = mosaic_wcs(ra0, dec0, 12.0, 0.2, projection)
        yy, xx = np.indices(shape)
        vec = radec_to_unit(*wcs.pixel_to_world_values(xx, yy))
        for _ in range(5):
            att = Attitude.from_roll(
                ra0 + rng.uniform(-15, 15),
                float(np.clip(dec0 + rng.uniform(-15, 15), -89, 89)),
                rng.uniform(0, 360),
            )
            image = {
                "ra_x": att.ra_x,
                "dec_x": att.dec_x,
                "ra_z": att.ra_z,
                "dec_z": att.dec_z,
                "centre_pixel": [181, 183],
                "pixel_tan": 4.6 / 3200.0,
                "variance": np.ones((1, *shape_scw), np.float32),
            }
            flat, inside = _pixel_map(image, vec)
            x, y, z = att.axes
            nx = vec @ x
            ia = np.rint((vec @ y) / nx / image["pixel_tan"] + 181)
            ib = np.rint((vec @ z) / nx / image["pixel_tan"] + 183)
            expected = (nx > 0.5) & (ia >= 0) & (ia < 363) & (ib >= 0) & (ib < 367)
            assert np.array_equal(inside, expected)
            covered += int(inside.sum())
            values = rng.normal(size=shape_scw)
            picked = _at(values, flat)
            assert np.array_equal(
                picked[inside], values[ia[inside].astype(int), ib[inside].astype(int)]
            )
    assert covered > 0.2 * 10 * flat.size  # most pointings cover much of the mosaic
