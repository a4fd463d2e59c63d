"""What the service adds to the products a recipe made: DataLink blocks in their VOTables,
the W3C PROV document of their DAG, and the request's extent in their metadata.

The science (the sky model, the centre, sharding, the files and their order) is the recipe's
(:mod:`processing.products`); nothing here depends on the instrument or the product type.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from processing.archive import MJDREF, ScienceWindow
from processing.pipeline import Node, prov_json, prov_xml, provenance_document
from processing.products import ProductDescriptor, ProductFile
from vo_service._context import ServiceContext
from vo_service._detections import CATALOG_FILE, detection_id
from vo_service._linkblock import add_links_block
from vo_service._request import ProductRequest

__all__ = ["decorate", "request_extent"]


def _with_links_blocks(context: ServiceContext, product: ProductDescriptor) -> ProductDescriptor:
    """Copies of the product's VOTables with a DataLink block (the cache keeps the originals);
    the rows of an image's catalog get their own identifiers."""
    settings = context.settings
    folder = settings.data_dir / "linked" / product.provenance_hash
    product_id = f"{settings.ivoid}?{product.provenance_hash}"
    files = []
    for f in product.files:
        if f.name.endswith(".vot") and f.semantics != "#provenance":
            target = folder / f.name
            detections = f.name == CATALOG_FILE and product.product_type == "image"
            if target.exists() or add_links_block(
                f.path,
                target,
                product_id,
                f"{settings.public_base_url}/datalink/links",
                row_id=functools.partial(detection_id, product_id) if detections else None,
            ):
                f = replace(f, path=target)
        files.append(f)
    return replace(product, files=tuple(files))


def _replace_text(path: Path, text: str) -> None:
    aside = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    aside.write_text(text)
    os.replace(aside, path)


def decorate(
    context: ServiceContext, product: ProductDescriptor, node: Node, user: str | None
) -> ProductDescriptor:
    """Add the W3C PROV document of ``node`` (PROV-JSON and PROV-XML) to the product's files,
    and DataLink blocks to copies of its VOTables."""
    document = provenance_document([node], user=user, base_uri=f"{context.settings.ivoid}?")
    folder = context.settings.data_dir / "provenance" / product.provenance_hash
    folder.mkdir(parents=True, exist_ok=True)
    as_json, as_xml = folder / "provenance.json", folder / "provenance.xml"
    # A new file each time (written aside, renamed over): the store hard-links these, and a
    # stored product must never change under its readers.
    _replace_text(as_json, prov_json(document))
    _replace_text(as_xml, prov_xml(document))
    extra = (
        ProductFile(as_json, "application/x-prov+json", "#provenance", "W3C PROV-JSON"),
        ProductFile(as_xml, "application/x-prov+xml", "#provenance", "W3C PROV-XML"),
    )
    return _with_links_blocks(context, replace(product, files=product.files + extra))


def request_extent(
    request: ProductRequest,
    position: tuple[float, float] | None,
    resolver: str | None,
    science_windows: Sequence[ScienceWindow],
) -> dict[str, Any]:
    """Sky, band and time extent of a product (metadata for DataLink and SODA)."""
    return {
        "ra": None if position is None else position[0],
        "dec": None if position is None else position[1],
        "radius_deg": request.radius_deg,
        "e_min_kev": request.e1_kev,
        "e_max_kev": request.e2_kev,
        "t_min_mjd": min(s.tstart for s in science_windows) + MJDREF,
        "t_max_mjd": max(s.tstop for s in science_windows) + MJDREF,
        "scw_ids": [s.scw_id for s in science_windows],
        "request": request.canonical(),
        "resolver": resolver,
        "simulated": all(s.simulated for s in science_windows),
    }
