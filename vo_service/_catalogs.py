"""User sky models (``selected_catalog``): a JSON list, a VOTable, or an earlier catalog product."""

from __future__ import annotations

from processing.isgri import CatalogError, parse_source_catalog
from vo_service._store import ProductStore, is_product_hash

__all__ = ["CatalogError", "parse_user_catalog"]

Catalog = tuple[tuple[str, float, float], ...]
#: The most sources a user sky model may hold (every source is a free flux in every fit).
MAX_SOURCES = 500


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
        tables = [f for f in product.files if f.name == "catalog.fits"]
        if not tables:
            raise CatalogError(f"product {ref} is a {product.product_type}, not a catalog")
        if store.damaged(product, [tables[0].name]):
            raise CatalogError(
                f"product {ref} failed its integrity check; submit the request that made it again"
            )
        data = (store.folder(ref) / tables[0].name).read_bytes()
        sources = parse_source_catalog(data, f"product {ref}")
    elif text.startswith(("<", "[", "{")):
        sources = parse_source_catalog(text.encode(), "the given catalog")
    else:
        raise CatalogError("expected a catalog product ID, a JSON list or a VOTable")
    if not sources:
        raise CatalogError("the catalog holds no source")
    if len(sources) > MAX_SOURCES:
        raise CatalogError(f"{len(sources)} sources; a sky model holds at most {MAX_SOURCES}")
    seen: set[str] = set()
    for s in sources:
        if s.name in seen:
            raise CatalogError(f"source name {s.name!r} appears twice; names must be unique")
        seen.add(s.name)
    return tuple((s.name, s.ra, s.dec) for s in sources)
