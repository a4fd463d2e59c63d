"""A light curve of the Crab in 20-40 keV, and whether it is constant.

Usage: python examples/light_curve.py [SERVICE_URL]   (default http://127.0.0.1:8080)

The job runs asynchronously here: submit, follow its progress, then take the product.
"""

import sys

import numpy as np

from vo_service.client import Client


def main(url: str) -> None:
    client = Client(url)
    job = client.submit(
        "light_curve",
        src_name="Crab",
        radius=20,
        E1_keV=20,
        E2_keV=40,
        time_bin=600,  # seconds
        max_pointings=10,
    )
    print(f"job {job.url}")
    job.wait(progress=lambda p: print(f"  {p}"))
    light_curve = job.product()
    print(f"product {light_curve.product_id}")

    table = light_curve.table()  # the light curve as a VOTable (time in MJD, rate, error)
    print(table)
    good = np.isfinite(table["rate"]) & (table["rate_error"] > 0)
    rate, error = np.asarray(table["rate"][good]), np.asarray(table["rate_error"][good])
    weights = 1.0 / error**2
    mean = float(np.sum(weights * rate) / np.sum(weights))
    chi2 = float(np.sum(((rate - mean) / error) ** 2))
    print(f"{good.sum()} bins, mean rate {mean:.2f} counts/s, chi2 = {chi2:.1f} for a constant")
    print(f"OGIP light curve: {light_curve.file('*.lc')}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080")
