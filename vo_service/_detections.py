"""Detections: every row of a source catalog has its own IVOA identifier and DataLink links.

A catalog product ``ivo://<authority>/<service>?<hash>`` names its rows
``ivo://<authority>/<service>?<hash>/source/<row>`` (``row`` counts the catalog's rows from 1).
The detection key extends the product's query part with characters that are legal unescaped in a
URI query and survive any URL-encoding round trip (letters, digits, ``/``): the same ID works
percent-encoded (pyvo, TOPCAT) or pasted as is, and the product's hash stays visible in it. The
catalog of a product is immutable (named by its provenance), so a row number is a stable key.

The ``{links}`` of a detection (:func:`describe_detection`) lead to the catalog (``#this``), the
image product it comes from (``#progenitor``), a SODA cut-out of the sky images around the
source (``#cutout``), and ready-to-run light-curve and spectrum requests on ``/sync`` for the
source's position with the catalog's science windows (``#proc``).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from astropy.io.votable import parse_single_table

from datalink import ProductDescription, ProductFile, ProductNotFoundError, Progenitor
from vo_service._request import PARAMETERS
from vo_service._store import StoredProduct

__all__ = [
    "CATALOG_FILE",
    "CUTOUT_RADIUS_DEG",
    "Detection",
    "describe_detection",
    "detection_id",
    "split_detection_key",
]

#: The file whose rows are detections (the links block numbers them, the resolver reads them).
CATALOG_FILE = "catalog.vot"
#: Radius of the cut-out around a source (deg): about five ISGRI PSF widths (12').
CUTOUT_RADIUS_DEG = 1.0
_SEGMENT = "source"
_ROW = re.compile(r"source/([1-9][0-9]{0,8})")
_DEFAULT_MAX_POINTINGS = int(next(p.default for p in PARAMETERS if p.name == "max_pointings"))


def detection_id(product_id: str, row: int) -> str:
    """The identifier of row ``row`` (from 1) of the catalog of ``product_id``.

    Examples
    --------
    >>> detection_id("ivo://example.org/isgri?0a1b", 3)
    'ivo://example.org/isgri?0a1b/source/3'
    """
    return f"{product_id}/{_SEGMENT}/{row}"


def split_detection_key(key: str) -> tuple[str, str | None]:
    """Split the query part of an ID: (product hash, detection part or ``None``).

    ``"<hash>/source/3"`` gives ``("<hash>", "source/3")``; a bare hash ``(hash, None)``.
    """
    product, sep, part = key.partition("/")
    return product, (part if sep else None)


@dataclass(frozen=True)
class Detection:
    """One catalog row: its number (from 1), name and ICRS position (deg)."""

    row: int
    name: str
    ra: float
    dec: float


@functools.lru_cache(maxsize=64)
def _catalog_rows(path: str) -> tuple[Detection, ...]:
    # Stored products never change (they are named by their provenance): read each once.
    table = parse_single_table(path).to_table()
    return tuple(
        Detection(i + 1, str(r["name"]), float(r["ra"]), float(r["dec"]))
        for i, r in enumerate(table)
    )


def _detection(
    given_id: str, part: str, stored: StoredProduct, folder: Path
) -> tuple[Detection, tuple[Detection, ...]]:
    """The row named by ``part``, and every row of the catalog."""
    if CATALOG_FILE not in {f.name for f in stored.files}:
        raise ProductNotFoundError(
            given_id, f"the {stored.product_type} product {stored.hash} has no source catalog"
        )
    match = _ROW.fullmatch(part)
    if match is None:
        raise ProductNotFoundError(
            given_id, f"malformed detection key {part!r} (expected {_SEGMENT}/<row number>)"
        )
    rows = _catalog_rows(str(folder / CATALOG_FILE))
    row = int(match.group(1))
    if row > len(rows):
        raise ProductNotFoundError(
            given_id, f"the catalog of product {stored.hash} has {len(rows)} rows, not {row}"
        )
    return rows[row - 1], rows


def _number(value: float, digits: int = 6) -> str:
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def _sync_request(
    product_type: str, source: Detection, catalog: tuple[Detection, ...], stored: StoredProduct
) -> str:
    """A ``/sync`` request for the source's light curve or spectrum from the catalog's data."""
    meta = stored.metadata
    request: dict[str, Any] = meta.get("request", {})
    scws: list[str] = list(meta.get("scw_ids", []))
    params: dict[str, str] = {
        "product_type": product_type,
        "src_name": source.name,
        "RA": _number(source.ra),
        "DEC": _number(source.dec),
        "scw_list": ",".join(scws),
    }
    if request.get("radius_deg") is not None:
        params["radius"] = _number(float(request["radius_deg"]))
    if product_type == "light_curve" and request.get("e1_kev") is not None:
        # A spectrum covers every channel; a light curve is made in the catalog's band.
        params["E1_keV"] = _number(float(request["e1_kev"]))
        params["E2_keV"] = _number(float(request["e2_kev"]))
    if len(scws) > _DEFAULT_MAX_POINTINGS:
        params["max_pointings"] = str(len(scws))
    if request.get("selected_catalog") is not None:
        # The image was made with the user's sky model, which src_name does not reorder: give
        # the sources the image found instead, this one first (it names the primary file).
        params["selected_catalog"] = _sky_model(source, catalog)
    return "/sync?" + urlencode(params, quote_via=quote)


def _sky_model(source: Detection, catalog: tuple[Detection, ...]) -> str:
    entries = [source] + [d for d in catalog if d.row != source.row]
    return json.dumps(
        [{"name": d.name, "ra": round(d.ra, 5), "dec": round(d.dec, 5)} for d in entries],
        separators=(",", ":"),
    )


def describe_detection(
    given_id: str, part: str, stored: StoredProduct, folder: Path, product_id: str
) -> ProductDescription:
    """The DataLink description of row ``part`` of the catalog of ``stored``.

    Raises
    ------
    datalink.ProductNotFoundError
        When the product has no catalog, the key is malformed, or the row does not exist; the
        reason names which (a ``NotFoundFault`` row of the ``{links}`` response).
    """
    source, catalog_rows = _detection(given_id, part, stored, folder)
    at = f"{source.name} at RA {source.ra:.4f}, Dec {source.dec:.4f} (ICRS)"
    base = f"/products/{stored.hash}"
    names = {f.name: f for f in stored.files}
    catalog = names[CATALOG_FILE]
    files = [
        ProductFile(
            "#this",
            f"{base}/{CATALOG_FILE}",
            catalog.content_type,
            f"Source catalog holding this detection (row {source.row}): {at}",
            path=folder / CATALOG_FILE,
            content_length=catalog.size,
        )
    ]
    if "preview.png" in names:
        files.append(
            ProductFile(
                "#preview",
                f"{base}/preview.png",
                names["preview.png"].content_type,
                "Significance map of the field with the catalog's sources marked",
                content_length=names["preview.png"].size,
            )
        )
    circle = f"{_number(source.ra)} {_number(source.dec)} {_number(CUTOUT_RADIUS_DEG)}"
    files.append(
        ProductFile(
            "#cutout",
            "/soda/sync?" + urlencode({"ID": product_id, "CIRCLE": circle}, quote_via=quote),
            names["image.fits"].content_type if "image.fits" in names else "application/fits",
            f"Sky images (intensity, variance, significance, exposure) within "
            f"{CUTOUT_RADIUS_DEG:g} deg of {source.name} (SODA cut-out)",
            content_qualifier="#image",
        )
    )
    band = ""
    request = stored.metadata.get("request", {})
    if request.get("e1_kev") is not None:
        band = f", {request['e1_kev']:g}-{request['e2_kev']:g} keV"
    n_scw = len(stored.metadata.get("scw_ids", []))
    for product_type, what, qualifier in (
        ("light_curve", f"Light curve{band}", "#timeseries"),
        ("spectrum", "Spectrum (with RMF and ARF)", "#spectrum"),
    ):
        files.append(
            ProductFile(
                "#proc",
                _sync_request(product_type, source, catalog_rows, stored),
                "application/fits",
                f"{what} of {source.name} from the catalog's {n_scw} science windows, made on "
                "request (GET runs it and redirects to the OGIP file; POST the same parameters "
                "to /async for a UWS job)",
                content_qualifier=qualifier,
                local_semantics=product_type.replace("_", "-"),
            )
        )
    return ProductDescription(
        id=detection_id(product_id, source.row),
        kind="source detection",
        files=files,
        progenitors=[
            Progenitor(product_id, "Image product (sky images, catalog) in which it was detected")
        ],
    )
