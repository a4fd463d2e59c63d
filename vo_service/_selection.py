"""Science-window selection for a request: cone and time, or an explicit list; capped by a
deterministic subset seeded by the request itself."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from processing.archive import ArchiveIndex, ScienceWindow, UnknownScienceWindow
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
    if request.scw_list:
        try:
            found = archive.get(request.scw_list)
        except UnknownScienceWindow as exc:
            raise RequestError(request.name_of("scw_list"), str(exc)) from exc
    else:
        found = archive.query(
            ra=ra, dec=dec, radius_deg=request.radius_deg, t1=request.t1_ijd, t2=request.t2_ijd
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
    seed = hashlib.sha256(json.dumps(request.canonical(), sort_keys=True).encode()).digest()
    rng = np.random.default_rng(int.from_bytes(seed[:8], "little"))
    chosen = np.sort(rng.choice(len(found), size=request.max_pointings, replace=False))
    return [found[i] for i in chosen]
