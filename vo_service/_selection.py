"""Science-window selection for a request: cone and time, or an explicit list; capped by a
deterministic subset seeded by what selects science windows (never the band or the product)."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from processing.archive import ArchiveIndex, ScienceWindow, UnknownScienceWindow
from processing.products import camera_field_deg, camera_windows
from vo_service._request import ProductRequest, RequestError

__all__ = ["select_science_windows"]


def select_science_windows(
    archive: ArchiveIndex, request: ProductRequest, ra: float | None, dec: float | None
) -> list[ScienceWindow]:
    """The science windows a request uses, in time order.

    Raises
    ------
    RequestError
        When listed science windows are unknown, or nothing matches (naming the parameter that
        most likely needs changing).
    """
    position = None if ra is None or dec is None else (ra, dec)
    if request.scw_list:
        try:
            listed = archive.get(request.scw_list)
        except UnknownScienceWindow as exc:
            raise RequestError(request.name_of("scw_list"), str(exc)) from exc
        found = camera_windows(archive, listed, request.instrument, None)
        if len(found) < len(listed):
            missing = sorted({s.scw_id for s in listed} - {s.scw_id for s in found})
            raise RequestError(
                request.name_of("scw_list"),
                f"the {request.instrument} camera has no events in {', '.join(missing[:5])}",
            )
    else:
        cone = archive.query(
            ra=ra, dec=dec, radius_deg=request.radius_deg, t1=request.t1_ijd, t2=request.t2_ijd
        )
        found = camera_windows(archive, cone, request.instrument, position)
        if cone and not found:
            field = camera_field_deg(archive, request.instrument)
            within = "" if field is None else f" within its field ({field:.1f} deg) of the position"
            raise RequestError(
                request.name_of("instrument"),
                f"none of the {len(cone)} science windows selected has {request.instrument} "
                f"events{within}",
            )
        if not found:
            param = "T1" if request.t1_ijd is not None or request.t2_ijd is not None else "radius"
            where = f"within {request.radius_deg:g} deg of RA {ra:.4f}, Dec {dec:.4f}"
            when = ""
            if request.t1_ijd is not None or request.t2_ijd is not None:
                when = f" between IJD {request.t1_ijd} and {request.t2_ijd}"
            raise RequestError(
                request.name_of(param), f"no science window in the archive points {where}{when}"
            )
    if len(found) <= request.max_pointings:
        return found
    rng = np.random.default_rng(_subset_seed(request, ra, dec))
    chosen = np.sort(rng.choice(len(found), size=request.max_pointings, replace=False))
    return [found[i] for i in chosen]


def _subset_seed(request: ProductRequest, ra: float | None, dec: float | None) -> int:
    """The seed of the capped subset: the cone (the resolved position, so a name and its
    coordinates agree), the time range, the cap and the archive, and nothing else. Another
    band, product type or threshold on the same sky reuses the same science windows, and with
    them everything cached per science window (binned events, decoded images)."""
    selection = {
        "ra": None if ra is None else round(float(ra), 6),
        "dec": None if dec is None else round(float(dec), 6),
        "radius_deg": request.radius_deg,
        "t1_ijd": request.t1_ijd,
        "t2_ijd": request.t2_ijd,
        "max_pointings": request.max_pointings,
        "instrument": request.instrument,
        "osa_version": request.osa_version,
        **({} if request.unit is None else {"unit": request.unit}),
    }
    digest = hashlib.sha256(json.dumps(selection, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:8], "little")
