"""The SQLite geometry functions against an independent computation, on random regions.

The truth comes from MOCs (mocpy, HEALPix cells of ~13") for "is this point in the polygon"
and from dense sampling of the boundaries (points along each great-circle edge, by
spherical interpolation in numpy) for distances. Cases closer to a tie than the margin are
left out: there the sampled truth itself is not sure. Polygons are star-shaped (often
concave), anywhere on the sky: across RA = 0 and around the poles included.
"""

from __future__ import annotations

import math

import astropy.units as u
import numpy as np
import pytest
from mocpy import MOC

from vo_service._tap_sphere import (
    _contains,
    _decode,
    _overlaps,
    pgsphere_circle,
    stcs_from_pgsphere,
)

MARGIN = 0.05  # deg: ties closer than this are not judged
RNG_SEED = 1414


def _unit(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    r, d = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)], axis=-1)


def _lonlat(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ra = np.degrees(np.arctan2(v[..., 1], v[..., 0])) % 360.0
    dec = np.degrees(np.arcsin(np.clip(v[..., 2], -1, 1)))
    return ra, dec


def _offset(ra: float, dec: float, bearing: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Points at ``distance`` (deg) from (ra, dec) towards ``bearing`` (rad), as (n, 2) deg."""
    d0, r0, s = math.radians(dec), math.radians(ra), np.radians(distance)
    dec2 = np.arcsin(np.sin(d0) * np.cos(s) + np.cos(d0) * np.sin(s) * np.cos(bearing))
    ra2 = r0 + np.arctan2(
        np.sin(bearing) * np.sin(s) * np.cos(d0), np.cos(s) - np.sin(d0) * np.sin(dec2)
    )
    return np.column_stack([np.degrees(ra2) % 360.0, np.degrees(dec2)])


def _random_centre(rng: np.random.Generator, kind: int) -> tuple[float, float]:
    if kind == 0:  # near a pole
        return float(rng.uniform(0, 360)), float(rng.choice([-1, 1]) * rng.uniform(75, 90))
    if kind == 1:  # across RA = 0
        return float(rng.uniform(-5, 5) % 360), float(rng.uniform(-60, 60))
    return float(rng.uniform(0, 360)), float(np.degrees(np.arcsin(rng.uniform(-1, 1))))


def _random_polygon(rng: np.random.Generator, ra: float, dec: float) -> np.ndarray:
    n = int(rng.integers(3, 9))
    bearings = np.sort(rng.uniform(0, 2 * np.pi, n))
    size = rng.uniform(0.5, 20.0)
    return _offset(ra, dec, bearings, size * rng.uniform(0.4, 1.0, n))


def _boundary(vertices: np.ndarray, per_edge: int = 400) -> np.ndarray:
    """Points along the great-circle edges (slerp), as unit vectors."""
    v = _unit(vertices[:, 0], vertices[:, 1])
    points = []
    for a, b in zip(v, np.roll(v, -1, axis=0), strict=True):
        omega = math.acos(float(np.clip(a @ b, -1, 1)))
        t = np.linspace(0, 1, per_edge, endpoint=False)[:, None]
        if omega < 1e-12:
            points.append(np.repeat(a[None], per_edge, axis=0))
            continue
        points.append((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / math.sin(omega))
    return np.concatenate(points)


def _moc(vertices: np.ndarray) -> MOC:
    return MOC.from_polygon(vertices[:, 0] * u.deg, vertices[:, 1] * u.deg, max_depth=14)


def _inside(moc: MOC, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    return np.asarray(moc.contains_lonlat(ra * u.deg, dec * u.deg))


def _min_distance(points: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """Angle (deg) from each unit vector in ``points`` to the nearest boundary sample."""
    cosines = np.clip(points @ boundary.T, -1, 1)
    return np.degrees(np.arccos(cosines.max(axis=1)))


def _poly_text(vertices: np.ndarray) -> str:
    return "POLYGON ICRS " + " ".join(f"{ra!r} {dec!r}" for ra, dec in vertices.tolist())


def _circle_text(ra: float, dec: float, r: float) -> str:
    return f"CIRCLE ICRS {ra!r} {dec!r} {r!r}"


def _point(ra: float, dec: float) -> str:
    return f"p:{math.radians(ra)!r},{math.radians(dec)!r}"


def test_points_in_random_polygons_agree_with_mocs() -> None:
    rng = np.random.default_rng(RNG_SEED)
    judged = disagreements = 0
    for trial in range(60):
        ra0, dec0 = _random_centre(rng, trial % 3)
        vertices = _random_polygon(rng, ra0, dec0)
        polygon = _decode(_poly_text(vertices))
        points = _offset(ra0, dec0, rng.uniform(0, 2 * np.pi, 300), rng.uniform(0, 25, 300))
        truth = _inside(_moc(vertices), points[:, 0], points[:, 1])
        distance = _min_distance(_unit(points[:, 0], points[:, 1]), _boundary(vertices))
        for (ra, dec), expected, margin in zip(points, truth, distance, strict=True):
            if margin < MARGIN:
                continue
            judged += 1
            disagreements += _contains(_decode(_point(ra, dec)), polygon) != bool(expected)
    assert judged > 10_000
    assert disagreements == 0


def test_circles_and_random_polygons_agree_with_sampling() -> None:
    rng = np.random.default_rng(RNG_SEED + 1)
    outcomes = {"overlap": 0, "apart": 0, "circle inside": 0, "polygon inside": 0}
    for trial in range(300):
        ra0, dec0 = _random_centre(rng, trial % 3)
        vertices = _random_polygon(rng, ra0, dec0)
        polygon = _decode(_poly_text(vertices))
        ((ra, dec),) = _offset(ra0, dec0, rng.uniform(0, 2 * np.pi, 1), rng.uniform(0, 30, 1))
        radius = float(rng.uniform(0.1, 15))
        circle = _decode(_circle_text(float(ra), float(dec), radius))
        centre = _unit(np.array([ra]), np.array([dec]))
        boundary = _boundary(vertices)
        to_edge = float(_min_distance(centre, boundary)[0])
        centre_in = bool(_inside(_moc(vertices), np.array([ra]), np.array([dec]))[0])
        farthest = float(np.degrees(np.arccos(np.clip(boundary @ centre[0], -1, 1))).max())
        if abs(to_edge - radius) < MARGIN or to_edge < MARGIN or abs(farthest - radius) < MARGIN:
            continue
        overlap = centre_in or to_edge < radius
        assert _overlaps(circle, polygon) is overlap, (vertices.tolist(), ra, dec, radius)
        assert _overlaps(polygon, circle) is overlap
        circle_inside = centre_in and to_edge > radius
        assert _contains(circle, polygon) is circle_inside, (vertices.tolist(), ra, dec, radius)
        polygon_inside = farthest < radius
        assert _contains(polygon, circle) is polygon_inside, (vertices.tolist(), ra, dec, radius)
        outcomes["overlap" if overlap else "apart"] += 1
        outcomes["circle inside"] += circle_inside
        outcomes["polygon inside"] += polygon_inside
    assert all(n >= 5 for n in outcomes.values()), outcomes


def test_random_polygon_pairs_agree_with_sampling() -> None:
    rng = np.random.default_rng(RNG_SEED + 2)
    outcomes = {"overlap": 0, "apart": 0, "inside": 0}
    for trial in range(200):
        ra0, dec0 = _random_centre(rng, trial % 3)
        a = _random_polygon(rng, ra0, dec0)
        ((ra1, dec1),) = _offset(ra0, dec0, rng.uniform(0, 2 * np.pi, 1), rng.uniform(0, 30, 1))
        b = _random_polygon(rng, float(ra1), float(dec1))
        ga, gb = _decode(_poly_text(a)), _decode(_poly_text(b))
        ba, bb = _boundary(a, 200), _boundary(b, 200)
        a_in_b = _inside(_moc(b), *_lonlat(ba))
        b_in_a = _inside(_moc(a), *_lonlat(bb))
        depth_a = _min_distance(ba, bb)  # how far each sample is from the other's boundary
        depth_b = _min_distance(bb, ba)
        robust_in = np.any(a_in_b & (depth_a > MARGIN)) or np.any(b_in_a & (depth_b > MARGIN))
        apart = not a_in_b.any() and not b_in_a.any() and depth_a.min() > MARGIN
        if robust_in == apart:
            continue  # a near tie: not judged
        assert _overlaps(ga, gb) is bool(robust_in), (a.tolist(), b.tolist())
        assert _overlaps(gb, ga) is bool(robust_in)
        if robust_in:
            inside = bool(a_in_b.all() and depth_a.min() > MARGIN)
            if inside or not a_in_b.all():
                assert _contains(ga, gb) is inside, (a.tolist(), b.tolist())
                outcomes["inside"] += inside
        outcomes["overlap" if robust_in else "apart"] += 1
    assert outcomes["overlap"] >= 20 and outcomes["apart"] >= 20, outcomes


@pytest.mark.parametrize(
    ("region", "point", "expected"),
    [
        # Across RA = 0: the short way round, not the 358-deg one.
        ("POLYGON ICRS 359 -1 1 -1 1 1 359 1", (0.0, 0.0), True),
        ("POLYGON ICRS 359 -1 1 -1 1 1 359 1", (180.0, 0.0), False),
        ("POLYGON ICRS 359 -1 1 -1 1 1 359 1", (358.5, 0.0), False),
        # Around the pole: a square of four meridians at dec 80 holds the pole.
        ("POLYGON ICRS 0 80 90 80 180 80 270 80", (123.0, 89.9), True),
        # Each edge bulges towards the pole (dec 82.9 at RA 45): (45, 82.5) is outside.
        ("POLYGON ICRS 0 80 90 80 180 80 270 80", (45.0, 83.2), True),
        ("POLYGON ICRS 0 80 90 80 180 80 270 80", (45.0, 82.5), False),
        ("POLYGON ICRS 0 80 90 80 180 80 270 80", (0.0, 80.5), True),
        # An edge is a great circle, not a parallel: between (0, 10) and (40, 10) it passes
        # dec 10.63 at RA 20, so (20, 10.5) is inside the triangle and (20, 10.7) is not.
        ("POLYGON ICRS 0 10 40 10 20 0", (20.0, 10.5), True),
        ("POLYGON ICRS 0 10 40 10 20 0", (20.0, 10.7), False),
        ("CIRCLE ICRS 0 89 2", (180.0, 89.5), True),
        ("CIRCLE ICRS 0 89 2", (180.0, 88.0), False),
        ("CIRCLE ICRS 359.5 0 1", (0.4, 0.0), True),
    ],
)
def test_edge_cases(region: str, point: tuple[float, float], expected: bool) -> None:
    assert _contains(_decode(_point(*point)), _decode(region)) is expected


def test_crossing_polygons_with_no_vertex_inside_the_other_overlap() -> None:
    # A plus sign: neither bar has a vertex inside the other.
    bar = _decode("POLYGON ICRS -5 -1 5 -1 5 1 -5 1")
    upright = _decode("POLYGON ICRS -1 -5 1 -5 1 5 -1 5")
    assert _overlaps(bar, upright) and _overlaps(upright, bar)
    # A circle between two vertices, touching only an edge.
    assert _overlaps(_decode("CIRCLE ICRS 0 -1.5 0.6"), bar)
    assert not _overlaps(_decode("CIRCLE ICRS 0 -1.5 0.4"), bar)


@pytest.mark.parametrize(
    "text",
    [
        "CIRCLE ICRS 10 95 1",
        "CIRCLE ICRS 10 20 -1",
        "CIRCLE ICRS 10 20 91",
        "POLYGON ICRS 10 20 11 20",
        "POLYGON ICRS 0 0 120 0 240 0",
        "BOX ICRS 1 2 3 4",
        "CIRCLE ICRS 10 20 nan",
    ],
)
def test_bad_regions_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        _decode(text)


def test_pgsphere_values_become_stc_s_and_back() -> None:
    assert stcs_from_pgsphere("<(83.633d , 22.014d) , 14.5d>", "scircle") == (
        "CIRCLE ICRS 83.633 22.014 14.5"
    )
    radians = stcs_from_pgsphere("<(1.5 , -0.25) , 0.5>", "scircle")
    assert radians is not None
    words = radians.split()
    assert words[:2] == ["CIRCLE", "ICRS"]
    assert np.allclose([float(w) for w in words[2:]], np.degrees([1.5, -0.25, 0.5]))
    assert stcs_from_pgsphere("{(359d , -1d),(1d , -1d),(0d , 1d)}", "spoly") == (
        "POLYGON ICRS 359.0 -1.0 1.0 -1.0 0.0 1.0"
    )
    assert stcs_from_pgsphere("(-0.5d , 89d)", "spoint") == "POSITION ICRS 359.5 89.0"
    assert stcs_from_pgsphere(None, "scircle") is None
    assert pgsphere_circle("CIRCLE ICRS 83.6 22.0 14.5") == "<(83.6d, 22.0d), 14.5d>"
    with pytest.raises(ValueError):
        pgsphere_circle("POLYGON ICRS 1 2 3 4 5 6")
    with pytest.raises(ValueError):
        pgsphere_circle("CIRCLE ICRS 1 2 100")
