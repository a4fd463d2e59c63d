"""The sky model of spectral and timing fits: a list of point sources at fixed positions.

Sources come from the archive's reference catalog, from a user catalog (VOTable, JSON, or the
FITS catalog product of an image job), or from names resolved by the service. Positions are fixed
in every fit; only fluxes and the background are free.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

import numpy as np
from astropy.io import fits
from astropy.io.votable import parse_single_table
from astropy.table import Table

from processing.archive import read_catalog_file
from processing.instruments import InstrumentSpec, default_instrument

__all__ = [
    "CatalogError",
    "CatalogSource",
    "parse_source_catalog",
    "read_source_catalog",
    "reference_catalog",
    "sources_from_param",
    "sources_to_param",
]

#: The archive's reference catalog, relative to the archive root.

_NAME_COLUMNS = ("NAME", "name", "source", "SOURCE", "main_id", "MAIN_ID", "id")
_RA_COLUMNS = ("RA_OBJ", "ra", "RA", "ra_deg", "RAJ2000", "RA_FIN")
_DEC_COLUMNS = ("DEC_OBJ", "dec", "DEC", "dec_deg", "DEJ2000", "DEC_FIN")


class CatalogError(ValueError):
    """A source catalog cannot be read, or a source is invalid; the message says which."""


@dataclass(frozen=True)
class CatalogSource:
    """A point source of the sky model (ICRS degrees)."""

    name: str
    ra: float
    dec: float

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise CatalogError("a source needs a non-empty name")
        if not (np.isfinite(self.ra) and np.isfinite(self.dec)) or abs(self.dec) > 90:
            raise CatalogError(f"source {self.name!r}: invalid position ({self.ra}, {self.dec})")
        object.__setattr__(self, "ra", float(self.ra) % 360.0)
        object.__setattr__(self, "dec", float(self.dec))


def _column(table: Table, candidates: Sequence[str], what: str, label: str) -> str:
    lowered = {c.lower(): c for c in table.colnames}
    for name in candidates:
        if name.lower() in lowered:
            return lowered[name.lower()]
    raise CatalogError(f"{label}: no {what} column (looked for {', '.join(candidates)})")


def _from_table(table: Table, label: str) -> list[CatalogSource]:
    name_col = _column(table, _NAME_COLUMNS, "source name", label)
    ra_col = _column(table, _RA_COLUMNS, "right ascension", label)
    dec_col = _column(table, _DEC_COLUMNS, "declination", label)
    return [
        CatalogSource(str(row[name_col]).strip(), float(row[ra_col]), float(row[dec_col]))
        for row in table
    ]


def reference_catalog(
    archive_root: Path, instrument: InstrumentSpec | None = None
) -> list[CatalogSource]:
    """All sources of the archive's reference catalog of ``instrument`` (the default
    instrument's when not given; its adapter says where the file lies)."""
    spec = default_instrument() if instrument is None else instrument
    path = Path(archive_root) / spec.layout.reference_catalog_path
    if not path.is_file():
        raise CatalogError(f"no reference catalog at {path}")
    return [CatalogSource(s.name, s.ra, s.dec) for s in read_catalog_file(path)]


def read_source_catalog(path: Path) -> list[CatalogSource]:
    """A user catalog file: a VOTable, a JSON list of ``{name, ra, dec}``, or a FITS table.

    Raises
    ------
    CatalogError
        When the file is unreadable or lacks name/position columns.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"{path.name}: unreadable source catalog: {exc}") from exc
    return parse_source_catalog(data, path.name)


def parse_source_catalog(data: bytes, label: str = "catalog") -> list[CatalogSource]:
    """A user catalog given as bytes: a VOTable, a JSON list of ``{name, ra, dec}``, or FITS.

    Raises
    ------
    CatalogError
        When the content is unreadable or lacks name/position columns.
    """
    head = data[:512].lstrip()
    try:
        if head.startswith((b"[", b"{")):
            parsed: Any = json.loads(data)
            if isinstance(parsed, dict):
                parsed = parsed.get("sources", [])
            if not isinstance(parsed, list) or not all(isinstance(i, dict) for i in parsed):
                raise CatalogError(f"{label}: expected a JSON list of {{name, ra, dec}} objects")
            return [
                CatalogSource(str(item.get("name", "")), float(item["ra"]), float(item["dec"]))
                for item in parsed
            ]
        if head.startswith(b"SIMPLE"):
            with fits.open(io.BytesIO(data)) as hl:
                for hdu in hl[1:]:
                    if isinstance(hdu, fits.BinTableHDU):
                        return _from_table(Table(hdu.data), label)
            raise CatalogError(f"{label}: no table extension")
        return _from_table(parse_single_table(io.BytesIO(data)).to_table(), label)
    except RecursionError as exc:  # JSON nested deeper than the interpreter's stack
        raise CatalogError(f"{label}: unreadable source catalog: nested too deeply") from exc
    except (KeyError, TypeError, ValueError, OSError, IndexError, ExpatError) as exc:
        if isinstance(exc, CatalogError):
            raise
        reason = str(exc)
        if len(reason) > 200:
            reason = reason[:200] + "…"
        raise CatalogError(f"{label}: unreadable source catalog: {reason}") from exc


def sources_to_param(sources: Iterable[CatalogSource]) -> dict[str, list[Any]]:
    """Unit parameters (parallel lists of names, RA and Dec) for a sky model."""
    items = list(sources)
    names = [s.name for s in items]
    if len(set(names)) != len(names):
        raise CatalogError("source names in a sky model must be unique")
    return {
        "source_names": names,
        "source_ra": [s.ra for s in items],
        "source_dec": [s.dec for s in items],
    }


def sources_from_param(config: Mapping[str, Any]) -> list[CatalogSource]:
    """The sky model back from a unit's normalised parameters."""
    return [
        CatalogSource(n, ra, dec)
        for n, ra, dec in zip(
            config["source_names"], config["source_ra"], config["source_dec"], strict=True
        )
    ]
