"""Cross-match the sources found in an ISGRI image with another VO service's catalog.

Usage: python examples/crossmatch.py SERVICE_URL CONE_SEARCH_URL [MATCH_RADIUS_ARCMIN]

CONE_SEARCH_URL is any IVOA Simple Cone Search service (find one with
``pyvo.regsearch(servicetype="scs", keywords=[...])``). One cone is asked for, holding every
source of the image's catalog; each ISGRI source is paired with the nearest entry within the
match radius (default 6 arcmin, half of ISGRI's 12 arcmin angular resolution; the catalog's
``r90`` column gives each source's own 90 % error radius, printed beside it).
"""

import sys

from astropy import units as u
from astropy.coordinates import SkyCoord
from pyvo.dal import SCSService

from vo_service.client import Client


def main(url: str, cone_search_url: str, match_radius: u.Quantity) -> None:
    image = Client(url).get_product(
        "image", src_name="Crab", radius=20, max_pointings=10, progress=True
    )
    catalog = image.table("catalog.vot")
    isgri = SkyCoord(catalog["ra"], catalog["dec"], unit="deg")
    print(f"ISGRI sources in {image.product_id}: {len(catalog)}")

    # One cone holding every ISGRI source: around their mean direction.
    centre = SkyCoord(isgri.cartesian.mean(), frame="icrs")
    radius = isgri.separation(centre).max() + match_radius
    found = SCSService(cone_search_url).search(pos=centre, radius=radius)
    print(f"entries of the other catalog within {radius.to(u.deg):.2f}: {len(found)}")
    if len(found) == 0:
        return

    # Simple Cone Search results name their position and identifier by UCD: pyvo's records
    # read them whatever the columns are called.
    others = SkyCoord([record.pos for record in found])
    names = [str(record.id) for record in found]
    index, separation, _ = isgri.match_to_catalog_sky(others)
    for row, i, sep in zip(catalog, index, separation, strict=True):
        source = f"{row['name']:>16s} ({row['significance']:.1f} sigma, r90 {row['r90']:.2f}')"
        if sep <= match_radius:
            print(f"{source} = {names[i]} at {sep.to(u.arcmin).value:.2f} arcmin")
        else:
            print(f"{source}: no counterpart")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(
        sys.argv[1],
        sys.argv[2],
        float(sys.argv[3]) * u.arcmin if len(sys.argv) > 3 else 6 * u.arcmin,
    )
