"""User sky models (``selected_catalog``): a JSON list, a VOTable, or an earlier catalog product."""

from __future__ import annotations

import io
import json
import math
from typing import Any
from xml.parsers.expat import ExpatError

from astropy.io.votable import parse_single_table
from astropy.table import Table

from vo_service._store import ProductStore, is_product_hash

__all__ = ["CatalogError", "parse_user_catalog"]

Catalog = tuple[tuple[str, float, float], ...]


class CatalogError(ValueError):
    """The user catalog cannot be read; the message says why."""


def _checked(rows: list[tuple[Any, Any, Any]]) -> Catalog:
    out = []
    for n, (name, ra, dec) in enumerate(rows, 1):
        try:
            ra_f, dec_f = float(ra), float(dec)
        except (TypeError, ValueError):
            raise CatalogError(f"entry {n}: ra/dec are not numbers") from None
        if not (math.isfinite(ra_f) and math.isfinite(dec_f) and -90 <= dec_f <= 90):
            raise CatalogError(f"entry {n}: position out of range ({ra_f}, {dec_f})")
        out.append((str(name).strip() or f"src{n}", ra_f % 360.0, dec_f))
    if not out:
        raise CatalogError("the catalog holds no source")
    return tuple(out)


def _from_json(text: str) -> Catalog:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"not valid JSON: {exc}") from exc
    if isinstance(data, dict) and "sources" in data:
        data = data["sources"]
    if not isinstance(data, list):
        raise CatalogError("JSON must be a list of {name, ra, dec} objects")
    rows = []
    for n, item in enumerate(data, 1):
        if isinstance(item, dict):
            lower = {str(k).lower(): v for k, v in item.items()}
            if "ra" not in lower or "dec" not in lower:
                raise CatalogError(f"entry {n}: needs ra and dec")
            rows.append((lower.get("name", f"src{n}"), lower["ra"], lower["dec"]))
        elif isinstance(item, list | tuple) and len(item) == 3:
            rows.append((item[0], item[1], item[2]))
        else:
            raise CatalogError(f"entry {n}: expected {{name, ra, dec}} or [name, ra, dec]")
    return _checked(rows)


def _column(table: Table, ucds: tuple[str, ...], names: tuple[str, ...]) -> Any:
    for col in table.columns.values():
        ucd = (col.meta.get("ucd") or "").lower()
        if any(ucd.startswith(u) for u in ucds):
            return col
    for col in table.columns.values():
        if col.name.lower() in names:
            return col
    return None


def _from_table(table: Table) -> Catalog:
    ra = _column(table, ("pos.eq.ra",), ("ra", "ra_obj", "raj2000"))
    dec = _column(table, ("pos.eq.dec",), ("dec", "dec_obj", "dej2000"))
    name = _column(table, ("meta.id",), ("name", "source", "id"))
    if ra is None or dec is None:
        raise CatalogError("no RA/Dec columns (UCD pos.eq.ra/pos.eq.dec or named ra/dec)")
    names = [str(v) for v in name] if name is not None else [f"src{i + 1}" for i in range(len(ra))]
    return _checked(list(zip(names, ra, dec, strict=True)))


def _from_votable(text: str) -> Catalog:
    try:
        table = parse_single_table(io.BytesIO(text.encode())).to_table(use_names_over_ids=True)
    except (ValueError, IndexError, KeyError, ExpatError) as exc:
        raise CatalogError(f"not a readable VOTable: {exc}") from exc
    return _from_table(table)


def parse_user_catalog(value: str, store: ProductStore, authority_prefix: str) -> Catalog:
    """Read ``selected_catalog``: a catalog product ID, JSON, or VOTable text.

    Raises
    ------
    CatalogError
        With the reason, for anything unreadable.
    """
    text = value.strip()
    ref = text.split("?", 1)[1] if text.startswith(authority_prefix + "?") else text
    if is_product_hash(ref):
        product = store.get(ref)
        if product is None:
            raise CatalogError(f"no product {ref}")
        fits_files = [
            f for f in product.files if f.name.startswith("catalog") and f.name.endswith(".fits")
        ]
        if not fits_files:
            raise CatalogError(f"product {ref} is a {product.product_type}, not a catalog")
        table = Table.read(store.folder(ref) / fits_files[0].name)
        return _from_table(table)
    if text.startswith("<"):
        return _from_votable(text)
    if text.startswith(("[", "{")):
        return _from_json(text)
    raise CatalogError("expected a catalog product ID, a JSON list or a VOTable")
