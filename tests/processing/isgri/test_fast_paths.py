"""The search's fast paths against what they replace: the compiled one-model fit against the
general least-squares fit, the 3×3 masked peak refinement against masking the whole image."""

from __future__ import annotations

import numpy as np
import pytest

from processing.codedmask import _shadowfit
from processing.codedmask._detect import _refine, _refine_where
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
