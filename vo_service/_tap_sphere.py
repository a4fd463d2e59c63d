"""Spherical geometry for ADQL on SQLite: the functions queryparser's translation calls.

Geometries travel between the functions as short strings holding radians:
``p:ra,dec`` (point), ``c:ra,dec,r`` (circle), ``b:ra1,dec1,ra2,dec2`` (box corners) and
``y:ra1,dec1,ra2,dec2,...`` (polygon). A column value in STC-S (``ivoa.obscore.s_region``:
``CIRCLE ICRS ra dec r``, ``POLYGON ICRS ra1 dec1 ...``, degrees) is a geometry too, so
``INTERSECTS(s_region, ...)`` and ``CONTAINS(POINT(...), s_region)`` work as on pgsphere.

Everything is computed with unit vectors: distances are great-circle angles, polygon edges
are great-circle arcs (arc crossings and point-to-arc distances are exact), and a point is
in a polygon when it is in the polygon's gnomonic projection, where great circles are
straight lines. RA = 0 and the poles need no special case. Polygons must be smaller than a
hemisphere and circles at most 90 deg in radius, as in pgsphere.
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
from collections.abc import Callable

__all__ = [
    "pgsphere_circle",
    "register_sphere_functions",
    "stcs_from_encoded",
    "stcs_from_pgsphere",
]

Geometry = tuple[str, tuple[float, ...]]
Vec = tuple[float, float, float]
#: 90 deg in radians, with room for rounding.
_POLE = math.pi / 2 + 1e-12
_POLY = re.compile(r"\(\s*([-+0-9.eE]+)d\s*,\s*([-+0-9.eE]+)d\s*\)")


def _encode(kind: str, values: tuple[float, ...]) -> str:
    return kind + ":" + ",".join(repr(v) for v in values)


def _decode(value: object) -> Geometry:
    if not isinstance(value, str):
        raise ValueError("not a geometry")
    if value[1:2] != ":":
        return _decode_stcs(value)
    if value[0] == "p":  # one per row: the quick way
        ra, dec = value[2:].split(",")
        return "p", (float(ra), float(dec))
    return _decode_shape(value)


@functools.lru_cache(maxsize=256)
def _decode_shape(value: str) -> Geometry:
    # Circles, boxes and polygons are mostly the query's constants: decoded once.
    return value[0], tuple(float(v) for v in value[2:].split(","))


_STCS_SHAPES = {"CIRCLE": "c", "POLYGON": "y", "POSITION": "p", "POINT": "p"}


@functools.lru_cache(maxsize=4096)
def _decode_stcs(value: str) -> Geometry:
    """An STC-S region (degrees): ``CIRCLE [frame] ra dec r``, ``POLYGON [frame] ra dec ...``."""
    words = value.split()
    kind = _STCS_SHAPES.get(words[0].upper()) if words else None
    numbers: list[float] = []
    for word in words[1:]:
        try:
            numbers.append(math.radians(float(word)))
        except ValueError:
            if numbers:
                raise ValueError(f"not an STC-S region: {value[:40]!r}") from None
            # the frame, reference position or flavour before the numbers
    if kind == "c" and len(numbers) == 3:
        return _checked("c", tuple(numbers))
    if kind == "y" and len(numbers) >= 6 and len(numbers) % 2 == 0:
        return _checked("y", tuple(numbers))
    if kind == "p" and len(numbers) == 2:
        return _checked("p", tuple(numbers))
    raise ValueError(f"not an STC-S region: {value[:40]!r}")


def _checked(kind: str, values: tuple[float, ...]) -> Geometry:
    """Refuse what pgsphere refuses: latitudes beyond the poles, circles over 90 deg."""
    if not all(math.isfinite(v) for v in values):
        raise ValueError("geometry coordinates must be finite numbers")
    latitudes = values[1::2] if kind == "y" else values[1:2]
    if any(abs(d) > _POLE for d in latitudes):
        raise ValueError("a declination must lie between -90 and 90 deg")
    if kind == "c" and not 0.0 <= values[2] <= _POLE:
        raise ValueError("a circle's radius must lie between 0 and 90 deg")
    if kind == "y":
        _polygon(tuple(zip(values[0::2], values[1::2], strict=True)))  # refuses a hemisphere
    return kind, values


def _distance(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    s = (
        math.sin((dec2 - dec1) / 2) ** 2
        + math.cos(dec1) * math.cos(dec2) * math.sin((ra2 - ra1) / 2) ** 2
    )
    return 2 * math.asin(min(1.0, math.sqrt(s)))


def _vec(ra: float, dec: float) -> Vec:
    cos_dec = math.cos(dec)
    return (cos_dec * math.cos(ra), cos_dec * math.sin(ra), math.sin(dec))


def _dot(a: Vec, b: Vec) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a: Vec, b: Vec) -> Vec:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _angle(a: Vec, b: Vec) -> float:
    """The great-circle angle between two unit vectors (accurate at all sizes)."""
    c = _cross(a, b)
    return math.atan2(math.sqrt(_dot(c, c)), _dot(a, b))


def _on_arc(x: Vec, a: Vec, b: Vec, normal: Vec) -> bool:
    """Whether ``x``, on the great circle of ``a`` and ``b``, lies on the short arc a-b."""
    return _dot(_cross(a, x), normal) >= 0 and _dot(_cross(x, b), normal) >= 0


def _arc_distance(p: Vec, a: Vec, b: Vec) -> float:
    """The angular distance from ``p`` to the great-circle arc a-b (shorter than 180 deg)."""
    normal = _cross(a, b)
    size = math.sqrt(_dot(normal, normal))
    ends = min(_angle(p, a), _angle(p, b))
    if size == 0.0:
        return ends
    n = (normal[0] / size, normal[1] / size, normal[2] / size)
    h = _dot(p, n)
    foot = (p[0] - h * n[0], p[1] - h * n[1], p[2] - h * n[2])
    if _dot(foot, foot) == 0.0 or not _on_arc(foot, a, b, normal):
        return ends
    return math.asin(min(1.0, abs(h)))


def _arcs_cross(a: Vec, b: Vec, c: Vec, d: Vec) -> bool:
    """Whether the great-circle arcs a-b and c-d have a point in common."""
    n1, n2 = _cross(a, b), _cross(c, d)
    t = _cross(n1, n2)
    if _dot(t, t) < 1e-30:  # on one great circle: the vertex tests decide
        return False
    return any(_on_arc(x, a, b, n1) and _on_arc(x, c, d, n2) for x in (t, (-t[0], -t[1], -t[2])))


class _Polygon:
    """A spherical polygon (great-circle edges, smaller than a hemisphere), ready for tests.

    A point is inside when it is inside the polygon's gnomonic projection about the
    vertices' mean direction: that projection maps great circles to straight lines, so the
    test is exact for polygons whose vertices lie within 90 deg of that direction. The
    computation uses unit vectors throughout, so RA = 0 and the poles are nothing special.
    """

    def __init__(self, vertices: tuple[tuple[float, float], ...]) -> None:
        self.vectors = [_vec(ra, dec) for ra, dec in vertices]
        self.edges = list(zip(self.vectors, self.vectors[1:] + self.vectors[:1], strict=True))
        sx = sum(v[0] for v in self.vectors)
        sy = sum(v[1] for v in self.vectors)
        sz = sum(v[2] for v in self.vectors)
        norm = math.sqrt(sx * sx + sy * sy + sz * sz)
        if norm == 0.0:
            raise ValueError("a polygon must be smaller than a hemisphere")
        self.centre = (sx / norm, sy / norm, sz / norm)
        # Tangent-plane axes at the centre.
        helper = (0.0, 0.0, 1.0) if abs(self.centre[2]) < 0.9 else (1.0, 0.0, 0.0)
        east = _cross(helper, self.centre)
        size = math.sqrt(_dot(east, east))
        self.east = (east[0] / size, east[1] / size, east[2] / size)
        self.north = _cross(self.centre, self.east)
        corners = [self._project(v) for v in self.vectors]
        if any(c is None for c in corners):
            raise ValueError("a polygon must be smaller than a hemisphere")
        self.corners: list[tuple[float, float]] = corners  # type: ignore[assignment]

    def _project(self, v: Vec) -> tuple[float, float] | None:
        w = _dot(v, self.centre)
        if w <= 1e-12:
            return None  # the far hemisphere
        return _dot(v, self.east) / w, _dot(v, self.north) / w

    def contains_point(self, v: Vec) -> bool:
        projected = self._project(v)
        if projected is None:
            return False
        x, y = projected
        inside = False
        corners = self.corners
        for (x1, y1), (x2, y2) in zip(corners, corners[1:] + corners[:1], strict=True):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
        return inside

    def distance(self, v: Vec) -> float:
        """The angular distance from ``v`` to the polygon's boundary."""
        return min(_arc_distance(v, a, b) for a, b in self.edges)

    def edges_cross(self, other: _Polygon) -> bool:
        return any(_arcs_cross(a, b, c, d) for a, b in self.edges for c, d in other.edges)


