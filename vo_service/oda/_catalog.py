"""The dispatcher's catalog dictionary (``ApiCatalog.get_api_dictionary()``) as our sky model.

oda_api users send ``selected_catalog`` as the JSON text of a dictionary of parallel columns
(``cat_column_names``, ``cat_column_list``, ``cat_lon_name``, ``cat_lat_name``,
``cat_coord_units``, ``cat_frame``). Our request model takes a JSON list of
``{name, ra, dec}`` (see :mod:`vo_service._catalogs`); anything that is not the dispatcher's
dictionary (a catalog product ID, our JSON list, a VOTable) passes through unchanged.
"""

from __future__ import annotations

import json
import math
from typing import Any

from astropy import units as u
from astropy.coordinates import SkyCoord

__all__ = ["OdaCatalogError", "sky_model_from_oda"]

#: Frames whose coordinates we take as ICRS (FK5 J2000 differs by tens of milliarcseconds,
#: far below ISGRI's 12' resolution).
_ICRS_LIKE = {None, "", "fk5", "icrs"}
_NAME_COLUMNS = ("src_names", "name", "names", "src_name")


class OdaCatalogError(ValueError):
    """The dispatcher catalog cannot be read; the message says why."""


def _column(columns: dict[str, list[Any]], *names: str) -> list[Any]:
    for name in names:
        if name in columns:
            return columns[name]
    raise OdaCatalogError(f"no column {names[0]!r} (columns: {', '.join(columns)})")


def _positions(
    lon: list[Any], lat: list[Any], frame: str, unit: str, names: list[str]
) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for k, (a, b) in enumerate(zip(lon, lat, strict=True)):
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            raise OdaCatalogError(f"row {k} ({names[k]}) has no position")
        if not (math.isfinite(a) and math.isfinite(b)):
            raise OdaCatalogError(f"row {k} ({names[k]}) has no finite position")
        out.append((float(a), float(b)))
    if frame in _ICRS_LIKE and unit == "deg":
        return out
    try:
        coords = SkyCoord(
            [p[0] for p in out], [p[1] for p in out], unit=unit, frame=frame or "icrs"
        ).icrs
    except (ValueError, TypeError, u.UnitsError) as exc:
        raise OdaCatalogError(f"cannot read positions in frame {frame!r}, unit {unit!r}") from exc
    return [(float(c.ra.deg), float(c.dec.deg)) for c in coords]


def sky_model_from_oda(text: str) -> str:
    """Our ``selected_catalog`` value for an oda_api ``selected_catalog`` value.

    Raises
    ------
    OdaCatalogError
        When the text is the dispatcher's dictionary but cannot be read.
    """
    try:
        parsed = json.loads(text)
    except RecursionError as exc:
        raise OdaCatalogError("the catalog is nested too deeply") from exc
    except ValueError:
        return text  # a product ID or a VOTable: our own parser reads it
    if not isinstance(parsed, dict) or "cat_column_list" not in parsed:
        return text
    names_list, values = parsed.get("cat_column_names"), parsed.get("cat_column_list")
    if not isinstance(names_list, list) or not isinstance(values, list):
        raise OdaCatalogError("cat_column_names and cat_column_list must be lists")
    if len(names_list) != len(values) or not all(isinstance(c, list) for c in values):
        raise OdaCatalogError("cat_column_names and cat_column_list differ in length")
    columns = dict(zip((str(n) for n in names_list), values, strict=True))
    names = [str(n).strip() for n in _column(columns, *_NAME_COLUMNS)]
    lon = _column(columns, str(parsed.get("cat_lon_name") or "ra"))
    lat = _column(columns, str(parsed.get("cat_lat_name") or "dec"))
    if not (len(names) == len(lon) == len(lat)):
        raise OdaCatalogError("the catalog's columns differ in length")
    if not names:
        raise OdaCatalogError("the catalog holds no source")
    frame = str(parsed.get("cat_frame") or "").lower()
    unit = str(parsed.get("cat_coord_units") or "deg").lower()
    positions = _positions(lon, lat, frame, unit, names)
    return json.dumps(
        [
            {"name": name, "ra": ra, "dec": dec}
            for name, (ra, dec) in zip(names, positions, strict=True)
        ]
    )
