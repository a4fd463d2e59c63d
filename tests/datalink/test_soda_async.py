"""SODA async: a UWS job kind; several values give one result per combination."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from astropy.io import fits
from flask import Flask
from lxml import etree
from werkzeug.datastructures import MultiDict

from datalink import (
    KEV_METRE,
    SODA_ASYNC_ID,
    install_datalink,
    soda_async_blueprint,
    soda_job_kind,
)
from datalink.testing import FolderProductSource
from registry import StandardID, capabilities_of, install_capabilities
from tests.datalink.conftest import SOURCE_DEC, SOURCE_RA, Products, make_app
from tests.registry.test_capabilities import mounted_mismatches
from tests.uws._helpers import NS, path_of
from tests.uws._xsd import validate
from uws import (
    AnonymousIdentity,
    JobContext,
    JobFailure,
    JobStore,
    KindRegistry,
    ParameterError,
    ParameterSet,
    Runner,
    RunnerConfig,
    UWSPolicy,
    UWSService,
)
from vo_service.db import make_engine, upgrade_database

ASYNC = "/soda/async"


def run_kind(source: FolderProductSource, pairs: list[tuple[str, str]], work: Path) -> list:
    kind = soda_job_kind(source)
    spec = kind.validate(ParameterSet(pairs))
    work.mkdir(parents=True, exist_ok=True)
    return list(kind.handler(JobContext("job1", None, spec, work)))


def test_every_combination_gives_one_result(products: Products, tmp_path: Path) -> None:
    pairs = [
        ("ID", products.mosaic),
        ("CIRCLE", f"{SOURCE_RA} {SOURCE_DEC} 0.5"),
        ("pos", f"CIRCLE {SOURCE_RA} {SOURCE_DEC} 1.0"),
        ("BAND", f"{KEV_METRE / 100} {KEV_METRE / 60}"),
        ("BAND", f"{KEV_METRE / 60} {KEV_METRE / 20}"),
    ]
    results = run_kind(products.source, pairs, tmp_path / "work")
    assert len(results) == 4  # 2 regions x 2 bands
    shapes = set()
    for result in results:
        hdus = fits.open(tmp_path / "work" / result.path)
        shapes.add(hdus[1].data.shape)
        assert result.mime_type == "application/fits"
    assert len(shapes) == 2  # the two radii


def test_a_combination_off_the_image_is_skipped(products: Products, tmp_path: Path) -> None:
    pairs = [("ID", products.mosaic), ("CIRCLE", "84 22 0.5"), ("CIRCLE", "250 -60 0.5")]
    assert len(run_kind(products.source, pairs, tmp_path / "w")) == 1
    with pytest.raises(JobFailure, match="NoOverlap"):
        run_kind(products.source, [("ID", products.mosaic), ("CIRCLE", "250 -60 1")], tmp_path)


@pytest.mark.parametrize(
    ("pairs", "parameter"),
    [
        ([("CIRCLE", "84 22 1")], "ID"),
        ([("ID", "ivo://example.org/isgri?0000"), ("CIRCLE", "84 22 1")], "ID"),
        ([("ID", "MOSAIC"), ("CIRCLE", "84 22")], "CIRCLE"),
        ([("ID", "SPECTRUM"), ("CIRCLE", "84 22 1")], "POS"),
        ([("ID", "MOSAIC"), ("BAND", "3 1")], "BAND"),
    ],
)
def test_validation_names_the_parameter(
    products: Products, pairs: list[tuple[str, str]], parameter: str
) -> None:
    names = {"MOSAIC": products.mosaic, "SPECTRUM": products.spectrum}
    pairs = [(k, names.get(v, v)) for k, v in pairs]
    with pytest.raises(ParameterError) as raised:
        soda_job_kind(products.source).validate(ParameterSet(pairs))
    assert raised.value.parameter == parameter


# --- end to end: UWS endpoint, runner with worker processes, real database ----------------


@pytest.fixture
def async_app(products: Products, database_url: str, tmp_path: Path) -> Iterator[Flask]:
    engine = make_engine(database_url)
    upgrade_database(engine)
    store = JobStore(engine)
    kinds = KindRegistry([soda_job_kind(products.source)])
    service = UWSService(
        store,
        kinds,
        default_kind="soda",
        policy=UWSPolicy(
            max_execution_duration=60,
            default_destruction=dt.timedelta(days=1),
            wait_cap=10.0,
            poll_interval=0.5 if store.is_postgres else 0.05,
        ),
        work_root=tmp_path / "jobs",
    )
    app = make_app(products.source)
    app.register_blueprint(soda_async_blueprint(service, AnonymousIdentity(), url_prefix=ASYNC))
    runner = Runner(
        store, kinds, RunnerConfig(work_root=tmp_path / "jobs", slots=1, poll_interval=0.1)
    )
    runner.start()
    yield app
    runner.stop()
    store.close()
    engine.dispose()


def test_async_job_through_uws(async_app: Flask, products: Products) -> None:
    client = async_app.test_client()
    body = MultiDict(
        [
            ("ID", products.mosaic),
            ("CIRCLE", f"{SOURCE_RA} {SOURCE_DEC} 0.5"),
            ("CIRCLE", f"{SOURCE_RA} {SOURCE_DEC} 0.8"),
            ("TIME", "53001 53003"),
            ("PHASE", "RUN"),
        ]
    )
    created = client.post(ASYNC, data=body)
    assert created.status_code == 303, created.data
    job = path_of(created.headers["Location"])
    phase = ""
    for _ in range(20):
        doc = etree.fromstring(client.get(job, query_string={"WAIT": "5"}).data)
        phase = str(doc.findtext("uws:phase", namespaces=NS))
        if phase in {"COMPLETED", "ERROR", "ABORTED"}:
            break
    assert phase == "COMPLETED", etree.tostring(doc).decode()
    validate(etree.tostring(doc))
    results = doc.findall("uws:results/uws:result", NS)
    assert len(results) == 2
    for result in results:
        href = result.get("{http://www.w3.org/1999/xlink}href")
        fetched = client.get(path_of(href))
        assert fetched.status_code == 200
        assert fits.open(io.BytesIO(fetched.data))[1].data.shape[0] < 40
    standards = {c.standard_id for c in capabilities_of(async_app)}
    assert StandardID.SODA_ASYNC in standards
    assert [p for p in mounted_mismatches(async_app) if "testing_files" not in p] == []


def test_links_offer_the_async_descriptor(products: Products) -> None:
    app = Flask("x")
    install_capabilities(app)
    install_datalink(app, products.source, public_url="http://h", async_path=ASYNC)
    body = app.test_client().get("/datalink/links", query_string={"ID": products.mosaic}).data
    root = etree.fromstring(body)
    ids = root.xpath(
        "//v:RESOURCE[@type='meta']/v:PARAM[@name='standardID']/@value",
        namespaces={"v": "http://www.ivoa.net/xml/VOTable/v1.3"},
    )
    assert SODA_ASYNC_ID in ids


def test_rederived_products_are_results_by_absolute_url(products: Products, tmp_path: Path) -> None:
    kind = soda_job_kind(products.source, public_url="https://vo.example.org/isgri")
    pairs = [
        ("ID", products.mosaic),
        ("BAND", f"{KEV_METRE / 100} {KEV_METRE / 60}"),
        ("TIME", "53001 53002"),
        ("TIME", "53003 53004"),
    ]
    spec = kind.validate(ParameterSet(pairs))
    results = list(kind.handler(JobContext("job2", None, spec, tmp_path)))
    assert len(results) == 2
    hrefs = {r.href for r in results}
    assert len(hrefs) == 2  # two different re-derived products
    assert all(str(h).startswith("https://vo.example.org/isgri/testing/files/") for h in hrefs)
