"""SODA sync: WCS-correct cut-outs of every extension, re-derivations, errors per SODA §5."""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from flask import Flask

from datalink import KEV_METRE
from tests.datalink.conftest import IMAGE_DEC, IMAGE_RA, SOURCE_DEC, SOURCE_RA, Products

SYNC = "/soda/sync"


def peak_position(hdu: fits.ImageHDU) -> SkyCoord:
    """Sky position of the brightest pixel's intensity-weighted centroid."""
    data = np.asarray(hdu.data, dtype=float)
    y, x = np.unravel_index(np.argmax(data), data.shape)
    # +-8 pixels hold the whole Gaussian (sigma 2 px): no truncation bias.
    window = data[y - 8 : y + 9, x - 8 : x + 9] - 1.0
    yy, xx = np.mgrid[y - 8 : y + 9, x - 8 : x + 9]
    cx, cy = (window * xx).sum() / window.sum(), (window * yy).sum() / window.sum()
    sky = WCS(hdu.header).pixel_to_world(cx, cy)
    assert isinstance(sky, SkyCoord)
    return sky


def cut(app: Flask, **query: str) -> fits.HDUList:
    response = app.test_client().get(SYNC, query_string=query)
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/fits"
    return fits.open(io.BytesIO(response.data))


@pytest.mark.parametrize(
    "region",
    [
        {"CIRCLE": f"{SOURCE_RA} {SOURCE_DEC} 0.6"},
        {"POS": f"CIRCLE {SOURCE_RA} {SOURCE_DEC} 0.6"},
        {"pos": f"range {SOURCE_RA - 0.5} {SOURCE_RA + 0.5} {SOURCE_DEC - 0.5} {SOURCE_DEC + 0.5}"},
        {
            "POLYGON": f"{SOURCE_RA - 0.5} {SOURCE_DEC - 0.5} {SOURCE_RA + 0.5} {SOURCE_DEC - 0.5} "
            f"{SOURCE_RA} {SOURCE_DEC + 0.6}"
        },
    ],
)
def test_cutout_keeps_the_source_at_its_catalogue_position(
    app: Flask, products: Products, region: dict[str, str]
) -> None:
    hdus = cut(app, ID=products.mosaic, **region)
    images = [h for h in hdus if h.data is not None and h.header.get("NAXIS") == 2]
    assert len(images) == 4  # every image extension
    truth = SkyCoord(SOURCE_RA, SOURCE_DEC, unit="deg")
    for hdu in images:
        assert hdu.data.shape[0] < 60 and hdu.data.shape[1] < 60  # cut from 200 x 200
        # 1/100 of a 3-arcmin pixel.
        assert peak_position(hdu).separation(truth).arcsec < 1.8
        assert hdu.header["BUNIT"] == "count/s"
        assert "SODA cut-out" in str(hdu.header["HISTORY"])
    # The cut is the region's bounding box: its corners lie outside the region.
    wcs = WCS(images[0].header)
    ny, nx = images[0].data.shape
    corners = wcs.pixel_to_world([-0.5, nx - 0.5, -0.5, nx - 0.5], [-0.5, -0.5, ny - 0.5, ny - 0.5])
    assert (corners.separation(truth).deg > 0.5).all()


def test_cut_matches_the_original_pixels(app: Flask, products: Products) -> None:
    hdus = cut(app, ID=products.mosaic, CIRCLE=f"{IMAGE_RA} {IMAGE_DEC} 1.0")
    hdus.verify("exception")  # a standard-conforming FITS file
    original = fits.open(products.source.root / "a1b2c3d4e5" / "image.fits")
    cut_hdu, full = hdus[1], original[1]
    wcs_cut, wcs_full = WCS(cut_hdu.header), WCS(full.header)
    x, y = wcs_full.world_to_pixel(wcs_cut.pixel_to_world(0, 0))
    x0, y0 = round(float(x)), round(float(y))
    ny, nx = cut_hdu.data.shape
    np.testing.assert_array_equal(cut_hdu.data, full.data[y0 : y0 + ny, x0 : x0 + nx])
    assert abs(float(x) - x0) < 1e-6 and abs(float(y) - y0) < 1e-6