@functools.lru_cache(maxsize=1024)
def _polygon(vertices: tuple[tuple[float, float], ...]) -> _Polygon:
    return _Polygon(vertices)


def _vertices(geometry: Geometry) -> tuple[tuple[float, float], ...]:
    kind, v = geometry
    if kind == "y":
        return tuple(zip(v[0::2], v[1::2], strict=True))
    if kind == "b":
        ra1, dec1, ra2, dec2 = v
        return ((ra1, dec1), (ra2, dec1), (ra2, dec2), (ra1, dec2))
    raise ValueError("not a polygon")


def _as_polygon(geometry: Geometry) -> _Polygon:
    return _polygon(_vertices(geometry))


def _contains(inner: Geometry, outer: Geometry) -> bool:
    """Whether ``inner`` lies inside ``outer`` (points, circles and polygons)."""
    kind, v = inner
    okind, o = outer
    if okind == "p":
        return kind == "p" and _angle(_vec(v[0], v[1]), _vec(o[0], o[1])) == 0.0
    if kind == "p":
        point = _vec(v[0], v[1])
        if okind == "c":
            return _angle(point, _vec(o[0], o[1])) <= o[2]
        return _as_polygon(outer).contains_point(point)
    if kind == "c":
        centre, radius = _vec(v[0], v[1]), v[2]
        if okind == "c":
            return _angle(centre, _vec(o[0], o[1])) + radius <= o[2]
        polygon = _as_polygon(outer)
        return polygon.contains_point(centre) and polygon.distance(centre) >= radius
    inner_polygon = _as_polygon(inner)
    if okind == "c":
        # A cap of at most 90 deg holds the great-circle arcs between its points.
        centre = _vec(o[0], o[1])
        return all(_angle(x, centre) <= o[2] for x in inner_polygon.vectors)
    outer_polygon = _as_polygon(outer)
    return all(
        outer_polygon.contains_point(x) for x in inner_polygon.vectors
    ) and not inner_polygon.edges_cross(outer_polygon)


