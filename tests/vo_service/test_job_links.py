"""Every completed product job says what it produced in VO terms: each product's IVOA
identifier in ``jobInfo`` and a ``links`` result that pyvo reads as DataLink."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from lxml import etree
from pyvo.dal.adhoc import DatalinkResults
from pyvo.dal.tap import AsyncTAPJob

from tests.uws._xsd import validate

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
JI = "{urn:x-uws:jobinfo:v1}"
DATALINK = "application/x-votable+xml;content=datalink"


def _job(base: str, **params: str) -> AsyncTAPJob:
    created = requests.post(f"{base}/async", data=params, allow_redirects=False, timeout=60)
    assert created.status_code == 303, created.text
    job = AsyncTAPJob(created.headers["Location"])
    job.run()
    job.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=900)
    job.raise_if_error()
    return job


@pytest.mark.parametrize(
    ("params", "primary"),
    [
        ({"product_type": "image", "src_name": "Crab", "radius": "20"}, "image.fits"),
        ({"product_type": "spectrum", "src_name": "Crab", "radius": "20"}, "Crab.pha"),
    ],
)
def test_completed_job_has_product_id_and_links(
    live_service: str, params: dict[str, str], primary: str
) -> None:
    job = _job(live_service, **params)
    results = {r.id_: r for r in job.job.results}
    assert next(iter(results)) == primary
    assert "links" in results
    assert results["links"].mimetype == DATALINK

    # The job document (schema-valid) names each product by its identifier and its {links}.
    document = requests.get(job.url, timeout=30).content
    root = validate(document)
    products = root.findall(f"{UWS}jobInfo/{JI}product")
    assert products, document.decode()
    first = products[0]
    assert first.get("links") == results["links"].href
    product_id = first.get("id")
    assert product_id is not None and product_id.startswith("ivo://")
    assert parse_qs(urlsplit(first.get("links")).query)["ID"] == [product_id]
    assert len(products) == sum(1 for r in results.values() if r.mimetype == DATALINK)

    # pyvo follows the links result: #this is the job's primary file, under the same ID.
    links = DatalinkResults.from_result_url(results["links"].href)
    this = list(links.bysemantics("#this", include_narrower=False))
    assert this, [row["semantics"] for row in links]
    assert {str(row["ID"]) for row in links} == {product_id}
    assert this[0]["access_url"] == results[primary].href
    # Every file is linked (provenance once, as PROV-JSON, its #provenance row).
    files = {
        r.href
        for r in results.values()
        if r.mimetype != DATALINK and not r.href.endswith("/provenance.xml")
    }
    linked = {str(row["access_url"]) for row in links if row["access_url"]}
    assert files <= linked, files - linked


def test_repeated_job_is_described_the_same(live_service: str) -> None:
    params = {"product_type": "image", "src_name": "Crab", "radius": "20", "E1_keV": "25"}
    first = _job(live_service, **params)
    again = _job(live_service, **params)  # answered at creation from the first

    def products(job: AsyncTAPJob) -> list[tuple[str | None, str | None]]:
        root = etree.fromstring(requests.get(job.url, timeout=30).content)
        return [(p.get("id"), p.get("links")) for p in root.iter(f"{JI}product")]

    assert products(first) and products(again) == products(first)
