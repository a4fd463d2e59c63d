"""Fingerprints of the ISGRI products of one simulated archive, to compare two code versions.

Runs the image, spectrum and light-curve products of the ``crab`` test archive on a fresh cache
and prints each product's provenance hash and the SHA-256 of each of its files. Run it from the
root of each checkout and compare the outputs (``diff``): a change that must not alter products
(a refactoring) leaves them identical.

    PYTHONPATH=. python scripts/product_fingerprints.py /tmp/fingerprints > before.txt
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from processing.isgri import (
    CatalogSource,
    ImageRequest,
    LightCurveRequest,
    SpectrumRequest,
    run_image_product,
    run_lightcurve_product,
    run_spectrum_product,
)
from processing.pipeline import CacheStore, InlineExecutor, Pipeline, ProductCache
from processing.products import ProductDescriptor
from tests.processing.isgri.spectra_archives import CRAB, FAINT, build_archive
from vo_service.db import make_engine, upgrade_database


def _pipeline(folder: Path) -> Pipeline:
    folder.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{folder / 'cache.sqlite'}")
    upgrade_database(engine)
    store = CacheStore(folder / "store", durable=False)
    return Pipeline(ProductCache(store, engine), InlineExecutor())


def _show(kind: str, products: ProductDescriptor | list[ProductDescriptor]) -> None:
    for product in products if isinstance(products, list) else [products]:
        print(kind, product.provenance_hash)
        for f in product.files:
            print("  ", f.name, hashlib.sha256(f.path.read_bytes()).hexdigest())


def main(work: Path) -> None:
    archive = build_archive("crab", work / "archive")
    sources = tuple(CatalogSource(s["name"], s["ra"], s["dec"]) for s in (CRAB, FAINT))
    image = ImageRequest(ra=CRAB["ra"], dec=CRAB["dec"], radius_deg=8.0)
    spectrum = SpectrumRequest(sources=sources, time_range=(0.0, 1e5))
    lightcurve = LightCurveRequest(sources=sources, time_range=(0.0, 1e5))
    index, instrument = archive.index, archive.instrument
    _show("image", run_image_product(_pipeline(work / "i"), index, instrument, image))
    _show("spectrum", run_spectrum_product(_pipeline(work / "s"), index, instrument, spectrum))
    _show(
        "lightcurve",
        run_lightcurve_product(_pipeline(work / "l"), index, instrument, lightcurve),
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
