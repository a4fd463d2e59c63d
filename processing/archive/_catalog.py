"""The archive's reference source catalog (``cat/hec/``), as OSA keeps ``gnrl_refr_cat``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits

__all__ = ["REFERENCE_CATALOG", "CatalogSource", "read_catalog_file", "read_reference_catalog"]

REFERENCE_CATALOG = Path("cat/hec")


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
    """The sources of one reference-catalog FITS file (extension ``ISGR-REFR-CAT``)."""
    with fits.open(path) as hdul:
        data = hdul["ISGR-REFR-CAT"].data
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


def read_reference_catalog(archive_root: Path) -> list[CatalogSource]:
    """The newest ``isgr_refr_cat_NNNN.fits`` of the archive; empty when there is none."""
    files = sorted((Path(archive_root) / REFERENCE_CATALOG).glob("isgr_refr_cat_[0-9]*.fits"))
    return read_catalog_file(files[-1]) if files else []