def test_region_larger_than_the_image_returns_it_whole(app: Flask, products: Products) -> None:
    hdus = cut(app, ID=products.mosaic, CIRCLE=f"{IMAGE_RA} {IMAGE_DEC} 30")
    assert hdus[1].data.shape == (200, 200)


def test_region_off_the_image_is_204(app: Flask, products: Products) -> None:
    response = app.test_client().get(
        SYNC, query_string={"ID": products.mosaic, "CIRCLE": "200 -40 1"}
    )
    assert response.status_code == 204
    assert response.data == b""


def test_band_rederives_the_product(app: Flask, products: Products) -> None:
    # 30-60 keV as a wavelength interval.
    band = f"{KEV_METRE / 60} {KEV_METRE / 30}"
    response = app.test_client().get(SYNC, query_string={"ID": products.mosaic, "BAND": band})
    assert response.status_code == 200
    hdus = fits.open(io.BytesIO(response.data))
    original = fits.open(products.source.root / "a1b2c3d4e5" / "image.fits")
    # The fake re-derivation scales the source by (60 - 30) / 80.
    ratio = (hdus[1].data.max() - 1) / (original[1].data.max() - 1)
    assert ratio == pytest.approx(30 / 80, rel=1e-5)


def test_band_and_circle_rederive_then_cut(app: Flask, products: Products) -> None:
    band = f"{KEV_METRE / 100} {KEV_METRE / 60}"
    hdus = cut(
        app,
        ID=products.mosaic,
        BAND=band,
        TIME="53001 53002",
        CIRCLE=f"{SOURCE_RA} {SOURCE_DEC} 0.5",
    )
    assert hdus[1].data.shape[0] < 40
    assert (
        peak_position(hdus[1]).separation(SkyCoord(SOURCE_RA, SOURCE_DEC, unit="deg")).arcsec < 20
    )


def test_band_outside_the_product_is_204(app: Flask, products: Products) -> None:
    band = f"{KEV_METRE / 1000} {KEV_METRE / 500}"  # 500-1000 keV, product is 20-100 keV
    response = app.test_client().get(SYNC, query_string={"ID": products.mosaic, "BAND": band})
    assert response.status_code == 204


def test_open_band_is_clipped_to_the_product(app: Flask, products: Products) -> None:
    response = app.test_client().get(
        SYNC, query_string={"ID": products.mosaic, "BAND": f"-Inf {KEV_METRE / 50}"}
    )
    assert response.status_code == 200  # 50 keV .. the product's 100 keV


def test_time_rederives(app: Flask, products: Products) -> None:
    response = app.test_client().get(
        SYNC, query_string={"ID": products.mosaic, "TIME": "53002 53004"}
    )
    assert response.status_code == 200
    assert fits.open(io.BytesIO(response.data))[1].data.shape == (200, 200)


@pytest.mark.parametrize(
    ("query", "status", "code", "parameter"),
    [
        ({}, 400, "UsageError", "ID"),
        ({"CIRCLE": "83 22 1"}, 400, "UsageError", "ID"),
        ({"POS": "CIRCLE 83 22"}, 400, "UsageError", "POS"),
        ({"POS": "BOX 83 22 1 1"}, 400, "UsageError", "POS"),
        ({"POS": "CIRCLE a b c"}, 400, "UsageError", "POS"),
        ({"POS": "POLYGON 1 2 3 4"}, 400, "UsageError", "POS"),
        ({"POS": "RANGE 10 5 0 1"}, 400, "UsageError", "POS"),
        ({"CIRCLE": "83 95 1"}, 400, "UsageError", "CIRCLE"),
        ({"CIRCLE": "400 22 1"}, 400, "UsageError", "CIRCLE"),
        ({"CIRCLE": "83 22 -1"}, 400, "UsageError", "CIRCLE"),
        ({"CIRCLE": "83 22 NaN"}, 400, "UsageError", "CIRCLE"),
        ({"POLYGON": "1 2 3 4 5"}, 400, "UsageError", "POLYGON"),
        ({"BAND": "2e-11 1e-11"}, 400, "UsageError", "BAND"),
        ({"BAND": "1e-11"}, 400, "UsageError", "BAND"),
        ({"BAND": "-Inf 0"}, 400, "UsageError", "BAND"),
        ({"TIME": "53005 53001"}, 400, "UsageError", "TIME"),
        ({"TIME": "soon later"}, 400, "UsageError", "TIME"),
        (
            {"POS": "CIRCLE 83 22 1", "CIRCLE": "83 22 1"},
            400,
            "MultiValuedParamNotSupported",
            "POS",
        ),
    ],
)
def test_bad_parameters(
    app: Flask, products: Products, query: dict[str, str], status: int, code: str, parameter: str
) -> None:
    if parameter != "ID":
        query = {"ID": products.mosaic, **query}
    response = app.test_client().get(SYNC, query_string=query)
    assert response.status_code == status
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert text.startswith(f"{code}: {parameter}: "), text