def _overlaps(a: Geometry, b: Geometry) -> bool:
    """Whether two geometries have a point in common."""
    if a[0] == "p":
        return _contains(a, b)
    if b[0] == "p":
        return _contains(b, a)
    if a[0] == "c" and b[0] == "c":
        return _distance(a[1][0], a[1][1], b[1][0], b[1][1]) <= a[1][2] + b[1][2]
    if a[0] == "c":
        a, b = b, a
    polygon = _as_polygon(a)
    if b[0] == "c":
        centre = _vec(b[1][0], b[1][1])
        return polygon.contains_point(centre) or polygon.distance(centre) <= b[1][2]
    other = _as_polygon(b)
    # Either an edge of one crosses an edge of the other, or one lies inside the other.
    return (
        polygon.contains_point(other.vectors[0])
        or other.contains_point(polygon.vectors[0])
        or polygon.edges_cross(other)
    )


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
    return _encode(*_checked("y", tuple(values)))


def _scircle(point: str, radius: float) -> str:
    ra, dec = _decode(point)[1][:2]
    return _encode(*_checked("c", (ra, dec, float(radius))))


def _spoint(ra: float, dec: float) -> str:
    # One per row: only the cheap check.
    lat = float(dec)
    if not -_POLE <= lat <= _POLE:
        raise ValueError("a declination must lie between -90 and 90 deg")
    return _encode("p", (float(ra), lat))


