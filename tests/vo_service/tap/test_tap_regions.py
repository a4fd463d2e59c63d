"""``ivoa.obscore.s_region`` as a geometry: INTERSECTS and CONTAINS with circles and polygons
return exactly the rows whose regions truly intersect or contain, on both back ends.

The truth is brute force in numpy, independent of the service: angular separations for
circles; for polygons, a MOC of the polygon (mocpy) and its boundary sampled densely along
the great-circle edges. Rows closer to a tie than a small margin are not judged.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator

import astropy.units as u
import numpy as np
import pytest
import requests
from astropy.io.votable import parse_single_table
from mocpy import MOC

from tests.uws._xsd import validate
from tests.vo_service.tap.conftest import TapLive
from vo_service._tap_db import PRODUCT_OBSCORE, is_postgres, tap_tables
from vo_service._tap_tables import OBSCORE

PREFIX = "ivo://synthetic.example/region?"
N_REGIONS = 240
MARGIN = 0.02  # deg


def _unit(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    r, d = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)], axis=-1)


def _separation(ra1, dec1, ra2, dec2) -> np.ndarray:  # deg, by vectors
    a, b = _unit(np.asarray(ra1), np.asarray(dec1)), _unit(np.asarray(ra2), np.asarray(dec2))
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.degrees(np.arctan2(cross, np.sum(a * b, axis=-1)))


def _boundary(vertices: list[tuple[float, float]], per_edge: int = 2000) -> np.ndarray:
    v = _unit(*np.array(vertices, dtype=float).T)
    points = []
    for a, b in zip(v, np.roll(v, -1, axis=0), strict=True):
        omega = math.acos(float(np.clip(a @ b, -1, 1)))
        t = np.linspace(0, 1, per_edge, endpoint=False)[:, None]
        points.append((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / math.sin(omega))
    return np.concatenate(points)


@pytest.fixture(scope="module")
def regions(tap_live: TapLive) -> Iterator[dict[str, tuple[float, float, float]]]:
    """Synthetic product rows with circular regions all over the sky (poles and RA = 0)."""
    rng = np.random.default_rng(2014)
    centres = []
    for i in range(N_REGIONS):
        if i % 4 == 0:
            centres.append((rng.uniform(0, 360), rng.choice([-1, 1]) * rng.uniform(70, 90)))
        elif i % 4 == 1:
            centres.append((rng.uniform(-20, 20) % 360, rng.uniform(-40, 40)))
        else:
            centres.append((rng.uniform(0, 360), np.degrees(np.arcsin(rng.uniform(-1, 1)))))
    radii = rng.uniform(0.2, 20, N_REGIONS)
    rows, truth = [], {}
    for i, ((ra, dec), r) in enumerate(zip(centres, radii, strict=True)):
        did = f"{PREFIX}{i}"
        row: dict[str, object] = {c.name: None for c in OBSCORE.columns}
        row |= {
            "dataproduct_type": "image",
            "calib_level": 3,
            "obs_collection": "synthetic",
            "obs_id": str(i),
            "obs_publisher_did": did,
            "access_url": "http://synthetic.example/",
            "access_format": "application/fits",
            "s_ra": float(ra),
            "s_dec": float(dec),
            "s_fov": 2 * float(r),
            "s_region": f"CIRCLE ICRS {float(ra)!r} {float(dec)!r} {float(r)!r}",
        }
        rows.append(row)
        truth[did] = (float(ra), float(dec), float(r))
    engine = tap_live.context.engine
    with engine.begin() as connection:
        table = tap_tables(is_postgres(connection))[PRODUCT_OBSCORE]
        connection.execute(table.insert(), rows)
    try:
        # The science windows' regions (14.5 deg around each pointing) are judged too.
        scws = _sync(tap_live, "SELECT obs_publisher_did, s_region FROM ivoa.obscore")
        for did, region in zip(scws["obs_publisher_did"], scws["s_region"], strict=True):
            words = str(region).split()
            assert words[:2] == ["CIRCLE", "ICRS"], region
            truth.setdefault(str(did), (float(words[2]), float(words[3]), float(words[4])))
        yield truth
    finally:
        with engine.begin() as connection:
            table = tap_tables(is_postgres(connection))[PRODUCT_OBSCORE]
            connection.execute(table.delete().where(table.c.obs_publisher_did.like(PREFIX + "%")))


def _sync(tap_live: TapLive, query: str):
    response = requests.post(
        f"{tap_live.tap}/sync",
        data={"LANG": "ADQL", "QUERY": query, "MAXREC": "100000"},
        timeout=60,
    )
    assert response.status_code == 200, response.text[-2000:]
    return parse_single_table(io.BytesIO(response.content)).to_table()


def _dids(tap_live: TapLive, condition: str) -> set[str]:
    table = _sync(tap_live, f"SELECT obs_publisher_did FROM ivoa.obscore WHERE {condition}")
    return {str(d) for d in table["obs_publisher_did"]}


def _judge(returned: set[str], truth: dict[str, float], margin: float = MARGIN) -> int:
    """Compare with the truth given as signed distances (negative: the relation holds)."""
    sure_in = {d for d, s in truth.items() if s < -margin}
    sure_out = {d for d, s in truth.items() if s > margin}
    assert sure_in <= returned, sorted(sure_in - returned)[:5]
    assert not (sure_out & returned), sorted(sure_out & returned)[:5]
    return len(sure_in)


CIRCLES = [(83.6, 22.0, 5.0), (0.5, -3.0, 8.0), (359.0, 10.0, 2.0), (45.0, 88.0, 4.0)]
CIRCLES += [(200.0, -85.0, 12.0), (120.0, 30.0, 0.5)]  # the last one meets nothing


@pytest.mark.parametrize(("ra", "dec", "r"), CIRCLES)
def test_intersects_circle(tap_live: TapLive, regions, ra: float, dec: float, r: float) -> None:
    dids = list(regions)
    centres = np.array([regions[d][:2] for d in dids])
    radii = np.array([regions[d][2] for d in dids])
    gap = _separation(centres[:, 0], centres[:, 1], ra, dec) - radii - r
    truth = dict(zip(dids, gap, strict=True))
    found = _dids(tap_live, f"1 = INTERSECTS(s_region, CIRCLE('ICRS', {ra}, {dec}, {r}))")
    assert _judge(found, truth) > 0 or (ra, dec, r) == CIRCLES[-1]
    # The other order and the other comparison give the same rows.
    assert found == _dids(tap_live, f"INTERSECTS(CIRCLE('ICRS', {ra}, {dec}, {r}), s_region) = 1")
    # A region containing the circle: the circle lies wholly inside it.
    inside = _dids(tap_live, f"1 = CONTAINS(CIRCLE('ICRS', {ra}, {dec}, {r}), s_region)")
    within = _separation(centres[:, 0], centres[:, 1], ra, dec) + r - radii
    _judge(inside, dict(zip(dids, within, strict=True)))
    assert inside <= found


@pytest.mark.parametrize(("ra", "dec"), [(83.6, 22.0), (0.1, 0.0), (359.9, 1.0), (10.0, 89.9)])
def test_contains_point(tap_live: TapLive, regions, ra: float, dec: float) -> None:
    dids = list(regions)
    centres = np.array([regions[d][:2] for d in dids])
    radii = np.array([regions[d][2] for d in dids])
    distance = _separation(centres[:, 0], centres[:, 1], ra, dec) - radii
    found = _dids(tap_live, f"CONTAINS(POINT('ICRS', {ra}, {dec}), s_region) = 1")
    assert _judge(found, dict(zip(dids, distance, strict=True))) > 0
    assert found == _dids(tap_live, f"1 = INTERSECTS(POINT('ICRS', {ra}, {dec}), s_region)")


POLYGONS = [
    [(80.0, 18.0), (90.0, 18.0), (90.0, 26.0), (80.0, 26.0)],  # the Crab's field
    [(355.0, -5.0), (5.0, -5.0), (5.0, 5.0), (355.0, 5.0)],  # across RA = 0
    [(0.0, 80.0), (120.0, 80.0), (240.0, 80.0)],  # around the north pole
    [(150.0, -30.0), (175.0, -28.0), (160.0, -10.0)],
]


@pytest.mark.parametrize("vertices", POLYGONS)
def test_intersects_polygon(tap_live: TapLive, regions, vertices) -> None:
    dids = list(regions)
    lon, lat = np.array(vertices, dtype=float).T
    moc = MOC.from_polygon(lon * u.deg, lat * u.deg, max_depth=14)
    boundary = _boundary(vertices)
    centres = np.array([regions[d][:2] for d in dids])
    radii = np.array([regions[d][2] for d in dids])
    vectors = _unit(centres[:, 0], centres[:, 1])
    to_edge = np.degrees(np.arccos(np.clip(vectors @ boundary.T, -1, 1).max(axis=1)))
    centre_in = np.asarray(moc.contains_lonlat(centres[:, 0] * u.deg, centres[:, 1] * u.deg))
    # Signed: inside when the centre is in the polygon or the circle reaches an edge.
    gap = np.where(centre_in & (to_edge > MARGIN), -1.0, to_edge - radii)
    gap = np.where(to_edge <= MARGIN, 0.0, gap)  # a centre on an edge: not judged
    words = ", ".join(f"{ra}, {dec}" for ra, dec in vertices)
    found = _dids(tap_live, f"1 = INTERSECTS(s_region, POLYGON('ICRS', {words}))")
    assert _judge(found, dict(zip(dids, gap, strict=True))) > 0
    # Regions inside the polygon: the centre in it and every edge farther than the radius.
    inside = _dids(tap_live, f"1 = CONTAINS(s_region, POLYGON('ICRS', {words}))")
    held = np.where(centre_in, radii - to_edge, 1.0)
    _judge(inside, dict(zip(dids, held, strict=True)))
    assert inside <= found


def test_s_region_is_stc_s_in_every_format(tap_live: TapLive, regions) -> None:
    query = (
        "SELECT TOP 5 obs_publisher_did, s_region FROM ivoa.obscore "
        f"WHERE obs_publisher_did LIKE '{PREFIX}%' ORDER BY obs_id"
    )
    table = _sync(tap_live, query)
    for did, region in zip(table["obs_publisher_did"], table["s_region"], strict=True):
        ra, dec, r = regions[str(did)]
        words = str(region).split()
        assert words[:2] == ["CIRCLE", "ICRS"]
        assert np.allclose([float(w) for w in words[2:]], [ra, dec, r], rtol=1e-12, atol=1e-10)
    field = parse_single_table(
        io.BytesIO(
            requests.get(
                f"{tap_live.tap}/sync", params={"LANG": "ADQL", "QUERY": query}, timeout=60
            ).content
        )
    ).get_field_by_id_or_name("s_region")
    assert (field.datatype, field.xtype) == ("char", "adql:REGION")
    csv = requests.get(
        f"{tap_live.tap}/sync",
        params={"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv"},
        timeout=60,
    ).text
    assert csv.count("CIRCLE ICRS") == 5


@pytest.mark.parametrize(
    "condition",
    [
        "1 = INTERSECTS(s_region, CIRCLE('ICRS', 10, 20, 95))",
        "1 = INTERSECTS(s_region, CIRCLE('ICRS', 10, 20, -1))",
        "1 = INTERSECTS(s_region, CIRCLE('ICRS', 10, 95, 1))",
        "1 = CONTAINS(POINT('ICRS', 10, -91), s_region)",
        "1 = INTERSECTS(s_region, POLYGON('ICRS', 10, 20, 11, 21))",
        "1 = INTERSECTS(s_region, POLYGON('ICRS', 10, 20, 11))",
        "1 = INTERSECTS(s_region, CIRCLE('ICRS', 10, 20))",
    ],
)
def test_bad_geometry_is_a_dali_error_naming_the_query(
    tap_live: TapLive, regions, condition: str
) -> None:
    response = requests.post(
        f"{tap_live.tap}/sync",
        data={"LANG": "ADQL", "QUERY": f"SELECT obs_id FROM ivoa.obscore WHERE {condition}"},
        timeout=60,
    )
    assert response.status_code == 400, response.text[-1000:]
    root = validate(response.content)
    info = root.xpath("//*[local-name()='INFO'][@name='QUERY_STATUS']")[0]
    assert info.get("value") == "ERROR" and "QUERY" in info.text
    assert "/tmp" not in info.text and "sqlite" not in info.text.lower()


def test_postgres_region_queries_can_use_the_spatial_indexes(tap_live: TapLive, regions) -> None:
    if tap_live.backend != "postgresql":
        pytest.skip("SQLite scans (docs/tap.md)")
    from sqlalchemy import text as sql_text

    from vo_service._tap_adql import translate

    for condition in (
        "1 = INTERSECTS(s_region, CIRCLE('ICRS', 83.5, 22.5, 0.5))",
        "1 = CONTAINS(POINT('ICRS', 83.5, 22.5), s_region)",
        "1 = INTERSECTS(s_region, POLYGON('ICRS', 80, 18, 90, 18, 90, 26))",
    ):
        sql = translate(
            f"SELECT * FROM ivoa.obscore WHERE {condition}",
            postgres=True,
            allowed={"ivoa.obscore"},
        ).sql
        with tap_live.context.engine.begin() as connection:
            connection.execute(sql_text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(connection.execute(sql_text("EXPLAIN " + sql)).scalars())
        assert plan.count("ix_archive_scw_region") == 1, plan
        assert plan.count("ix_product_obscore_region") == 1, plan


def test_selected_geometries_are_stc_s_on_both_back_ends(tap_live: TapLive, regions) -> None:
    table = _sync(
        tap_live,
        "SELECT TOP 1 POINT('ICRS', 359.5, -20.25) AS p, CIRCLE('ICRS', 1, 2, 3) AS c, "
        "POLYGON('ICRS', 1, 2, 3, 4, 5, 6) AS y FROM ivoa.obscore",
    )
    expected = {
        "p": ("POSITION", [359.5, -20.25]),
        "c": ("CIRCLE", [1, 2, 3]),
        "y": ("POLYGON", [1, 2, 3, 4, 5, 6]),
    }
    for name, (shape, numbers) in expected.items():
        words = str(table[name][0]).split()
        assert words[:2] == [shape, "ICRS"], words
        assert np.allclose([float(w) for w in words[2:]], numbers, atol=1e-9)
