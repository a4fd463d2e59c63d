"""A SODA cut-out of a mosaic around the Crab, by product identifier.

Usage: python examples/cutout.py [SERVICE_URL] [PRODUCT_ID]   (default http://127.0.0.1:8080)

Without a product identifier, an image of the Crab field is made first. The cut-out keeps
every sky image (intensity, variance, significance, exposure) within the circle, with its WCS.
"""

import sys

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from vo_service.client import Client

CRAB = SkyCoord(83.63308, 22.0145, unit="deg")


def main(url: str, product_id: str | None) -> None:
    client = Client(url)
    if product_id is None:
        image = client.get_product(
            "image", src_name="Crab", radius=20, max_pointings=10, download=False, progress=True
        )
        product_id = image.product_id
    print(f"product {product_id}")

    path = client.cutout(product_id, CRAB.ra, CRAB.dec, 2 * u.deg)
    print(f"cut-out {path}")
    with fits.open(path) as hdus:
        for hdu in hdus[1:]:
            print(f"  {hdu.name:13s} {hdu.data.shape}")
        significance = hdus["SIGNIFICANCE"]
        iy, ix = np.unravel_index(np.nanargmax(significance.data), significance.data.shape)
        peak = WCS(significance.header).pixel_to_world(ix, iy)
    print(
        f"brightest pixel at RA {peak.ra.deg:.3f}, Dec {peak.dec.deg:.3f}: "
        f"{peak.separation(CRAB).arcmin:.1f} arcmin from the Crab"
    )


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080",
        sys.argv[2] if len(sys.argv) > 2 else None,
    )
