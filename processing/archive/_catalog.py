"""The archive's reference source catalog (``cat/hec/``), as OSA keeps ``gnrl_refr_cat``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits

__all__ = ["CatalogSource", "read_catalog_file", "read_reference_catalog"]

_VERSION = re.compile(r"_\d{4}\.fits$")


@dataclass(frozen=True)
class CatalogSource:
    """A known source: name, J2000 position, typical 20-40 / 40-100 keV flux (mCrab)."""

    name: str
    ra: float
    dec: float
    source_class: str = ""
    flux_20_40_mcrab: float = 0.0
    flux_40_100_mcrab: float = 0.0


def read_catalog_file(path: Path) -> list[CatalogSource]:
    """The sources of one reference-catalog FITS file (its first table extension)."""
    with fits.open(path) as hdul:
        data = hdul[1].data
        return [
            CatalogSource(
                name=str(row["NAME"]).strip(),
                ra=float(row["RA_OBJ"]),
                dec=float(row["DEC_OBJ"]),
                source_class=str(row["CLASS"]).strip(),
                flux_20_40_mcrab=float(row["ISGRI_FLUX_1"]),
                flux_40_100_mcrab=float(row["ISGRI_FLUX_2"]),
            )
            for row in data
        ]


def read_reference_catalog(
    archive_root: Path, catalog: str | Path | None = None
) -> list[CatalogSource]:
    """The newest version of the archive's reference catalog; empty when there is none.

    ``catalog`` is the catalog file relative to the archive root (``<stem>_NNNN.fits``, the
    newest ``NNNN`` is read); by default the default camera's adapter names it.
    """
    if catalog is None:
        from processing.instruments import DEFAULT_INSTRUMENT, get_instrument

        catalog = get_instrument(DEFAULT_INSTRUMENT).layout.reference_catalog
    relative = Path(catalog)
    stem = _VERSION.sub("", relative.name)
    folder = Path(archive_root) / relative.parent
    files = sorted(folder.glob(f"{stem}_[0-9][0-9][0-9][0-9].fits"))
    return read_catalog_file(files[-1]) if files else []
