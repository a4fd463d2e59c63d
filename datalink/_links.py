"""From product descriptions to ``{links}`` rows and service descriptors.

Pure logic: :class:`LinkBuilder` knows the endpoint URLs and turns what a
:class:`~datalink.ProductSource` says about each requested ID into rows. An unknown ID
is a row with a ``NotFoundFault`` error message, never an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from datalink._source import (
    ProductDescription,
    ProductNotFoundError,
    ProductSource,
)
from datalink._votable import DATALINK_MIME, LinkRow, ServiceDescriptor
from uws import xml_safe

__all__ = [
    "PROVENANCE_LOCAL_SEMANTICS",
    "PROVENANCE_SEMANTICS",
    "SODA_ASYNC_ID",
    "SODA_SYNC_ID",
    "DataLinkURLs",
    "LinkBuilder",
]

log = logging.getLogger(__name__)

#: Semantics of the PROV document link. The datalink/core vocabulary has no provenance
#: term (its terms: this, progenitor, derivation, auxiliary, documentation, preview, proc,
#: cutout, ...), and datalinklint rejects terms outside it; the PROV document is
#: auxiliary data, refined by ``local_semantics="provenance"``.
PROVENANCE_SEMANTICS = "#auxiliary"
PROVENANCE_LOCAL_SEMANTICS = "provenance"

SODA_SYNC_ID = "ivo://ivoa.net/std/SODA#sync-1.0"
SODA_ASYNC_ID = "ivo://ivoa.net/std/SODA#async-1.0"


@dataclass(frozen=True)
class DataLinkURLs:
    """Absolute URLs of the endpoints the links point to.

    Attributes
    ----------
    base
        The service's public base URL; ``/``-relative URLs from the source are joined to it.
    links
        The ``{links}`` endpoint.
    soda_sync, soda_async
        The SODA endpoints, ``None`` when not mounted.
    """

    base: str
    links: str
    soda_sync: str | None = None
    soda_async: str | None = None

    def absolute(self, url: str) -> str:
        """``url`` itself when absolute, else joined to the base URL."""
        if url.startswith("/"):
            return self.base.rstrip("/") + url
        return url

    def links_of(self, product_id: str) -> str:
        """The ``{links}`` URL of one ID."""
        return f"{self.links}?{urlencode({'ID': product_id}, quote_via=quote)}"

    def snippet_of(self, product_id: str) -> str:
        """URL of the runnable pyvo snippet of one product."""
        return f"{self.links}/snippet?{urlencode({'ID': product_id}, quote_via=quote)}"


class LinkBuilder:
    """Builds the ``{links}`` rows and service descriptors of products.

    Parameters
    ----------
    source
        Where products are described.
    urls
        The endpoints' URLs.
    """

    def __init__(self, source: ProductSource, urls: DataLinkURLs) -> None:
        self.source = source
        self.urls = urls

    def rows_for(self, given_id: str, index: int) -> tuple[list[LinkRow], list[ServiceDescriptor]]:
        """Rows (and descriptors) for one requested ID, as the client spelled it.

        ``index`` numbers the ID in the request; it makes descriptor IDs unique.
        """
        if xml_safe(given_id) != given_id:  # no product has such an ID: the source is not asked
            shown = ascii(given_id)[1:-1]  # escaped, as the ID column can hold it
            return [
                LinkRow(
                    shown,
                    "#this",
                    error_message=f"NotFoundFault: characters XML does not allow: {shown}",
                    description="No product has this identifier",
                )
            ], []
        try:
            product = self.source.describe(given_id)
        except ProductNotFoundError as exc:
            return [
                LinkRow(
                    given_id,
                    "#this",
                    error_message=f"NotFoundFault: {exc.reason}: {given_id}",
                    description="No product has this identifier",
                )
            ], []
        return self.product_rows(given_id, product, index)

    def product_rows(
        self, given_id: str, product: ProductDescription, index: int = 0
    ) -> tuple[list[LinkRow], list[ServiceDescriptor]]:
        """Rows and descriptors of one known product."""
        urls = self.urls
        rows = [
            LinkRow(
                given_id,
                f.semantics,
                access_url=urls.absolute(f.access_url),
                description=f.description or None,
                content_type=f.content_type,
                content_length=f.size(),
                local_semantics=f.local_semantics,
                content_qualifier=f.content_qualifier,
            )
            for f in product.files
        ]
        for progenitor in product.progenitors:
            ctype: str | None = DATALINK_MIME
            if progenitor.access_url is None:
                url = urls.links_of(progenitor.id)
            else:
                url = urls.absolute(progenitor.access_url)
                ctype = progenitor.content_type
            rows.append(
                LinkRow(
                    given_id,
                    "#progenitor",
                    access_url=url,
                    description=progenitor.description or f"Made from {progenitor.id}",
                    content_type=ctype,
                )
            )
        if product.provenance_url:
            rows.append(
                LinkRow(
                    given_id,
                    PROVENANCE_SEMANTICS,
                    access_url=urls.absolute(product.provenance_url),
                    local_semantics=PROVENANCE_LOCAL_SEMANTICS,
                    description="W3C PROV document: how this product was made",
                    content_type=product.provenance_content_type,
                )
            )
        if product.documentation:
            rows.append(
                LinkRow(
                    given_id,
                    "#documentation",
                    access_url=urls.snippet_of(product.id),
                    description="Runnable pyvo script that reproduces this product",
                    content_type="text/x-python",
                )
            )
        descriptors = self.descriptors(product, index)
        primary = product.primary
        for descriptor in descriptors:
            sync = descriptor.standard_id == SODA_SYNC_ID
            rows.append(
                LinkRow(
                    given_id,
                    "#cutout" if sync and product.spatial_cut else "#proc",
                    service_def=descriptor.resource_id,
                    description=descriptor.description,
                    # What the sync service returns (a cut-out or re-derivation of the primary
                    # file): clients such as TOPCAT load it by type instead of showing a page.
                    # The async service answers with a UWS job.
                    content_type=(primary.content_type if sync and primary is not None else None),
                )
            )
        return rows, descriptors

    def descriptors(
        self, product: ProductDescription, index: int = 0, *, id_value: str | None = None
    ) -> list[ServiceDescriptor]:
        """The SODA service descriptors of ``product`` (none when it supports no operation).

        ``id_value`` fixes the ID parameter's value (for descriptors embedded in other
        VOTables); by default it refers to the ``{links}`` table's ID column.
        """
        if not product.soda_capable:
            return []
        operations = []
        if product.spatial_cut:
            operations.append("spatial cut-out")
        if product.rederive_band:
            operations.append("new energy band (re-derived)")
        if product.rederive_time:
            operations.append("new time range (re-derived)")
        what = ", ".join(operations)
        found = []
        for standard_id, url, mode in (
            (SODA_SYNC_ID, self.urls.soda_sync, "sync"),
            (SODA_ASYNC_ID, self.urls.soda_async, "async"),
        ):
            if url is None:
                continue
            found.append(
                ServiceDescriptor(
                    resource_id=f"soda-{mode}-{index}",
                    access_url=url,
                    standard_id=standard_id,
                    description=f"SODA {mode} on this {product.kind}: {what}",
                    extents=product.extents,
                    spatial=product.spatial_cut,
                    band=product.rederive_band,
                    time=product.rederive_time,
                    id_value=id_value,
                )
            )
        return found

    def links(
        self, ids: Sequence[str], maxrec: int | None = None
    ) -> tuple[list[LinkRow], list[ServiceDescriptor], bool]:
        """Rows, descriptors and the overflow flag for a ``{links}`` request."""
        rows: list[LinkRow] = []
        descriptors: list[ServiceDescriptor] = []
        for index, given in enumerate(ids):
            more_rows, more_descriptors = self.rows_for(given, index)
            rows.extend(more_rows)
            descriptors.extend(more_descriptors)
        overflow = maxrec is not None and len(rows) > maxrec
        if overflow:
            rows = rows[:maxrec]
            used = {r.service_def for r in rows if r.service_def}
            descriptors = [d for d in descriptors if d.resource_id in used]
        return rows, descriptors, overflow
