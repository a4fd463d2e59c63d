"""The product service end to end over HTTP: jobs to products, cache reuse, clear errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from astropy.io import fits
from astropy.io.votable import parse_single_table
from astropy.wcs import WCS
from flask.testing import FlaskClient
from lxml import etree

from processing.simulator import SimulationResult
from tests.vo_service.conftest import service_with_runner
from vo_service._context import ServiceContext

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XLINK = "{http://www.w3.org/1999/xlink}"
CRAB = (83.63308, 22.01450)


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, tiny_archive: SimulationResult
) -> Iterator[tuple[FlaskClient, ServiceContext]]:
    with service_with_runner(tmp_path_factory.mktemp("service"), tiny_archive) as service:
        yield service


def _run(client: FlaskClient, **params: str) -> etree._Element:
    created = client.post("/async", data={**params, "PHASE": "RUN"})
    assert created.status_code == 303, created.get_data(as_text=True)
    url = created.headers["Location"].split("127.0.0.1:8080")[-1]
    deadline = time.monotonic() + 300
    while True:
        doc = etree.fromstring(client.get(url, query_string={"WAIT": "10"}).get_data())
        phase = doc.findtext(f"{UWS}phase")
        if phase in {"COMPLETED", "ERROR", "ABORTED"} or time.monotonic() > deadline:
            return doc


def _results(client: FlaskClient, doc: etree._Element) -> dict[str, tuple[str, bytes]]:
    out = {}
    for result in doc.iter(f"{UWS}result"):
        href = result.get(f"{XLINK}href")
        path = href.split("127.0.0.1:8080")[-1]
        response = client.get(path)
        assert response.status_code == 200
        out[result.get("id")] = (response.headers["Content-Type"], response.data)
    return out


def test_crab_image_job(service: tuple[FlaskClient, ServiceContext], tmp_path: Path) -> None:
    client, context = service
    doc = _run(client, src_name="Crab", radius="20", E1_keV="20", E2_keV="40")
    assert doc.findtext(f"{UWS}phase") == "COMPLETED", etree.tostring(doc)
    results = _results(client, doc)
    assert next(iter(results)) == "image.fits"  # primary result first
    content_type, data = results["image.fits"]
    assert content_type == "application/fits"
    image = tmp_path / "image.fits"
    image.write_bytes(data)
    with fits.open(image) as hdul:
        names = [h.name for h in hdul]
        for ext in ("INTENSITY", "VARIANCE", "SIGNIFICANCE", "EXPOSURE"):
            assert ext in names
        wcs = WCS(hdul["SIGNIFICANCE"].header)
        assert wcs.has_celestial
    catalog = tmp_path / "catalog.vot"
    catalog.write_bytes(results["catalog.vot"][1])
    table = parse_single_table(str(catalog)).to_table()
    crab = [row for row in table if str(row["name"]) == "Crab"]
    assert len(crab) == 1
    offset_arcmin = 60 * ((crab[0]["ra"] - CRAB[0]) ** 2 + (crab[0]["dec"] - CRAB[1]) ** 2) ** 0.5
    assert offset_arcmin < 2.0

    # The W3C PROV document lists every science window and calibration file used.
    from prov.model import ProvDocument

    prov_text = results["provenance.json"][1].decode()
    ProvDocument.deserialize(content=prov_text, format="json")
    for scw in context.archive.all():
        assert scw.scw_id[:12] in prov_text
    assert "isgr_mask_mod" in prov_text

    # The same request again: every node from the cache, nothing computed.
    again = _run(client, src_name="crab", radius="20", E1_keV="20", E2_keV="40")
    assert again.findtext(f"{UWS}phase") == "COMPLETED"
    info = etree.tostring(again.find(f"{UWS}jobInfo")).decode()
    assert " 0 computed" in info, info
    assert [r.get(f"{XLINK}href") for r in again.iter(f"{UWS}result")] == [
        r.get(f"{XLINK}href") for r in doc.iter(f"{UWS}result")
    ]

    # Spelled as the first: answered at creation, COMPLETED before any runner saw it.
    created = client.post(
        "/async",
        data={"src_name": "Crab", "radius": "20", "E1_keV": "20", "E2_keV": "40", "PHASE": "RUN"},
    )
    assert created.status_code == 303
    now = etree.fromstring(client.get(created.headers["Location"].split("8080")[-1]).get_data())
    assert now.findtext(f"{UWS}phase") == "COMPLETED"
    assert now.findtext(f"{UWS}startTime") == now.findtext(f"{UWS}endTime")
    assert [r.get(f"{XLINK}href") for r in now.iter(f"{UWS}result")] == [
        r.get(f"{XLINK}href") for r in doc.iter(f"{UWS}result")
    ]


@pytest.mark.parametrize(
    ("params", "param", "reason"),
    [
        ({"src_name": "Crab", "E1_keV": "40", "E2_keV": "20"}, "E2_keV", "must be above"),
        ({"src_name": "Nowhere X-42"}, "src_name", "unknown source name"),
        ({"RA": "200", "DEC": "-60", "radius": "5"}, "radius", "no science window"),
        (
            {"src_name": "Crab", "T1": "2020-01-01T00:00:00", "T2": "2020-02-01T00:00:00"},
            "T1",
            "no science window",
        ),
        (
            {"src_name": "Crab", "selected_catalog": '[{"name": "x"}]'},
            "selected_catalog",
            "unreadable source catalog",
        ),
        (
            {"src_name": "Crab", "selected_catalog": "<VOTABLE>broken"},
            "selected_catalog",
            "unreadable source catalog",
        ),
        (
            {"src_name": "Crab", "selected_catalog": "[" * 100_000 + "]" * 100_000},
            "selected_catalog",
            "nested too deeply",
        ),
        (
            {"src_name": "Crab", "selected_catalog": '[1, "a", null]'},
            "selected_catalog",
            "expected a JSON list of {name, ra, dec} objects",
        ),
        (
            {
                "src_name": "Crab",
                "selected_catalog": '[{"name": "a", "ra": 1, "dec": 2}, {"name": "a", "ra": 3, "dec": 4}]',
            },
            "selected_catalog",
            "appears twice",
        ),
        (
            {
                "src_name": "Crab",
                "selected_catalog": json.dumps(
                    [{"name": f"s{i}", "ra": i / 10, "dec": 0} for i in range(501)]
                ),
            },
            "selected_catalog",
            "at most 500",
        ),
        (
            {"src_name": "Crab", "selected_catalog": '[{"name": "a", "ra": "nan", "dec": 2}]'},
            "selected_catalog",
            "invalid position",
        ),
        ({"src_name": "Crab", "product_type": "hologram"}, "product_type", "not one of"),
        ({"src_name": "Crab", "max_pointings": "100000"}, "max_pointings", "above the maximum"),
        ({"scw_list": "000100010010"}, "scw_list", "not in the archive"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(
    service: tuple[FlaskClient, ServiceContext], params: dict[str, str], param: str, reason: str
) -> None:
    client, _ = service
    for endpoint in ("/async", "/sync"):
        response = client.post(endpoint, data=params)
        assert response.status_code == 400, (endpoint, response.get_data(as_text=True))
        doc = etree.fromstring(response.get_data())
        text = " ".join(doc.itertext()) + " ".join(i.get("value", "") for i in doc.iter("{*}INFO"))
        assert param in text and reason in text, text


@pytest.mark.parametrize(
    ("product_type", "primary", "content_type"),
    [
        ("spectrum", "Crab", "application/fits"),
        ("light_curve", "Crab", "application/fits"),
        ("spectral_fit", "fits", "application/x-votable+xml"),
        ("transient_search", "transients", "application/json"),
    ],
)
def test_spectrum_and_light_curve_jobs_with_the_image_catalog(
    service: tuple[FlaskClient, ServiceContext],
    product_type: str,
    primary: str,
    content_type: str,
) -> None:
    client, context = service
    image = _run(client, src_name="Crab", radius="20")
    assert image.findtext(f"{UWS}phase") == "COMPLETED"
    catalog_href = next(
        r.get(f"{XLINK}href") for r in image.iter(f"{UWS}result") if r.get("id") == "catalog.vot"
    )
    catalog_id = context.settings.ivoid + "?" + catalog_href.split("/products/")[1].split("/")[0]
    doc = _run(
        client,
        product_type=product_type,
        src_name="Crab",
        radius="20",
        selected_catalog=catalog_id,
        time_bin="100",
    )
    assert doc.findtext(f"{UWS}phase") == "COMPLETED", etree.tostring(doc)
    results = _results(client, doc)
    first = next(iter(results))
    assert first.startswith(primary), list(results)
    assert results[first][0].startswith(content_type)


def test_products_sharing_one_fit_are_stored_apart(
    service: tuple[FlaskClient, ServiceContext],
) -> None:
    """A spectral_fit and a spectrum of the same request come from one fit, but each is its
    own stored product with its own primary file (the first stored stood for both before)."""
    client, context = service
    stored = {}
    for product_type, primary in (("spectral_fit", "fits.vot"), ("spectrum", "Crab.pha")):
        doc = _run(client, product_type=product_type, src_name="Crab", radius="19")
        assert doc.findtext(f"{UWS}phase") == "COMPLETED", etree.tostring(doc)
        href = next(r.get(f"{XLINK}href") for r in doc.iter(f"{UWS}result"))
        product_hash = href.split("/products/")[1].split("/")[0]
        product = context.store.get(product_hash)
        assert product is not None
        assert product.product_type == product_type
        assert product.primary.name == primary
        stored[product_type] = product_hash
    assert stored["spectral_fit"] != stored["spectrum"]
