"""Real clients over a real HTTP server: pyvo's DataLink and SODA support, STILTS by URL."""

from __future__ import annotations

import io
from urllib.parse import quote

import numpy as np
import requests
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from pyvo.dal.adhoc import DatalinkResults, SodaQuery

from tests.datalink.conftest import SOURCE_DEC, SOURCE_RA, Products, datalinklint
from tests.datalink.test_soda_sync import peak_position


def test_pyvo_lists_the_links(live_url: str, products: Products) -> None:
    url = f"{live_url}/datalink/links?ID={quote(products.mosaic, safe='')}"
    links = DatalinkResults.from_result_url(url)
    semantics = [row.semantics for row in links]
    assert semantics.count("#this") == 1 and "#preview" in semantics
    # include_narrower=False: expanding terms would fetch the vocabulary from the network.
    (this,) = links.bysemantics("#this", include_narrower=False)
    assert this.access_url.startswith(live_url)
    assert this.content_type == "application/fits"
    fetched = requests.get(this.access_url, timeout=10)
    assert fetched.status_code == 200
    assert fits.open(io.BytesIO(fetched.content))[1].data.shape == (200, 200)


def test_pyvo_soda_cuts_a_circle(live_url: str, products: Products) -> None:
    url = f"{live_url}/datalink/links?ID={quote(products.mosaic, safe='')}"
    links = DatalinkResults.from_result_url(url)
    proc = links.get_first_proc()
    assert proc.semantics == "#cutout"
    service = links.get_adhocservice_by_id(proc.service_def)
    query = SodaQuery.from_resource(proc, service, circle=[SOURCE_RA, SOURCE_DEC, 0.5])
    assert query["ID"] == products.mosaic
    with query.execute_stream() as stream:
        body = stream.read()
    hdus = fits.open(io.BytesIO(body))
    image = hdus["INTENSITY"]
    assert image.data.shape[0] < 30
    truth = SkyCoord(SOURCE_RA, SOURCE_DEC, unit="deg")
    assert peak_position(image).separation(truth).arcsec < 1.8
    assert np.isfinite(WCS(image.header).wcs.crpix).all()


def test_pyvo_processed_uses_the_soda_descriptor(live_url: str, products: Products) -> None:
    url = f"{live_url}/datalink/links?ID={quote(products.mosaic, safe='')}"
    links = DatalinkResults.from_result_url(url)
    row = next(iter(links))
    stream = row.processed(circle=[SOURCE_RA, SOURCE_DEC, 0.4])
    hdus = fits.open(io.BytesIO(stream.read()))
    assert len([h for h in hdus if h.is_image and h.data is not None]) == 4


def test_datalinklint_by_url(live_url: str, products: Products, lint_warnings: list[str]) -> None:
    for product in (products.mosaic, products.spectrum):
        report = datalinklint(f"{live_url}/datalink/links?ID={quote(product, safe='')}")
        assert report.errors == [], report.output
        lint_warnings.extend(report.warnings)
