"""TAP 1.1 at /tap, driven by pyvo and STILTS taplint, on SQLite and on PostgreSQL + pgsphere."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path
from urllib.parse import quote

import astropy.units as u
import numpy as np
import pytest
import requests
from astropy.io import fits
from astropy.io.votable import parse_single_table
from astropy.table import Table
from click.testing import CliRunner
from pyvo.dal import DALQueryError, TAPService
from pyvo.dal.adhoc import DatalinkResults

from tests.datalink.conftest import votlint
from tests.registry.xsd import assert_valid
from tests.uws._xsd import validate
from tests.vo_service.tap.conftest import N_SYNTHETIC, TapLive
from vo_service._tap_examples import EXAMPLES
from vo_service.cli import main

CONE = (
    "SELECT detection_id, ra, dec FROM isgri.detections "
    "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 83.0, 22.0, 2))"
)


def _separation(ra1, dec1, ra2, dec2):  # degrees, haversine
    r1, d1, r2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    s = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(s)))


def test_vosi_documents_validate(tap_live: TapLive) -> None:
    caps = assert_valid(requests.get(f"{tap_live.tap}/capabilities", timeout=30).content)
    tap = caps.xpath("capability[@standardID='ivo://ivoa.net/std/TAP']")[0]
    assert tap.xpath("language/name/text()") == ["ADQL"]
    assert "INTERSECTS" in tap.xpath("language/languageFeatures/feature/form/text()")
    assert tap.xpath("uploadMethod/@ivo-id") == [
        f"ivo://ivoa.net/std/TAPRegExt#upload-{m}" for m in ("inline", "http", "https")
    ]
    tables = assert_valid(requests.get(f"{tap_live.tap}/tables", timeout=30).content)
    assert "ivoa.obscore" in tables.xpath("schema/table/name/text()")
    # The service's own /capabilities (and so the registry record) lists TAP too.
    service = assert_valid(requests.get(f"{tap_live.url}/capabilities", timeout=30).content)
    assert service.xpath("capability[@standardID='ivo://ivoa.net/std/TAP']")


def test_sync_cone_matches_the_truth_and_votlints(tap_live: TapLive, tmp_path: Path) -> None:
    response = requests.get(
        f"{tap_live.tap}/sync", params={"LANG": "ADQL", "QUERY": CONE}, timeout=60
    )
    assert response.status_code == 200
    validate(response.content)
    (tmp_path / "r.vot").write_bytes(response.content)
    assert votlint(tmp_path / "r.vot").errors == []
    table = parse_single_table(io.BytesIO(response.content)).to_table()
    ra, dec = tap_live.positions.T
    expected = int(np.sum(_separation(ra, dec, 83.0, 22.0) <= 2))
    synthetic = [i for i in table["detection_id"] if "synthetic" in str(i)]
    assert len(synthetic) == expected > 0
    by_distance = TAPService(tap_live.tap).run_sync(
        "SELECT detection_id FROM isgri.detections "
        "WHERE DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', 83.0, 22.0)) < 2"
    )
    assert sorted(map(str, by_distance["detection_id"])) == sorted(map(str, table["detection_id"]))
    assert table["ra"].unit == "deg"
    body = response.text
    assert 'system="ICRS"' in body and 'name="QUERY_STATUS" value="OK"' in body
    assert "ivo://ivoa.net/std/DataLink#links-1.1" in body


def test_pyvo_sync_async_and_upload_cross_match(tap_live: TapLive) -> None:
    service = TAPService(tap_live.tap)
    sync = service.run_sync(CONE)
    asynchronous = service.run_async(CONE)
    assert sorted(map(str, sync["detection_id"])) == sorted(map(str, asynchronous["detection_id"]))
    # A TOPCAT-style cross-match: 1,000 uploaded positions against the detections within 2'.
    rng = np.random.default_rng(1)
    ra, dec = tap_live.positions.T
    pick = rng.integers(0, N_SYNTHETIC, 1000)
    offset = np.where(np.arange(1000) < 400, 1.0, 6.0) / 60  # 400 within 1', the rest 6' off
    angle = rng.uniform(0, 2 * np.pi, 1000)
    u_dec = dec[pick] + offset * np.sin(angle)
    u_ra = ra[pick] + offset * np.cos(angle) / np.cos(np.radians(dec[pick]))
    upload = Table({"uid": np.arange(1000), "ra": u_ra, "dec": u_dec})
    result = service.run_sync(
        "SELECT u.uid, d.detection_id FROM TAP_UPLOAD.mine AS u JOIN isgri.detections AS d "
        "ON 1 = CONTAINS(POINT('ICRS', d.ra, d.dec), CIRCLE('ICRS', u.ra, u.dec, 0.0333333))",
        uploads={"mine": upload},
        maxrec=100_000,
    ).to_table()
    truth = {
        (int(i), f"ivo://synthetic.example/isgri?{'0' * 64}/source/{j + 1}")
        for i in range(1000)
        for j in np.nonzero(_separation(ra, dec, u_ra[i], u_dec[i]) <= 0.0333333)[0]
    }
    got = {(int(r["uid"]), str(r["detection_id"])) for r in result if "synthetic" in str(r[1])}
    assert got == truth
    assert len(truth) >= 400


def test_maxrec_overflow_and_formats(tap_live: TapLive) -> None:
    query = "SELECT detection_id, ra, dec FROM isgri.detections"
    response = requests.post(
        f"{tap_live.tap}/sync", data={"LANG": "ADQL", "QUERY": query, "MAXREC": "5"}, timeout=60
    )
    assert re.search(
        rb"</TABLE>\s*<INFO name=\"QUERY_STATUS\" value=\"OVERFLOW\"", response.content
    )
    assert len(parse_single_table(io.BytesIO(response.content)).array) == 5
    validate(response.content)
    for fmt, check in (
        ("csv", lambda b: b.decode().splitlines()[0] == "detection_id,ra,dec"),
        ("fits", lambda b: len(fits.open(io.BytesIO(b))[1].data) == 3),
        ("votable/b2", lambda b: validate(b) is not None),
        ("votable/b2", lambda b: len(parse_single_table(io.BytesIO(b)).array) == 3),
    ):
        response = requests.get(
            f"{tap_live.tap}/sync",
            params={"LANG": "ADQL", "QUERY": query, "MAXREC": "3", "RESPONSEFORMAT": fmt},
            timeout=60,
        )
        assert response.status_code == 200 and check(response.content), fmt


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"LANG": "ADQL", "QUERY": "SELECT FROM WHERE"}, "QUERY"),
        ({"LANG": "ADQL", "QUERY": "SELECT * FROM product"}, "QUERY"),
        ({"LANG": "ADQL", "QUERY": "SELECT * FROM uws_job"}, "QUERY"),
        ({"LANG": "ADQL", "QUERY": "SELECT pg_read_file('/etc/passwd') FROM isgri.scw"}, "QUERY"),
        ({"LANG": "ADQL", "QUERY": "SELECT POINT('ICRS', abs, 1) FROM isgri.scw"}, "QUERY"),
        ({"LANG": "ADQL"}, "QUERY"),
        ({"LANG": "SQL", "QUERY": "SELECT 1"}, "LANG"),
        ({"LANG": "ADQL", "QUERY": "SELECT ra FROM isgri.scw", "MAXREC": "x"}, "MAXREC"),
        (
            {"LANG": "ADQL", "QUERY": "SELECT ra FROM isgri.scw", "RESPONSEFORMAT": "x"},
            "RESPONSEFORMAT",
        ),
        ({"LANG": "ADQL", "QUERY": "SELECT ra FROM isgri.scw", "UPLOAD": "t,http://x/"}, "UPLOAD"),
    ],
)
def test_bad_input_is_a_dali_error_naming_the_parameter(
    tap_live: TapLive, params: dict[str, str], named: str
) -> None:
    response = requests.post(f"{tap_live.tap}/sync", data=params, timeout=60)
    assert response.status_code == 400
    root = validate(response.content)
    info = root.xpath("//*[local-name()='INFO'][@name='QUERY_STATUS']")[0]
    assert info.get("value") == "ERROR" and named in info.text
    assert "/tmp" not in info.text and "sqlite" not in info.text.lower()


def test_every_example_runs(tap_live: TapLive) -> None:
    page = requests.get(f"{tap_live.tap}/examples", timeout=30)
    assert page.status_code == 200
    service = TAPService(tap_live.tap)
    for _, _, query in EXAMPLES:
        service.run_sync(query)
    with pytest.raises(DALQueryError):
        service.run_sync("SELECT nothing FROM nowhere")


def test_a_published_product_is_in_obscore_and_detections_at_once(tap_live: TapLive) -> None:
    product_id = tap_live.run_image()
    service = TAPService(tap_live.tap)
    row = service.run_sync(
        "SELECT obs_publisher_did, access_url, access_format, dataproduct_type, t_min, em_min "
        f"FROM ivoa.obscore WHERE obs_publisher_did = '{product_id}'"
    ).to_table()
    assert len(row) == 1 and row["dataproduct_type"][0] == "image"
    assert row["access_format"][0] == "application/x-votable+xml;content=datalink"
    links = DatalinkResults.from_result_url(str(row["access_url"][0]))
    assert "#this" in {r.semantics for r in links}
    detections = service.run_sync(
        f"SELECT detection_id, source_name FROM isgri.detections WHERE product_id = '{product_id}'"
    ).to_table()
    assert "Crab" in {str(n) for n in detections["source_name"]}
    first = str(detections["detection_id"][0])
    resolved = requests.get(f"{tap_live.url}/datalink/links?ID={quote(first, safe='')}", timeout=30)
    assert resolved.status_code == 200 and b"NotFoundFault" not in resolved.content
    # Science windows are in ObsCore and isgri.scw through the archive index.
    scws = service.run_sync("SELECT COUNT(*) AS n FROM isgri.scw").to_table()
    events = service.run_sync(
        "SELECT COUNT(*) AS n FROM ivoa.obscore WHERE dataproduct_type = 'event'"
    ).to_table()
    assert int(scws["n"][0]) == int(events["n"][0]) == tap_live.context.archive.count()
    # Removing the product leaves no row.
    from vo_service._tap_publish import TapPublisher

    settings = tap_live.context.settings
    TapPublisher(
        tap_live.context.engine, tap_live.context.archive, settings.ivoid, settings.public_base_url
    ).remove(product_id.rpartition("?")[2])
    gone = service.run_sync(
        f"SELECT COUNT(*) AS n FROM isgri.detections WHERE product_id = '{product_id}'"
    ).to_table()
    assert int(gone["n"][0]) == 0
    # vo-service tap publish puts every stored product back.
    result = CliRunner().invoke(
        main,
        ["tap", "publish"],
        env={
            "VO_SERVICE_DATA_DIR": str(settings.data_dir),
            "VO_SERVICE_ARCHIVE_PATH": str(settings.archive_path),
            "VO_SERVICE_DATABASE_URL": settings.resolved_database_url,
            "VO_SERVICE_PUBLIC_BASE_URL": settings.public_base_url,
        },
    )
    assert result.exit_code == 0, result.output
    back = service.run_sync(
        f"SELECT COUNT(*) AS n FROM isgri.detections WHERE product_id = '{product_id}'"
    ).to_table()
    assert int(back["n"][0]) == len(detections)


def test_taplint_reports_no_errors(tap_live: TapLive) -> None:
    """All stages, uploads and ObsCore included; taplint exits 0 even on errors: read it."""
    output = subprocess.run(
        ["stilts", "taplint", f"tapurl={tap_live.tap}", "maxtable=10"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    ).stdout
    totals = re.search(r"Totals: Errors: (\d+); Warnings: (\d+)", output)
    assert totals, output[-3000:]
    errors = [line for line in output.splitlines() if line.startswith("E-")]
    assert int(totals.group(1)) == 0, "\n".join(errors)
    assert "Section UPL" in output and "Section OBS" in output


def test_uploads_by_url_come_from_public_hosts_only(
    tap_live: TapLive, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = f"{tap_live.tap}/sync?LANG=ADQL&QUERY=" + quote(
        "SELECT TOP 3 detection_id, ra, dec FROM isgri.detections"
    )
    query = "SELECT COUNT(*) AS n FROM TAP_UPLOAD.t"
    refused = requests.post(
        f"{tap_live.tap}/sync", data={"LANG": "ADQL", "QUERY": query, "UPLOAD": f"t,{source}"}
    )
    assert refused.status_code == 400 and b"public" in refused.content
    monkeypatch.setattr("vo_service._tap_upload.ALLOW_PRIVATE_HOSTS", True)
    service = TAPService(tap_live.tap)
    sync = service.run_sync(query, uploads={"t": source}).to_table()
    asynchronous = service.run_async(query, uploads={"t": source}).to_table()
    assert int(sync["n"][0]) == int(asynchronous["n"][0]) == 3


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"UPLOAD": "t,param:missing"}, "UPLOAD"),
        ({"UPLOAD": "9t,param:x"}, "UPLOAD"),
        ({"MAXREC": "-5"}, "MAXREC"),
        ({"RESPONSEFORMAT": "image/png"}, "RESPONSEFORMAT"),
    ],
)
def test_async_creation_refuses_bad_options_naming_them(
    tap_live: TapLive, data: dict[str, str], named: str
) -> None:
    response = requests.post(
        f"{tap_live.tap}/async",
        data={"LANG": "ADQL", "QUERY": "SELECT TOP 1 * FROM isgri.scw", **data},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 400
    info = validate(response.content).xpath("//*[local-name()='INFO'][@name='QUERY_STATUS']")[0]
    assert named in info.text


def test_an_async_job_with_a_bad_query_ends_in_error(tap_live: TapLive) -> None:
    created = requests.post(
        f"{tap_live.tap}/async",
        data={"LANG": "ADQL", "QUERY": "SELECT * FROM nowhere", "PHASE": "RUN"},
        allow_redirects=False,
        timeout=30,
    )
    assert created.status_code == 303
    job = created.headers["Location"]
    for _ in range(20):
        phase = requests.get(f"{job}/phase", timeout=30).text.strip()
        if phase in ("COMPLETED", "ERROR"):
            break
        requests.get(job, params={"WAIT": "5", "PHASE": phase}, timeout=30)
    assert phase == "ERROR"
    summary = requests.get(f"{job}/error", timeout=30).text
    assert "nowhere" in summary


@pytest.mark.parametrize(
    ("table", "columns"),
    [("isgri.detections", "ra, dec"), ("isgri.scw", "ra, dec"), ("ivoa.obscore", "s_ra, s_dec")],
)
def test_postgres_cones_can_use_the_spatial_indexes(
    tap_live: TapLive, table: str, columns: str
) -> None:
    if tap_live.backend != "postgresql":
        pytest.skip("SQLite scans (docs/tap.md)")
    from sqlalchemy import text as sql_text

    from vo_service._tap_adql import translate

    for condition in (
        f"1 = CONTAINS(POINT('ICRS', {columns}), CIRCLE('ICRS', 83.5, 22.5, 0.5))",
        f"DISTANCE(POINT('ICRS', {columns}), POINT('ICRS', 83.5, 22.5)) < 0.5",
    ):
        sql = translate(
            f"SELECT * FROM {table} WHERE {condition}", postgres=True, allowed={table}
        ).sql
        with tap_live.context.engine.begin() as connection:
            connection.execute(sql_text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(connection.execute(sql_text("EXPLAIN " + sql)).scalars())
        assert "Index Scan" in plan or "Bitmap Index Scan" in plan, plan


def test_detections_columns_agree_with_the_catalog_files(tap_live: TapLive) -> None:
    """The catalogs' writer lives in processing/; what both name must mean the same."""
    from vo_service._tap_tables import DETECTIONS

    product = tap_live.run_image().rpartition("?")[2]
    catalog = parse_single_table(str(tap_live.context.store.folder(product) / "catalog.vot"))
    declared = {c.name: c for c in DETECTIONS.columns}
    shared = [f for f in catalog.fields if f.name in declared]
    assert {f.name for f in shared} >= {"ra", "dec", "r90", "rate", "rate_err", "significance"}
    for field in shared:
        column = declared[field.name]
        assert field.ucd == column.ucd, field.name
        if column.unit is None:
            assert field.unit is None, field.name
        else:
            assert field.unit == u.Unit(column.unit, format="vounit"), field.name
