"""Real clients over a real HTTP server: pyvo's DataLink and SODA support, STILTS by URL."""

from __future__ import annotations

import io
from urllib.parse import quote

import numpy as np
import pytest
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


def test_pyvo_follows_the_links_block_of_a_catalog(live_url: str, products: Products) -> None:
    """A result VOTable (a catalog, a job result) carries the {links} descriptor."""
    from astropy.io.votable import parse
    from astropy.io.votable.tree import Resource, TableElement, VOTableFile
    from astropy.table import Table
    from pyvo.dal import TAPResults

    from datalink import add_service_descriptors, links_service_descriptor, to_bytes

    votable = VOTableFile(version="1.4")
    resource = Resource(type="results")
    votable.resources.append(resource)
    table = TableElement.from_table(
        votable, Table({"product_id": [products.mosaic, products.spectrum], "ra": [83.6, 84.0]})
    )
    table.fields[0].ID = "product_id"
    resource.tables.append(table)
    add_service_descriptors(
        votable, [links_service_descriptor(f"{live_url}/datalink/links", id_ref="product_id")]
    )
    # TAPResults: what pyvo returns for a catalog query; any DataLink-aware result class.
    results = TAPResults(parse(io.BytesIO(to_bytes(votable))))
    found = {}
    for row, links in zip(results, results.iter_datalinks(preserve_order=True), strict=True):
        found[row["product_id"]] = sorted(str(r.semantics) for r in links)
    assert "#cutout" in found[products.mosaic]
    assert found[products.spectrum].count("#auxiliary") == 2


def test_pyvo_band_in_kev_rederives_that_band(live_url: str, products: Products) -> None:
    """pyvo converts an energy band to SODA's wavelengths; the source receives keV again."""
    import astropy.units as u

    url = f"{live_url}/datalink/links?ID={quote(products.mosaic, safe='')}"
    links = DatalinkResults.from_result_url(url)
    proc = links.get_first_proc()
    service = links.get_adhocservice_by_id(proc.service_def)
    query = SodaQuery.from_resource(proc, service)
    # The band setter converts with spectral equivalencies (from_resource's does not).
    query.band = [30, 60] * u.keV
    with query.execute_stream() as stream:
        hdus = fits.open(io.BytesIO(stream.read()))
    original = fits.open(products.source.root / "a1b2c3d4e5" / "image.fits")
    # The test double scales the source by the band width: (60 - 30) / 80.
    ratio = (hdus[1].data.max() - 1) / (original[1].data.max() - 1)
    assert ratio == pytest.approx(30 / 80, rel=1e-4)
