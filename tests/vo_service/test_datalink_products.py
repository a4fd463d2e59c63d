"""DataLink and SODA on real products: links pass datalinklint, pyvo cuts a mosaic, BAND and TIME
re-derive from the cache and match fresh requests."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np
import pytest
import requests
from astropy.io import fits
from astropy.io.votable import parse_single_table
from astropy.wcs import WCS
from lxml import etree
from pyvo.dal.adhoc import DatalinkResults, SodaQuery
from sqlalchemy import text

from datalink import kev_to_metres
from processing.simulator import SimulationResult
from tests.datalink.conftest import datalinklint, votlint
from tests.vo_service.conftest import in_process_service
from vo_service._context import ServiceContext

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XLINK = "{http://www.w3.org/1999/xlink}"
CRAB = (83.63308, 22.01450)


@dataclass
class Live:
    url: str
    context: ServiceContext

    def run(self, **params: str) -> list[str]:
        """Run a product job; the result URLs, primary first."""
        created = requests.post(
            f"{self.url}/async", data={**params, "PHASE": "RUN"}, allow_redirects=False
        )
        assert created.status_code == 303, created.text
        job = created.headers["Location"]
        for _ in range(60):
            doc = etree.fromstring(requests.get(job, params={"WAIT": "10"}, timeout=30).content)
            if doc.findtext(f"{UWS}phase") in {"COMPLETED", "ERROR", "ABORTED"}:
                break
        assert doc.findtext(f"{UWS}phase") == "COMPLETED", etree.tostring(doc)
        return [r.get(f"{XLINK}href") for r in doc.iter(f"{UWS}result")]

    def product_id(self, result_url: str) -> str:
        return self.context.settings.ivoid + "?" + result_url.split("/products/")[1].split("/")[0]

    def count_bins(self) -> int:
        with self.context.engine.connect() as conn:
            return int(
                conn.execute(
                    text("select count(*) from pipeline_cache_entries where unit = 'isgri.bin_scw'")
                ).scalar()
                or 0
            )


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, tiny_archive: SimulationResult
) -> Iterator[Live]:
    with in_process_service(tmp_path_factory.mktemp("live"), tiny_archive, serve=True) as live:
        yield Live(live.base_url, live.context)


@pytest.fixture(scope="module")
def image(live: Live) -> str:
    return live.product_id(live.run(src_name="Crab", radius="20", E1_keV="20", E2_keV="40")[0])


def test_links_of_every_product_kind_pass_datalinklint(live: Live, image: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    catalog = live.product_id(live.run(src_name="Crab", radius="20")[1])
    spectrum = live.product_id(live.run(product_type="spectrum", src_name="Crab", radius="20")[0])
    curve = live.product_id(
        live.run(product_type="light_curve", src_name="Crab", radius="20", time_bin="100")[0]
    )
    for product in {image, catalog, spectrum, curve}:
        url = f"{live.url}/datalink/links?ID={quote(product, safe='')}"
        report = datalinklint(url)
        assert report.errors == [], report.output
        body = requests.get(url, timeout=30).content
        (tmp_path / "links.vot").write_bytes(body)
        assert votlint(tmp_path / "links.vot").errors == []
        table = parse_single_table(io.BytesIO(body)).to_table()
        semantics = set(table["semantics"])
        assert {"#this", "#progenitor", "#documentation"} <= semantics, semantics
    links = DatalinkResults.from_result_url(f"{live.url}/datalink/links?ID={quote(image, safe='')}")
    semantics = [row.semantics for row in links]
    assert "#preview" in semantics and "#cutout" in semantics
    snippet = next(row for row in links if row.semantics == "#documentation")
    code = requests.get(snippet.access_url, timeout=30).text
    compile(code, "snippet.py", "exec")  # a runnable pyvo script
    assert "E1_keV" in code
    unknown = requests.get(
        f"{live.url}/datalink/links", params={"ID": "ivo://nowhere/x?abc"}, timeout=30
    )
    assert unknown.status_code == 200 and b"NotFoundFault" in unknown.content


def test_pyvo_soda_cuts_a_circle_from_the_mosaic(live: Live, image: str) -> None:
    links = DatalinkResults.from_result_url(f"{live.url}/datalink/links?ID={quote(image, safe='')}")
    proc = next(row for row in links if row.semantics == "#cutout")
    service = links.get_adhocservice_by_id(proc.service_def)
    query = SodaQuery.from_resource(proc, service, circle=[CRAB[0], CRAB[1], 1.0])
    with query.execute_stream() as stream:
        cutout = fits.open(io.BytesIO(stream.read()))
    significance = cutout["SIGNIFICANCE"]
    assert significance.data.shape[0] < 60
    wcs = WCS(significance.header)
    iy, ix = np.unravel_index(np.nanargmax(significance.data), significance.data.shape)
    peak = wcs.pixel_to_world(ix, iy)
    catalog_url = requests.get(image_url(live, image), timeout=30).json()["files"]
    cat = next(f["url"] for f in catalog_url if f["name"] == "catalog.vot")
    table = parse_single_table(io.BytesIO(requests.get(cat, timeout=30).content)).to_table()
    crab = table[[str(n) == "Crab" for n in table["name"]]][0]
    offset = np.hypot(
        (peak.ra.deg - crab["ra"]) * np.cos(np.radians(crab["dec"])), peak.dec.deg - crab["dec"]
    )
    assert offset * 60 < 5.0  # within one sky pixel (4.9')


def image_url(live: Live, product_id: str) -> str:
    return f"{live.url}/products/{product_id.split('?')[1]}"


def test_band_rederivation_reads_no_event_file_and_matches_a_fresh_request(
    live: Live, image: str
) -> None:
    binned_before = live.count_bins()
    lo, hi = kev_to_metres((30.0, 60.0))
    start = time.monotonic()
    response = requests.get(
        f"{live.url}/soda/sync", params={"ID": image, "BAND": f"{lo} {hi}"}, timeout=300
    )
    elapsed = time.monotonic() - start
    assert response.status_code == 200, response.text
    assert live.count_bins() == binned_before  # every ScW cube came from the cache
    rederived = fits.open(io.BytesIO(response.content))
    fresh_urls = live.run(src_name="Crab", radius="20", E1_keV="30", E2_keV="60")
    fresh = fits.open(io.BytesIO(requests.get(fresh_urls[0], timeout=30).content))
    np.testing.assert_array_equal(rederived["INTENSITY"].data, fresh["INTENSITY"].data)
    assert rederived["INTENSITY"].header["PROVHASH"] == fresh["INTENSITY"].header["PROVHASH"]
    assert elapsed < 120


def test_time_rederivation_matches_a_fresh_request(live: Live, image: str) -> None:
    scws = live.context.archive.all()
    t1, t2 = scws[0].tstart + 51544.0, scws[1].tstop + 51544.0 - 1e-4
    response = requests.get(
        f"{live.url}/soda/sync", params={"ID": image, "TIME": f"{t1} {t2}"}, timeout=300
    )
    assert response.status_code == 200, response.text
    subset = ",".join(s.scw_id for s in scws[:2])
    fresh_urls = live.run(scw_list=subset, RA=str(CRAB[0]), DEC=str(CRAB[1]), radius="20")
    fresh = fits.open(io.BytesIO(requests.get(fresh_urls[0], timeout=30).content))
    cut = fits.open(io.BytesIO(response.content))
    np.testing.assert_allclose(cut["SIGNIFICANCE"].data, fresh["SIGNIFICANCE"].data, equal_nan=True)


def test_result_votables_carry_the_links_block(live: Live, image: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from astropy.io.votable import parse
    from pyvo.dal import TAPResults

    urls = live.run(src_name="Crab", radius="20")
    body = requests.get(next(u for u in urls if u.endswith("catalog.vot")), timeout=30).content
    (tmp_path / "catalog.vot").write_bytes(body)
    assert votlint(tmp_path / "catalog.vot").errors == []
    results = TAPResults(parse(io.BytesIO(body)))
    assert len(results) >= 1
    links = next(results.iter_datalinks())
    semantics = {str(r.semantics) for r in links}
    assert {"#this", "#preview", "#cutout"} <= semantics
    assert str(results[0]["product_id"]) == image
