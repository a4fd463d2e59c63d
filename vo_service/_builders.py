"""Wiring of the analysis packages into product builders, one per product type.

A builder turns a validated request (:class:`~vo_service._build_env.BuildEnvironment`) into
product descriptors, primary first, by calling the processing API; no science happens here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from processing.archive import MJDREF
from processing.isgri._products_image import ImageRequest, run_image_product
from processing.products import ProductDescriptor, ProductFile
from vo_service._build_env import PRODUCT_BUILDERS, BuildEnvironment, ProductBuilder

__all__ = ["register_builders", "request_extent"]

#: Order and DataLink semantics of image-product files (primary first).
_IMAGE_FILES = {
    "image.fits": ("#this", "sky images: intensity, variance, significance, exposure"),
    "catalog.vot": ("#auxiliary", "source catalog (VOTable)"),
    "catalog.fits": ("#auxiliary", "source catalog (FITS)"),
    "preview.png": ("#preview", "significance map with the catalog overlaid"),
}


def request_extent(env: BuildEnvironment) -> dict[str, Any]:
    """Sky, band and time extent of a product (metadata for DataLink and SODA)."""
    scws = env.science_windows
    return {
        "ra": env.ra,
        "dec": env.dec,
        "radius_deg": env.request.radius_deg,
        "e_min_kev": env.request.e1_kev,
        "e_max_kev": env.request.e2_kev,
        "t_min_mjd": min(s.tstart for s in scws) + MJDREF,
        "t_max_mjd": max(s.tstop for s in scws) + MJDREF,
        "scw_ids": [s.scw_id for s in scws],
        "request": env.request.canonical(),
        "resolver": env.resolver,
        "simulated": all(s.simulated for s in scws),
    }


def _centre(env: BuildEnvironment) -> tuple[float, float]:
    if env.ra is not None and env.dec is not None:
        return env.ra, env.dec
    # An explicit ScW list without a position: centre on the mean pointing.
    from processing.instrument import radec_to_unit, unit_to_radec

    vec = np.sum([radec_to_unit(s.ra_x, s.dec_x) for s in env.science_windows], axis=0)
    ra, dec = unit_to_radec(vec)
    return float(ra), float(dec)


def build_image(env: BuildEnvironment) -> list[ProductDescriptor]:
    """Sky images, mosaic and catalog of the selected science windows."""
    ra, dec = _centre(env)
    req = env.request
    image_request = ImageRequest(
        ra=ra,
        dec=dec,
        radius_deg=req.radius_deg,
        e_min=req.e1_kev,
        e_max=req.e2_kev,
        scw_ids=tuple(s.scw_id for s in env.science_windows),
        threshold_scw=req.detection_threshold,
        threshold_mosaic=req.detection_threshold,
        user_catalog=env.user_catalog,
        max_scw=max(len(env.science_windows), 1),
    )
    produced = run_image_product(
        env.pipeline,
        env.context.archive,
        env.instrument,
        image_request,
        token=env.token,
        progress=env.progress,
        holder=env.holder,
    )
    out = []
    for product in produced:
        by_name = {f.name: f for f in product.files}
        files = tuple(
            ProductFile(by_name[name].path, by_name[name].content_type, *_IMAGE_FILES[name])
            for name in _IMAGE_FILES
            if name in by_name
        )
        out.append(
            ProductDescriptor(
                provenance_hash=product.provenance_hash,
                product_type="image",
                files=files,
                metadata={**request_extent(env), "ra": ra, "dec": dec},
            )
        )
    return out


def register_builders() -> None:
    """Fill :data:`PRODUCT_BUILDERS` with the product types this installation offers."""
    builders: dict[str, ProductBuilder] = {"image": build_image}
    PRODUCT_BUILDERS.update(builders)