_FUNCTIONS: dict[str, tuple[int, Callable[..., SqlValue]]] = {
    "spoint": (2, _spoint),
    "scircle": (2, _scircle),
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


# pgsphere text <-> STC-S (PostgreSQL): a product's s_region is stored as an ``scircle``
# and every pgsphere value a query returns is written as STC-S (degrees, ICRS).

_PG_NUMBER = r"\s*([-+0-9.eE]+)(d?)\s*"
_PG_POINT = re.compile(r"\(" + _PG_NUMBER + "," + _PG_NUMBER + r"\)")
_PG_CIRCLE = re.compile(r"^\s*<\s*(\([^)]*\))\s*," + _PG_NUMBER + r">\s*$")


def _pg_angle(number: str, unit: str) -> float:
    value = float(number)
    return value if unit == "d" else math.degrees(value)  # set_sphere_output DEG or RAD


def pgsphere_circle(stcs: str) -> str:
    """The pgsphere ``scircle`` literal of an STC-S circle."""
    kind, _ = _decode_stcs(stcs)  # checked
    if kind != "c":
        raise ValueError(f"not an STC-S circle: {stcs[:40]!r}")
    ra, dec, r = (float(word) for word in stcs.split()[-3:])  # the degrees as written
    return f"<({ra!r}d, {dec!r}d), {r!r}d>"


def stcs_from_pgsphere(value: str | None, typename: str) -> str | None:
    """STC-S for a pgsphere ``spoint``, ``scircle`` or ``spoly`` as PostgreSQL writes it."""
    if value is None:
        return None
    if typename == "scircle":
        match = _PG_CIRCLE.match(value)
        if match is None:
            return value
        ((ra, dec),) = _pg_points(match.group(1))
        return f"CIRCLE ICRS {ra!r} {dec!r} {_pg_angle(match.group(2), match.group(3))!r}"
    points = _pg_points(value)
    if typename == "spoint" and len(points) == 1:
        return f"POSITION ICRS {points[0][0]!r} {points[0][1]!r}"
    if typename == "spoly" and len(points) >= 3:
        return "POLYGON ICRS " + " ".join(f"{ra!r} {dec!r}" for ra, dec in points)
    return value


def _pg_points(text: str) -> list[tuple[float, float]]:
    return [
        (_pg_angle(ra, ra_unit) % 360.0, _pg_angle(dec, dec_unit))
        for ra, ra_unit, dec, dec_unit in _PG_POINT.findall(text)
    ]


#: A geometry as the SQLite functions pass it between them (radians).
_ENCODED = re.compile(r"^[pcby]:[-+0-9.eE,]+$")


def stcs_from_encoded(value: object) -> object:
    """STC-S (degrees) for a geometry a SQLite query selected; anything else as it is."""
    if not isinstance(value, str) or not _ENCODED.match(value):
        return value
    kind, v = _decode_shape(value)
    deg = [math.degrees(x) for x in v]
    if kind == "p" and len(deg) == 2:
        return f"POSITION ICRS {deg[0] % 360.0!r} {deg[1]!r}"
    if kind == "c" and len(deg) == 3:
        return f"CIRCLE ICRS {deg[0] % 360.0!r} {deg[1]!r} {deg[2]!r}"
    if kind in "by" and len(deg) >= 4 and len(deg) % 2 == 0:
        corners = _vertices((kind, tuple(v)))
        return "POLYGON ICRS " + " ".join(
            f"{math.degrees(ra) % 360.0!r} {math.degrees(dec)!r}" for ra, dec in corners
        )
    return value
