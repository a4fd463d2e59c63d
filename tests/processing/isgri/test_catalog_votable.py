"""The source-catalog VOTable: VOTable 1.4, ICRS COOSYS for the positions, an IJD (TT) TIMESYS
for the time span (issue 22 item 5); valid against the official XSD and clean in votlint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import ICRS, SkyCoord
from astropy.io.votable import parse
from astropy.table import Table
from astropy.time import Time

from processing.codedmask._votable import IJD_ORIGIN_JD, write_catalog_votable
from tests.datalink.conftest import votlint
from tests.uws._xsd import validate

COLUMNS = [
    ("name", None, "meta.id;meta.main", "source name"),
    ("ra", "deg", "pos.eq.ra;meta.main", "right ascension (ICRS)"),
    ("dec", "deg", "pos.eq.dec;meta.main", "declination (ICRS)"),
    ("rate", "count/s", "phot.count;em.X", "count rate"),
    ("n_scw", None, "meta.number", "ScWs with a detection"),
    ("in_catalog", None, "meta.code", "identified"),
]
# 2004-03-01T00:00 TT to 2004-03-02T00:00 TT, in IJD (MJD 53065 - 51544).
T_MIN, T_MAX = 1521.0, 1522.0


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    table = Table(
        {
            "name": np.array(["Crab", "J0535.1+2201", "A&B <new>"], dtype="U32"),
            "ra": np.array([83.63308, 83.77, 84.2]),
            "dec": np.array([22.0145, 22.02, -1.5]),
            "rate": np.array([143.0, 2.1, 0.9], dtype="f4"),
            "n_scw": np.array([4, 1, 0], dtype="i4"),
            "in_catalog": np.array([True, False, False]),
        }
    )
    path = tmp_path / "catalog.vot"
    write_catalog_votable(
        path,
        table,
        COLUMNS,
        time_range_ijd=(T_MIN, T_MAX),
        description="three sources",
        infos=[("provenance_hash", "0" * 64)],
    )
    return path


def test_catalog_is_valid_votable_1_4_and_lint_clean(catalog: Path) -> None:
    root = validate(catalog.read_bytes())
    assert root.get("version") == "1.4"
    report = votlint(catalog)
    assert report.errors == [] and report.warnings == [], report.output


def test_positions_refer_to_an_icrs_coosys_that_astropy_reads(catalog: Path) -> None:
    votable = parse(str(catalog))
    table = votable.get_first_table()
    fields = {f.name: f for f in table.fields}
    systems = {c.ID: c for c in votable.iter_coosys()}
    assert fields["ra"].ref == fields["dec"].ref
    system = systems[fields["ra"].ref]
    assert system.system == "ICRS" and system.equinox is None
    # The epoch of the positions is the middle of the data: 2004-03-01T12:00 TT.
    middle = Time(IJD_ORIGIN_JD + (T_MIN + T_MAX) / 2, format="jd", scale="tt")
    assert float(system.epoch.lstrip("J")) == pytest.approx(middle.jyear, abs=1e-3)
    frame = system.to_astropy_frame()
    assert isinstance(frame, ICRS)
    rows = table.to_table()
    crab = SkyCoord(rows["ra"][0], rows["dec"][0], unit="deg", frame=frame)
    assert crab.galactic.l.deg == pytest.approx(184.557, abs=0.01)
    assert all(fields[n].ref is None for n in ("name", "rate", "n_scw"))


def test_time_span_refers_to_a_tt_timesys_with_the_ijd_origin(catalog: Path) -> None:
    votable = parse(str(catalog))
    params = {p.name: p for p in votable.get_first_table().params}
    systems = {t.ID: t for t in votable.iter_timesys()}
    system = systems[params["t_min"].ref]
    assert params["t_max"].ref == system.ID
    assert system.timescale == "TT" and system.refposition == "TOPOCENTER"
    assert float(system.timeorigin) == 2451544.5  # JD of MJD 51544.0: IJD = MJD - 51544
    start = Time(
        system.timeorigin + params["t_min"].value, format="jd", scale=system.timescale.lower()
    )
    stop = Time(system.timeorigin + params["t_max"].value, format="jd", scale="tt")
    assert start.isot == "2004-03-01T00:00:00.000" and start.scale == "tt"
    assert stop.isot == "2004-03-02T00:00:00.000"
    assert params["t_min"].unit == "d" and params["t_min"].ucd == "time.start;obs.exposure"


def test_columns_keep_types_units_and_escaped_values(catalog: Path) -> None:
    table = parse(str(catalog)).get_first_table()
    fields = {f.name: f for f in table.fields}
    assert [f.name for f in table.fields] == [c[0] for c in COLUMNS]
    assert fields["rate"].datatype == "float" and fields["ra"].datatype == "double"
    assert fields["n_scw"].datatype == "int" and fields["in_catalog"].datatype == "boolean"
    assert fields["name"].datatype == "char" and fields["name"].arraysize == "*"
    assert str(fields["rate"].unit) == "ct / s"
    rows = table.to_table()
    assert list(rows["name"]) == ["Crab", "J0535.1+2201", "A&B <new>"]
    assert list(rows["in_catalog"]) == [True, False, False]
