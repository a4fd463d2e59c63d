"""Same request, fresh cache: the image, catalog and spectrum products are identical to the byte.

Nothing in a product may depend on when or where it was made (no wall-clock time in a FITS
card, a CHECKSUM comment, a VOTable or a PNG): a user comparing two downloads, or a cache
rebuilt after eviction, must see the same files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from astropy.io import fits

from processing.isgri import (
    CatalogSource,
    ImageRequest,
    SpectrumRequest,
    run_image_product,
    run_spectrum_product,
)
from processing.pipeline import CacheStore, InlineExecutor, Pipeline, ProductCache
from processing.products import ProductDescriptor
from tests.processing.isgri.spectra_archives import CRAB, FAINT, Archive, build_archive
from vo_service.db import make_engine, upgrade_database

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return build_archive("crab", tmp_path_factory.mktemp("determinism"))


def _fresh_pipeline(archive: Archive, folder: Path) -> Pipeline:
    """A pipeline with its own empty cache store and cache index."""
    folder.mkdir()
    engine = make_engine(f"sqlite:///{folder / 'cache.sqlite'}")
    upgrade_database(engine)
    return Pipeline(
        ProductCache(CacheStore(folder / "store", durable=False), engine), InlineExecutor()
    )


def _files(descriptors: ProductDescriptor | list[ProductDescriptor]) -> dict[str, bytes]:
    if isinstance(descriptors, ProductDescriptor):
        descriptors = [descriptors]
    return {f.name: f.path.read_bytes() for d in descriptors for f in d.files}


def test_image_products_are_identical_on_a_fresh_cache(archive: Archive, tmp_path: Path) -> None:
    request = ImageRequest(ra=CRAB["ra"], dec=CRAB["dec"], radius_deg=8.0)
    first = _files(
        run_image_product(
            _fresh_pipeline(archive, tmp_path / "a"), archive.index, archive.instrument, request
        )
    )
    second = _files(
        run_image_product(
            _fresh_pipeline(archive, tmp_path / "b"), archive.index, archive.instrument, request
        )
    )
    assert set(first) == {"image.fits", "catalog.vot", "catalog.fits", "preview.png"}
    for name in first:
        assert first[name] == second[name], name
    # The FITS files carry checksums, without the time stamp astropy would write by default.
    path = next(tmp_path.glob("a/**/image.fits"))
    with fits.open(path, checksum=True) as hdul:
        for hdu in hdul:
            assert "CHECKSUM" in hdu.header and "DATASUM" in hdu.header
            assert hdu.header.comments["CHECKSUM"] == "HDU checksum"


def test_spectrum_products_are_identical_on_a_fresh_cache(archive: Archive, tmp_path: Path) -> None:
    request = SpectrumRequest(
        sources=(
            CatalogSource(CRAB["name"], CRAB["ra"], CRAB["dec"]),
            CatalogSource(FAINT["name"], FAINT["ra"], FAINT["dec"]),
        ),
        time_range=(0.0, 1e5),
    )
    runs = [
        _files(
            run_spectrum_product(
                _fresh_pipeline(archive, tmp_path / k), archive.index, archive.instrument, request
            )
        )
        for k in ("a", "b")
    ]
    assert runs[0], "no spectrum files"
    assert runs[0].keys() == runs[1].keys()
    for name in runs[0]:
        assert runs[0][name] == runs[1][name], name
