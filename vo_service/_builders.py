"""Wiring of the analysis packages into product builders, one per product type.

A builder turns a validated request (:class:`~vo_service._build_env.BuildEnvironment`) into
product descriptors, primary first, by calling the processing API; no science happens here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from processing.archive import MJDREF, read_reference_catalog
from processing.codedmask import ImageScienceWindow
from processing.instrument import radec_to_unit, unit_to_radec
from processing.isgri import (
    CatalogSource,
    LightCurveRequest,
    SpectrumRequest,
    build_image_graph,
    build_lightcurve_graph,
    build_spectrum_graph,
    run_lightcurve_product,
    run_spectrum_product,
)
from processing.isgri._products import safe_name
from processing.isgri._products_image import ImageRequest, run_image_product
from processing.pipeline import Node, prov_json, prov_xml, provenance_document
from processing.products import ProductDescriptor, ProductFile
from uws import JobFailure
from vo_service._build_env import PRODUCT_BUILDERS, BuildEnvironment, ProductBuilder
from vo_service._detections import CATALOG_FILE, detection_id
from vo_service._linkblock import add_links_block

__all__ = ["register_builders", "request_extent"]

#: Order and DataLink semantics of image-product files (primary first).
_IMAGE_FILES = {
    "image.fits": ("#this", "sky images: intensity, variance, significance, exposure"),
    "catalog.vot": ("#auxiliary", "source catalog (VOTable)"),
    "catalog.fits": ("#auxiliary", "source catalog (FITS)"),
    "preview.png": ("#preview", "significance map with the catalog overlaid"),
}


def _with_links_blocks(env: BuildEnvironment, product: ProductDescriptor) -> ProductDescriptor:
    """Copies of the product's VOTables with a DataLink block (the cache keeps the originals);
    the rows of an image's catalog get their own identifiers."""
    settings = env.context.settings
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


def _with_provenance(
    env: BuildEnvironment, product: ProductDescriptor, node: Node
) -> ProductDescriptor:
    """Add the W3C PROV document of ``node`` (PROV-JSON and PROV-XML) to the product's files."""
    document = provenance_document([node], user=env.user, base_uri=f"{env.context.settings.ivoid}?")
    folder = env.context.settings.data_dir / "provenance" / product.provenance_hash
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
    return _with_links_blocks(env, replace(product, files=product.files + extra))


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
    vec = np.sum([radec_to_unit(s.ra_x, s.dec_x) for s in env.science_windows], axis=0)
    ra, dec = unit_to_radec(vec)
    return float(ra), float(dec)


def _run_in_shards(env: BuildEnvironment, per_scw: list[Node]) -> int:
    """Compute per-ScW nodes in shards of at most the per-job limit; return the shard count.

    A request beyond the per-job limit (``settings.max_pointings``) is not refused: its
    science windows are processed shard by shard (bounding the work in flight, the cache
    leases and the memory of one step), then reduced together. Because every node is named
    by its provenance, the result is the one-piece result, bit for bit.
    """
    limit = env.context.settings.max_pointings
    if len(per_scw) <= limit:
        return 1
    shards = [per_scw[i : i + limit] for i in range(0, len(per_scw), limit)]
    for shard in shards:
        env.token.check()
        env.pipeline.run(shard, token=env.token, progress=env.progress, holder=env.holder)
    return len(shards)


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
    graph, image_node, _ = build_image_graph(env.context.archive, env.instrument, image_request)
    shards = _run_in_shards(env, [n for n in graph if n.unit.name == ImageScienceWindow.name])
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
        descriptor = ProductDescriptor(
            provenance_hash=product.provenance_hash,
            product_type="image",
            files=files,
            metadata={**request_extent(env), "ra": ra, "dec": dec, "shards": shards},
        )
        out.append(_with_provenance(env, descriptor, image_node))
    return out


def _sky_model(env: BuildEnvironment) -> tuple[CatalogSource, ...]:
    """Sources fitted together: the user catalog, or the reference catalog around the centre,
    with the named source first."""
    if env.user_catalog is not None:
        return tuple(CatalogSource(n, r, d) for n, r, d in env.user_catalog)
    ra, dec = _centre(env)
    centre = radec_to_unit(ra, dec)
    limit = np.cos(np.radians(env.request.radius_deg))
    sources = [
        CatalogSource(c.name, c.ra, c.dec)
        for c in read_reference_catalog(env.context.archive.root)
        if float(radec_to_unit(c.ra, c.dec) @ centre) >= limit
    ]
    if env.request.src_name is not None:
        near = [
            s
            for s in sources
            if float(radec_to_unit(s.ra, s.dec) @ centre) > np.cos(np.radians(0.1))
        ]
        if near:
            sources.remove(near[0])
            sources.insert(0, near[0])
        else:
            sources.insert(0, CatalogSource(env.request.src_name, ra, dec))
    if not sources:
        raise JobFailure(
            "no catalog source within radius of the position: give src_name or selected_catalog"
        )
    return tuple(sources)


