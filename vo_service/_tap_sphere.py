"""Spherical geometry for ADQL on SQLite: the functions queryparser's translation calls.

Geometries travel between the functions as short strings holding radians:
``p:ra,dec`` (point), ``c:ra,dec,r`` (circle), ``b:ra1,dec1,ra2,dec2`` (box corners) and
``y:ra1,dec1,ra2,dec2,...`` (polygon). Distances are great-circle (haversine); a point in a
polygon is decided in the gnomonic projection about the polygon's centre, where great
circles are straight lines, so edges are exact for polygons smaller than a hemisphere.
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
from collections.abc import Callable

__all__ = ["register_sphere_functions"]

Geometry = tuple[str, tuple[float, ...]]
_POLY = re.compile(r"\(\s*([-+0-9.eE]+)d\s*,\s*([-+0-9.eE]+)d\s*\)")


def _encode(kind: str, values: tuple[float, ...]) -> str:
    return kind + ":" + ",".join(repr(v) for v in values)


def _decode(value: object) -> Geometry:
    if not isinstance(value, str) or value[1:2] != ":":
        raise ValueError("not a geometry")
    if value[0] == "p":  # one per row: the quick way
        ra, dec = value[2:].split(",")
        return "p", (float(ra), float(dec))
    return _decode_shape(value)


@functools.lru_cache(maxsize=256)
def _decode_shape(value: str) -> Geometry:
    # Circles, boxes and polygons are mostly the query's constants: decoded once.
    return value[0], tuple(float(v) for v in value[2:].split(","))


def _distance(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    s = (
        math.sin((dec2 - dec1) / 2) ** 2
        + math.cos(dec1) * math.cos(dec2) * math.sin((ra2 - ra1) / 2) ** 2
    )
    return 2 * math.asin(min(1.0, math.sqrt(s)))


def _project(ra0: float, dec0: float, ra: float, dec: float) -> tuple[float, float] | None:
    cos_c = math.sin(dec0) * math.sin(dec) + math.cos(dec0) * math.cos(dec) * math.cos(ra - ra0)
    if cos_c <= 0:
        return None  # the far hemisphere
    x = math.cos(dec) * math.sin(ra - ra0) / cos_c
    y = (math.cos(dec0) * math.sin(dec) - math.sin(dec0) * math.cos(dec) * math.cos(ra - ra0)) / (
        cos_c
    )
    return x, y


def _vertices(geometry: Geometry) -> list[tuple[float, float]]:
    kind, v = geometry
    if kind == "y":
        return list(zip(v[0::2], v[1::2], strict=True))
    if kind == "b":
        ra1, dec1, ra2, dec2 = v
        return [(ra1, dec1), (ra2, dec1), (ra2, dec2), (ra1, dec2)]
    raise ValueError("not a polygon")


def _centre(points: list[tuple[float, float]]) -> tuple[float, float]:
    x = sum(math.cos(d) * math.cos(r) for r, d in points)
    y = sum(math.cos(d) * math.sin(r) for r, d in points)
    z = sum(math.sin(d) for _, d in points)
    return math.atan2(y, x), math.atan2(z, math.hypot(x, y))


def _in_polygon(ra: float, dec: float, polygon: list[tuple[float, float]]) -> bool:
    ra0, dec0 = _centre(polygon)
    point = _project(ra0, dec0, ra, dec)
    corners = [_project(ra0, dec0, r, d) for r, d in polygon]
    if point is None or any(c is None for c in corners):
        return False
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in zip(corners, corners[1:] + corners[:1], strict=True):  # type: ignore[misc]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _contains(inner: Geometry, outer: Geometry) -> bool:
    """Whether ``inner`` lies inside ``outer`` (points, and circles inside circles)."""
    kind, v = inner
    okind, o = outer
    if kind == "p":
        if okind == "c":
            return _distance(v[0], v[1], o[0], o[1]) <= o[2]
        if okind == "p":
            return _distance(v[0], v[1], o[0], o[1]) == 0.0
        return _in_polygon(v[0], v[1], _vertices(outer))
    if kind == "c" and okind == "c":
        return _distance(v[0], v[1], o[0], o[1]) + v[2] <= o[2]
    points = [(v[0], v[1])] if kind == "c" else _vertices(inner)
    return all(_contains(("p", p), outer) for p in points) and kind != "c"


def _overlaps(a: Geometry, b: Geometry) -> bool:
    if a[0] == "p" or b[0] == "p":
        return _contains(a, b) if a[0] == "p" else _contains(b, a)
    if a[0] == "c" and b[0] == "c":
        return _distance(a[1][0], a[1][1], b[1][0], b[1][1]) <= a[1][2] + b[1][2]
    if a[0] == "c":
        a, b = b, a
    if b[0] == "c":
        ra, dec, r = b[1]
        poly = _vertices(a)
        if _in_polygon(ra, dec, poly) or any(_distance(p[0], p[1], ra, dec) <= r for p in poly):
            return True
        # Edges passing through the circle: sample them (fine enough for small fields).
        for (r1, d1), (r2, d2) in zip(poly, poly[1:] + poly[:1], strict=True):
            for k in range(1, 64):
                t = k / 64
                if _distance(r1 + t * (r2 - r1), d1 + t * (d2 - d1), ra, dec) <= r:
                    return True
        return False
    pa, pb = _vertices(a), _vertices(b)
    return any(_in_polygon(r, d, pb) for r, d in pa) or any(_in_polygon(r, d, pa) for r, d in pb)


SqlValue = str | int | float | None


def _null_safe(function: Callable[..., SqlValue]) -> Callable[..., SqlValue]:
    def wrapped(*args: object) -> SqlValue:
        if None in args:
            return None
        return function(*args)

    return wrapped


def _spoly(text: str) -> str:
    values: list[float] = []
    for ra, dec in _POLY.findall(text):
        values += [math.radians(float(ra)), math.radians(float(dec))]
    if len(values) < 6:
        raise ValueError("a polygon needs at least three vertices")
    return _encode("y", tuple(values))


_FUNCTIONS: dict[str, tuple[int, Callable[..., SqlValue]]] = {
    "spoint": (2, lambda ra, dec: _encode("p", (float(ra), float(dec)))),
    "scircle": (2, lambda p, r: _encode("c", (*_decode(p)[1][:2], float(r)))),
    "sbox": (2, lambda p, q: _encode("b", (*_decode(p)[1][:2], *_decode(q)[1][:2]))),
    "spoly": (1, _spoly),
    "srcontainsl": (2, lambda a, b: int(_contains(_decode(a), _decode(b)))),
    "soverlaps": (2, lambda a, b: int(_overlaps(_decode(a), _decode(b)))),
    "sdist": (2, lambda a, b: _distance(*_decode(a)[1][:2], *_decode(b)[1][:2])),
    "coord1": (1, lambda p: math.degrees(_decode(p)[1][0]) % 360.0),
    "coord2": (1, lambda p: math.degrees(_decode(p)[1][1])),
    "radians": (1, lambda x: math.radians(float(x))),
    "degrees": (1, lambda x: math.degrees(float(x))),
}


@functools.cache
def _has_math_functions() -> bool:
    """Whether this SQLite has its math functions built in (3.35+, usually compiled in)."""
    try:
        sqlite3.connect(":memory:").execute("SELECT radians(1), degrees(1)").close()
    except sqlite3.OperationalError:
        return False
    return True


def register_sphere_functions(connection: sqlite3.Connection) -> None:
    """Give a SQLite connection the geometry functions of the ADQL translation."""
    for name, (n_args, function) in _FUNCTIONS.items():
        if name in ("radians", "degrees") and _has_math_functions():
            continue  # SQLite's own are several times faster than a Python call
        connection.create_function(name, n_args, _null_safe(function), deterministic=True)
