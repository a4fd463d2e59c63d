"""The JEM-X-like recipes: images, spectra (and their fits), light curves (and transients).

They are the coded-mask recipes of :mod:`processing.products._isgri` run with the JEM-X-like
adapter (its channel grid, event files and IC files) and what the analysis chooses for this
camera: a mosaic pixel of its own sky pixel (detector pitch over focal length, 1.7'), the
quick spectral fits in 3-35 keV, and unit 1, the unit whose events the archive holds.
"""

from __future__ import annotations

import functools

from processing.products._isgri import (
    CameraChoices,
    ImageRecipe,
    LightCurveRecipe,
    SpectrumRecipe,
)
from processing.products._recipe import register_recipe

__all__ = ["INSTRUMENT", "JEMX_CHOICES", "UNIT_PARAM", "register"]

#: The registry name (ODA's ``instrument=jemx``).
INSTRUMENT = "jemx"
#: ODA's parameter naming the JEM-X unit.
UNIT_PARAM = "jemx_num"

#: The sky pixel of the JEM-X-like camera: its 1.65 mm detector pitch seen from 3400 mm
#: (docs/instruments.md), 0.0278 deg; its mosaics are made on it.
_SKY_PIXEL_DEG = 0.0278

JEMX_CHOICES = CameraChoices(
    mosaic_pixel_deg=_SKY_PIXEL_DEG,
    fit_band_kev=(3.0, 35.0),
    unit=1,
    unit_param=UNIT_PARAM,
)


def register() -> None:
    """Register the JEM-X-like recipes (its adapter is registered built in)."""
    register_recipe(INSTRUMENT, "image", lambda: ImageRecipe(INSTRUMENT, choices=JEMX_CHOICES))
    for kind in ("spectrum", "spectral_fit"):
        register_recipe(
            INSTRUMENT,
            kind,
            functools.partial(SpectrumRecipe, kind, INSTRUMENT, choices=JEMX_CHOICES),
        )
    for kind in ("light_curve", "transient_search"):
        register_recipe(
            INSTRUMENT,
            kind,
            functools.partial(LightCurveRecipe, kind, INSTRUMENT, choices=JEMX_CHOICES),
        )
