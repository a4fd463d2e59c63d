"""Search the light curves of the sources around the Crab for flares.

Usage: python examples/transient_search.py [SERVICE_URL]   (default http://127.0.0.1:8080)

The product's primary file, ``transients.json``, holds per source its Bayesian blocks and the
blocks significantly above the source's baseline.
"""

import json
import sys

from vo_service.client import Client


def main(url: str) -> None:
    search = Client(url).get_product(
        "transient_search",
        src_name="Crab",
        radius=20,
        E1_keV=20,
        E2_keV=40,
        time_bin=300,
        max_pointings=10,
        progress=True,
    )
    print(f"product {search.product_id}")
    sources = json.loads(search.file("transients.json").read_text())
    for source in sources:
        flares, blocks = len(source["significant"]), source["n_blocks"]
        print(
            f"{source['source']}: {blocks} Bayesian block{'s' if blocks != 1 else ''}, "
            f"{flares} significant flare{'s' if flares != 1 else ''}"
        )
        for block in source["blocks"]:
            print(
                f"    IJD {block['start']:.4f}-{block['stop']:.4f}: {block['rate']:.2f} "
                f"+/- {block['error']:.2f} counts/s, {block['significance']:.1f} sigma"
            )
    if not any(source["significant"] for source in sources):
        print("no significant transient")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080")
