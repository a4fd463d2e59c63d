"""A sky image of the Crab field and its source catalog, with the package's client.

Usage: python examples/image_catalog.py [SERVICE_URL]   (default http://127.0.0.1:8080)

The files land in ``vo_products/<product hash>/`` in the working directory.
"""

import sys

from astropy.coordinates import SkyCoord
from astropy.wcs import WCS

from vo_service.client import Client


def main(url: str) -> None:
    client = Client(url)
    image = client.get_product(
        "image",
        src_name="Crab",
        radius=20,
        E1_keV=20,
        E2_keV=40,
        max_pointings=10,  # a quick look: at most 10 science windows
        progress=True,
    )
    print(f"product {image.product_id}")
    for path in image.files:
        print(f"  {path}")

    catalog = image.table("catalog.vot")
    print(catalog["name", "ra", "dec", "significance"])

    # The significance map at each catalog position, through the image's own WCS.
    with image.fits("image.fits") as hdus:
        significance = hdus["SIGNIFICANCE"]
        wcs = WCS(significance.header)
        for row in catalog:
            x, y = wcs.world_to_pixel(SkyCoord(row["ra"], row["dec"], unit="deg"))
            value = significance.data[round(float(y)), round(float(x))]
            print(f"{row['name']}: {value:.1f} sigma in the map, {row['significance']:.1f} listed")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080")
