"""Find what the archive holds with TAP and SIA, cross-match your own list, follow DataLink.

Usage: python examples/tap_discovery.py [SERVICE_URL]   (default http://127.0.0.1:8080)

It first makes sure a Crab image exists (the package's client, a quick look), then:
an ADQL cone over the detections, a cross-match of a small list of yours uploaded as a
VOTable (TAP_UPLOAD, as TOPCAT does), and an SIA 2.0 search whose first image is followed
through its DataLink links.
"""

import sys

from astropy.table import Table
from pyvo.dal import TAPService
from pyvo.dal.adhoc import DatalinkResults
from pyvo.dal.sia2 import SIA2Service

from vo_service.client import Client

CRAB = (83.63308, 22.0145)


def main(url: str) -> None:
    Client(url).get_product(
        "image", src_name="Crab", radius=20, E1_keV=20, E2_keV=40, max_pointings=10
    )
    tap = TAPService(f"{url}/tap")

    near = tap.run_sync(
        "SELECT source_name, ra, dec, significance, detection_id FROM isgri.detections "
        f"WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {CRAB[0]}, {CRAB[1]}, 1))"
    ).to_table()
    print(f"{len(near)} detections within 1 deg of the Crab")
    print(near["source_name", "ra", "dec", "significance"])

    mine = Table(
        {"my_name": ["crab?", "nothing here"], "ra": [83.634, 120.0], "dec": [22.016, -45.0]}
    )
    pairs = tap.run_sync(
        "SELECT m.my_name, d.source_name, d.significance, "
        "DISTANCE(POINT('ICRS', m.ra, m.dec), POINT('ICRS', d.ra, d.dec)) * 60 AS sep_arcmin "
        "FROM TAP_UPLOAD.mine AS m JOIN isgri.detections AS d "
        "ON 1 = CONTAINS(POINT('ICRS', d.ra, d.dec), CIRCLE('ICRS', m.ra, m.dec, 2 / 60.0))",
        uploads={"mine": mine},
    ).to_table()
    print(f"cross-match: {len(pairs)} pairs within 2 arcmin")
    for row in pairs:
        print(f"  {row['my_name']} = {row['source_name']} ({row['sep_arcmin']:.2f} arcmin)")

    images = SIA2Service(f"{url}/sia").search(pos=(*CRAB, 0.5))
    print(f"SIA: {len(images)} images cover the Crab")
    first = images[0]
    links = DatalinkResults.from_result_url(str(first.access_url))
    this = next(link for link in links if link.semantics == "#this")
    print(f"first image {first.obs_publisher_did}: {this.access_url}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080")