def _semantics(name: str) -> tuple[str, str]:
    if name.endswith((".pha", ".lc")):
        return "#this", "OGIP spectrum" if name.endswith(".pha") else "OGIP light curve"
    if name.endswith(".png"):
        return "#preview", "preview"
    if name.endswith(".rmf"):
        return "#auxiliary", "response matrix (RMF)"
    if name.endswith(".arf"):
        return "#auxiliary", "ancillary response (ARF)"
    if name.endswith(".vot"):
        return "#auxiliary", "VOTable"
    return "#auxiliary", ""


def _convert(
    env: BuildEnvironment, product: Any, product_type: str, primary: tuple[str, ...]
) -> ProductDescriptor:
    """A processing descriptor as a store descriptor, files reordered with ``primary`` first."""
    files = sorted(
        product.files,
        key=lambda f: (
            next((i for i, p in enumerate(primary) if f.name.endswith(p)), len(primary)),
            f.name,
        ),
    )
    return ProductDescriptor(
        provenance_hash=_presentation_hash(product.provenance_hash, product_type, files),
        product_type=product_type,
        files=tuple(ProductFile(f.path, f.content_type, *_semantics(f.name)) for f in files),
        metadata={**request_extent(env), **product.metadata},
    )


def _presentation_hash(node_hash: str, product_type: str, files: Sequence[Any]) -> str:
    """The stored product's hash: its analysis node's, with the product type and the order of
    its files. One fit serves several products (a spectrum and its spectral_fit, the light
    curves of each source of one sky model, a transient search), each with its own primary
    file and request metadata; keyed by the node alone, the first one stored would stand for
    all of them."""
    text = json.dumps([node_hash, product_type, [f.name for f in files]])
    return hashlib.sha256(text.encode()).hexdigest()


def _fitted(
    env: BuildEnvironment,
    product_type: str,
    request: Any,
    build: Callable[..., tuple[Any, Node]],
    run: Callable[..., Any],
    primary: tuple[str, ...],
) -> list[ProductDescriptor]:
    """Run a PIF-fitting product (spectra, light curves) and describe it, ``primary`` first."""
    _, node = build(env.context.archive, env.instrument, request)
    product = run(
        env.pipeline,
        env.context.archive,
        env.instrument,
        request,
        progress=env.progress,
        holder=env.holder,
    )
    return [_with_provenance(env, _convert(env, product, product_type, primary), node)]


def _spectrum(env: BuildEnvironment, product_type: str) -> list[ProductDescriptor]:
    sources = _sky_model(env)
    request = SpectrumRequest(
        sources=sources,
        scw_ids=tuple(s.scw_id for s in env.science_windows),
        models=("powerlaw", "cutoffpl"),
    )
    stem = safe_name(sources[0].name)
    files = (f"{stem}.pha", f"{stem}.rmf", f"{stem}.arf", f"{stem}_spectrum.vot")
    primary = ("fits.vot", *files) if product_type == "spectral_fit" else files
    return _fitted(env, product_type, request, build_spectrum_graph, run_spectrum_product, primary)


def _light_curve(env: BuildEnvironment, product_type: str) -> list[ProductDescriptor]:
    sources = _sky_model(env)
    request = LightCurveRequest(
        sources=sources,
        scw_ids=tuple(s.scw_id for s in env.science_windows),
        bands=((env.request.e1_kev, env.request.e2_kev),),
        time_bin_s=env.request.time_bin_s,
    )
    # The files of a source are named after it and the band (isgri.lightcurve_products).
    band = f"{env.request.e1_kev:g}-{env.request.e2_kev:g}keV"
    stem = f"{safe_name(sources[0].name)}_{band}"
    files = (f"{stem}.lc", f"{stem}_lc.vot", f"{stem}_lc.png")
    primary = ("transients.json", *files) if product_type == "transient_search" else files
    return _fitted(
        env, product_type, request, build_lightcurve_graph, run_lightcurve_product, primary
    )


def register_builders() -> None:
    """Fill :data:`PRODUCT_BUILDERS` with the product types this installation offers."""
    builders: dict[str, ProductBuilder] = {
        "image": build_image,
        "spectrum": lambda env: _spectrum(env, "spectrum"),
        "spectral_fit": lambda env: _spectrum(env, "spectral_fit"),
        "light_curve": lambda env: _light_curve(env, "light_curve"),
        "transient_search": lambda env: _light_curve(env, "transient_search"),
    }
    PRODUCT_BUILDERS.update(builders)
