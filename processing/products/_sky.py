"""Where a product is centred and which sources it models: decisions every recipe shares.

The sky model of a fitted product (spectra, light curves) is the user's catalog when given;
otherwise the reference catalog's sources within the request radius of the centre, with the
source *at the request position* leading (its products come first and name the files). The
position decides, not the name: a request by name and one by the position the name resolves to
model the same sources in the same order, so they are one product. When no catalog source lies
within :data:`LEAD_MATCH_DEG` of the position, a source is added there, labelled by its
coordinates (``J053431.9+220052``), again whatever name the client used. A field with no
catalog source within the radius is refused either way (a sky model is then the client's to
give, with ``selected_catalog``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from processing.archive import ScienceWindow
from processing.instrument import radec_to_unit, unit_to_radec
from processing.products._recipe import RecipeError, RecipeInputs

__all__ = ["LEAD_MATCH_DEG", "coordinate_label", "request_centre", "sky_model"]

#: A catalog source this close to the request position is the requested source.
LEAD_MATCH_DEG = 0.1


def request_centre(
    position: tuple[float, float] | None, science_windows: Sequence[ScienceWindow]
) -> tuple[float, float]:
    """The request's position, or the mean pointing of its science windows when it has none
    (an explicit science-window list)."""
    if position is not None:
        return position
    if not science_windows:
        raise RecipeError("scw_list", "no science window to centre on")
    vec = np.sum([radec_to_unit(s.ra_x, s.dec_x) for s in science_windows], axis=0)
    ra, dec = unit_to_radec(vec)
    return float(ra), float(dec)


def coordinate_label(ra: float, dec: float) -> str:
    """An IAU-style label of a position: ``J`` + sexagesimal RA (0.1 s) and Dec (1")."""
    total_s = round((ra % 360.0) / 15.0 * 36000.0) % (24 * 36000)
    h, rest = divmod(total_s, 36000)
    m, tenths = divmod(rest, 600)
    sign = "+" if dec >= 0 else "-"
    arcsec = round(abs(dec) * 3600.0)
    d, rest = divmod(arcsec, 3600)
    dm, ds = divmod(rest, 60)
    return f"J{h:02d}{m:02d}{tenths / 10:04.1f}{sign}{d:02d}{dm:02d}{ds:02d}"


def sky_model(
    inputs: RecipeInputs, catalog: Sequence[tuple[str, float, float]]
) -> tuple[tuple[str, float, float], ...]:
    """The sources fitted together for ``inputs``, as (name, ra, dec), the leading one first.

    ``catalog`` is the instrument's reference catalog (name, ra, dec).

    Raises
    ------
    RecipeError
        When the reference catalog has no source within the radius.
    """
    if inputs.user_catalog is not None:
        return tuple(inputs.user_catalog)
    ra, dec = request_centre(inputs.position, inputs.science_windows)
    centre = radec_to_unit(ra, dec)
    limit = np.cos(np.radians(inputs.radius_deg))
    sources = [
        (str(n), float(r), float(d))
        for n, r, d in catalog
        if float(radec_to_unit(r, d) @ centre) >= limit
    ]
    if not sources:
        raise RecipeError(
            "selected_catalog",
            "no catalog source within radius of the position: widen radius or give a sky model",
        )
    if inputs.position is not None:
        near = np.cos(np.radians(LEAD_MATCH_DEG))
        separations = [float(radec_to_unit(r, d) @ centre) for _, r, d in sources]
        best = int(np.argmax(separations))
        if separations[best] > near:
            sources.insert(0, sources.pop(best))
        else:
            sources.insert(0, (coordinate_label(ra, dec), ra, dec))
    return tuple(sources)
