"""The exact pixel illumination against the sampled ray tracing the simulator uses."""

from __future__ import annotations

import numpy as np
import pytest

from processing.codedmask._pif import exact_pixel_illumination, fast_pixel_illumination
from processing.instrument import Instrument


@pytest.mark.parametrize(
    ("ty_deg", "tz_deg"), [(0.0, 0.0), (3.1, -2.2), (-7.3, 6.4), (12.9, 0.4), (-9.0, -14.0)]
)
def test_exact_illumination_is_the_limit_of_the_sampled_one(
    instrument: Instrument, ty_deg: float, tz_deg: float
) -> None:
    """Off axis along both axes a ray changes mask element along both inside the thick mask
    (the half-plane rectangles of the exact computation). Sampling 48² points per crystal
    agrees to its own resolution: measured ≤ 0.018 per crystal (≤ 0.035 with 24²), where
    taking every such rectangle half open instead is off by up to 0.036."""
    ty, tz = np.tan(np.radians([ty_deg, tz_deg]))
    exact = exact_pixel_illumination(instrument.mask, instrument.detector, float(ty), float(tz))
    sampled = fast_pixel_illumination(
        instrument.mask, instrument.detector, float(ty), float(tz), oversample=48
    ).astype(float)
    assert exact.shape == sampled.shape
    assert np.all((exact >= 0.0) & (exact <= 1.0 + 1e-9))
    assert np.abs(exact - sampled).max() < 1.2 / 48


def test_the_compiled_illumination_is_the_numpy_one(instrument: Instrument) -> None:
    """The numba kernel does the NumPy version's arithmetic in the same order: on random
    directions over the whole field (partly coded included), on the axes and beyond the mask's
    shadow, both give the same PIF (to rounding; they are bit-identical on this machine)."""
    from processing.codedmask import _pif_kernel
    from processing.codedmask._pif import numpy_pixel_illumination

    assert _pif_kernel.AVAILABLE, "numba is a dependency: the compiled kernel must load"
    rng = np.random.default_rng()
    half_width = np.tan(np.radians(16.0))
    directions = [
        *rng.uniform(-half_width, half_width, (40, 2)),
        (0.0, 0.0),
        (0.0, 0.12),
        (-0.2, 0.0),
        (0.4, 0.4),  # no shadow on the detector
    ]
    lit = 0
    for ty, tz in directions:
        compiled = exact_pixel_illumination(
            instrument.mask, instrument.detector, float(ty), float(tz)
        )
        reference = numpy_pixel_illumination(
            instrument.mask, instrument.detector, float(ty), float(tz)
        )
        np.testing.assert_allclose(compiled, reference, rtol=1e-12, atol=1e-12)
        lit += bool(reference.sum() > 0)
    assert lit >= 20  # most directions cast a shadow (the corners of the square may not)