@pytest.mark.parametrize("name", ["ID", "CIRCLE", "BAND", "TIME", "POS"])
def test_repeated_parameters_are_refused_in_sync(app: Flask, products: Products, name: str) -> None:
    values = {
        "ID": products.mosaic,
        "CIRCLE": "84 22 0.5",
        "BAND": "1e-11 2e-11",
        "TIME": "53001 53002",
        "POS": "CIRCLE 84 22 0.5",
    }
    query = [("ID", products.mosaic), (name, values[name]), (name, values[name])]
    response = app.test_client().get(SYNC, query_string=query)
    assert response.status_code == 400
    assert response.get_data(as_text=True).startswith(f"MultiValuedParamNotSupported: {name}: ")


def test_unknown_id_is_404(app: Flask) -> None:
    response = app.test_client().get(
        SYNC, query_string={"ID": "ivo://example.org/isgri?0000", "CIRCLE": "83 22 1"}
    )
    assert response.status_code == 404
    assert response.get_data(as_text=True).startswith("UsageError: ID: ")


@pytest.mark.parametrize(
    ("query", "parameter"),
    [({"CIRCLE": "83 22 1"}, "POS"), ({"BAND": "1e-11 2e-11"}, "BAND"), ({"TIME": "1 2"}, "TIME")],
)
def test_operations_a_product_lacks_are_422(
    app: Flask, products: Products, query: dict[str, str], parameter: str
) -> None:
    response = app.test_client().get(SYNC, query_string={"ID": products.spectrum, **query})
    assert response.status_code == 422
    assert response.get_data(as_text=True).startswith(f"UsageError: {parameter}: ")


def test_post_and_case_insensitive_names(app: Flask, products: Products) -> None:
    response = app.test_client().post(
        SYNC, data={"id": products.mosaic, "circle": f"{SOURCE_RA} {SOURCE_DEC} 0.3"}
    )
    assert response.status_code == 200
    assert fits.open(io.BytesIO(response.data))[1].data.shape[0] < 30


def test_time_cut_of_a_light_curve(app: Flask, products: Products) -> None:
    light_curve = products.source.add_light_curve("1c0ffee002")
    client = app.test_client()
    response = client.get(SYNC, query_string={"ID": light_curve, "TIME": "53002 53004"})
    assert response.status_code == 200
    assert response.mimetype == "application/fits"
    refused = client.get(SYNC, query_string={"ID": light_curve, "BAND": "1e-11 2e-11"})
    assert refused.status_code == 422
    assert (
        client.get(SYNC, query_string={"ID": light_curve, "TIME": "54000 54001"}).status_code == 204
    )


def test_a_rederived_product_without_local_file_is_a_redirect(products: Products) -> None:
    """Sources whose files live elsewhere: SODA answers 303 to the new product's file."""
    from dataclasses import replace

    from datalink import ProductDescription, ProductFile
    from tests.datalink.conftest import make_app

    class RemoteFiles:
        def describe(self, product_id: str) -> ProductDescription:
            return products.source.describe(product_id)

        def rederive(self, product_id: str, **intervals: object) -> ProductDescription:
            new = products.source.rederive(product_id, **intervals)  # type: ignore[arg-type]
            remote = ProductFile("#this", "https://store.example.org/new.fits", "application/fits")
            return replace(new, files=[remote])

    app = make_app(RemoteFiles())  # type: ignore[arg-type]
    response = app.test_client().get(
        SYNC, query_string={"ID": products.mosaic, "TIME": "53001 53002"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "https://store.example.org/new.fits"
