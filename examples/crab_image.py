"""Request a Crab image from the service with pyvo and download its source catalog.

Usage: python examples/crab_image.py [SERVICE_URL]   (default http://127.0.0.1:8080)
"""

import sys

import requests
from astropy.table import Table
from pyvo.dal.tap import AsyncTAPJob

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"

# Create the job (UWS 1.1): parameters follow the ODA names.
created = requests.post(
    f"{url}/async",
    data={"product_type": "image", "src_name": "Crab", "radius": 20, "E1_keV": 20, "E2_keV": 40},
    allow_redirects=False,
    timeout=60,
)
created.raise_for_status()
job = AsyncTAPJob(created.headers["Location"])
job.run()
job.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=1800)
job.raise_if_error()

for result in job.job.results:
    print(f"{result.id_:24s} {result.href}")

catalog_url = next(r.href for r in job.job.results if r.id_ == "catalog.vot")
catalog = Table.read(catalog_url, format="votable")
print(catalog["name", "ra", "dec", "significance"])
