"""Provenance keywords for products (FITS header cards, VOTable INFO elements), and FITS
files whose bytes depend on their content only.

Every product carries the provenance hash of the node that made it, so that a file found
anywhere can be traced back to its PROV document and its cache entry.
"""

from __future__ import annotations

from pathlib import Path

from astropy.io import fits
from astropy.io.votable.tree import Info

from processing.pipeline._graph import Node
from processing.pipeline._hashing import HASH_ALGORITHM

__all__ = [
    "PROVENANCE_INFO_NAME",
    "fits_provenance_cards",
    "votable_provenance_infos",
    "write_fits",
]

#: ``name`` of the VOTable INFO carrying the hash.
PROVENANCE_INFO_NAME = "provenance_hash"


def fits_provenance_cards(node: Node) -> list[fits.Card]:
    """Header cards naming the node that made a product.

    ``PROVHASH`` holds the 64-digit SHA-256 provenance hash (it fits one card),
    ``PROVALG`` the algorithm, ``PROVUNIT``/``PROVVERS`` the unit and its version and
    ``CALVERS`` the calibration release when the node depends on one.

    Examples
    --------
    >>> hdu.header.extend(fits_provenance_cards(node))  # doctest: +SKIP
    """
    cards = [
        fits.Card("PROVHASH", node.provenance_hash),  # 64 digits: no room for a comment
        fits.Card("PROVALG", HASH_ALGORITHM, "algorithm of PROVHASH"),
        fits.Card("PROVUNIT", node.unit.name, "analysis unit that made this product"),
        fits.Card("PROVVERS", node.unit.version, "version of PROVUNIT"),
    ]
    if node.calibration is not None:
        cards.append(fits.Card("CALVERS", node.calibration.version, "calibration release"))
    return cards


def votable_provenance_infos(node: Node) -> list[Info]:
    """VOTable INFO elements naming the node that made a product.

    Add them to ``votable.infos`` (document level) or ``resource.infos``.
    """
    infos = [
        Info(name=PROVENANCE_INFO_NAME, value=node.provenance_hash),
        Info(name="provenance_algorithm", value=HASH_ALGORITHM),
        Info(name="provenance_unit", value=f"{node.unit.name} {node.unit.version}"),
    ]
    if node.calibration is not None:
        infos.append(Info(name="calibration_version", value=node.calibration.version))
    return infos


def write_fits(hdul: fits.HDUList, path: Path) -> None:
    """Write with CHECKSUM/DATASUM cards whose comments carry no time stamp.

    astropy's ``checksum=True`` comments the cards with the write time, so the same product
    written twice would differ; here the same content gives the same bytes.
    """
    for hdu in hdul:
        hdu.add_checksum(when="HDU checksum")
    hdul.writeto(path, output_verify="exception")
