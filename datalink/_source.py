"""The interface through which DataLink and SODA read products: :class:`ProductSource`.

``datalink`` knows nothing of the telescope. The service hands it an object that
implements :class:`ProductSource`: it resolves a product ID to a
:class:`ProductDescription` (files, progenitors, provenance, documentation, extents,
supported SODA operations) and re-derives a product for a new band or time range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = [
    "KEV_METRE",
    "ProductDescription",
    "ProductExtents",
    "ProductFile",
    "ProductNotFoundError",
    "ProductSource",
    "Progenitor",
    "RederivationError",
    "SkyCircle",
    "SkyPolygon",
    "kev_to_metres",
    "metres_to_kev",
    "split_product_id",
]

#: h c in keV metres: a photon of energy E (keV) has wavelength ``KEV_METRE / E`` (m).
#: SODA's BAND is a wavelength interval in metres; products carry energies in keV.
KEV_METRE = 1.239841984e-9


def kev_to_metres(band_kev: tuple[float, float]) -> tuple[float, float]:
    """Energy interval (keV) to the wavelength interval (m) SODA's BAND uses.

    The order flips (higher energy, shorter wavelength); 0 keV is an infinite wavelength.
    """
    lo, hi = band_kev
    return (
        KEV_METRE / hi if hi > 0 and math.isfinite(hi) else (0.0 if hi > 0 else math.inf),
        KEV_METRE / lo if lo > 0 else math.inf,
    )


def metres_to_kev(band_m: tuple[float, float]) -> tuple[float, float]:
    """Wavelength interval (m) to the energy interval (keV); open ends map to 0 and inf."""
    lo, hi = band_m
    return (
        KEV_METRE / hi if hi > 0 and math.isfinite(hi) else 0.0,
        KEV_METRE / lo if lo > 0 else math.inf,
    )


def split_product_id(product_id: str) -> tuple[str | None, str]:
    """Split a product ID: ``ivo://auth/service?hash`` -> (``ivo://auth/service``, ``hash``).

    A bare hash gives ``(None, hash)``.

    Parameters
    ----------
    product_id
        An IVOA publisher DID or the bare hash that names the product.
    """
    text = product_id.strip()
    if text.lower().startswith("ivo://"):
        base, sep, key = text.partition("?")
        return base, key if sep else ""
    return None, text


class ProductNotFoundError(LookupError):
    """No product has this ID (a :class:`ProductSource` raises it)."""

    def __init__(self, product_id: str, reason: str = "no product with this ID"):
        super().__init__(f"{product_id}: {reason}")
        self.product_id = product_id
        self.reason = reason


class RederivationError(RuntimeError):
    """A re-derivation the source could not carry out (a message for the user)."""


@dataclass(frozen=True)
class SkyCircle:
    """A sky region: centre (ICRS degrees) and radius (degrees)."""

    ra: float
    dec: float
    radius: float


@dataclass(frozen=True)
class SkyPolygon:
    """A sky region: vertices (ICRS degrees, RA/Dec pairs), at least three."""

    vertices: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if len(self.vertices) < 3:
            raise ValueError("a polygon needs at least three vertices")


@dataclass(frozen=True)
class ProductExtents:
    """Where a product lies on the sky, in energy and in time.

    They become the VALUES (MIN/MAX) of the service descriptors' input parameters, so
    clients can build forms, and they bound SODA requests: a request that does not
    overlap them is an empty result (HTTP 204).

    Attributes
    ----------
    sky
        Sky footprint (a circle or a polygon), or ``None`` for products without one.
    band_kev
        Energy interval (keV). Descriptors show it as a wavelength interval in metres
        (see :func:`kev_to_metres`).
    time_mjd
        Time span (MJD, TT).
    """

    sky: SkyCircle | SkyPolygon | None = None
    band_kev: tuple[float, float] | None = None
    time_mjd: tuple[float, float] | None = None

    @property
    def band_m(self) -> tuple[float, float] | None:
        """The energy interval as a SODA BAND interval (m)."""
        return None if self.band_kev is None else kev_to_metres(self.band_kev)


@dataclass(frozen=True)
class ProductFile:
    """One file of a product, or one link to a resource about it.

    Parameters
    ----------
    semantics
        A term of the IVOA datalink/core vocabulary (``#this``, ``#preview``,
        ``#auxiliary``, ``#provenance``, ``#documentation``...).
    access_url
        Where clients fetch it: an absolute URL, or a path starting with ``/`` that is
        resolved against the public base URL.
    content_type
        MIME type (e.g. ``application/fits``, ``image/png``).
    description
        One line for humans.
    path
        The local file, when there is one: its size becomes ``content_length``, and SODA
        cuts the ``#this`` file from it.
    content_length
        Size in bytes when there is no local file (or to avoid a ``stat``).
    content_qualifier
        What the file is, as a term of the product-type vocabulary (``#image``,
        ``#spectrum``, ``#timeseries``...); optional.
    local_semantics
        A service-specific refinement of ``semantics`` (e.g. ``rmf``, ``arf``).
    """

    semantics: str
    access_url: str
    content_type: str | None = None
    description: str = ""
    path: Path | None = None
    content_length: int | None = None
    content_qualifier: str | None = None
    local_semantics: str | None = None

    def size(self) -> int | None:
        """Size in bytes: ``content_length``, else the local file's size, else ``None``."""
        if self.content_length is not None:
            return self.content_length
        if self.path is not None:
            try:
                return self.path.stat().st_size
            except OSError:
                return None
        return None


@dataclass(frozen=True)
class Progenitor:
    """A dataset this product was made from: another product or an archive unit (a ScW).

    Parameters
    ----------
    id
        Its identifier (a product ID or an archive identifier such as a ScW id).
    description
        One line for humans.
    access_url
        Where to get it; ``None`` for another product of this service, whose ``{links}``
        document is then linked.
    content_type
        MIME type of what ``access_url`` returns.
    """

    id: str
    description: str = ""
    access_url: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class ProductDescription:
    """Everything DataLink and SODA need to know about one product.

    Attributes
    ----------
    id
        The product's canonical ID, an IVOA publisher DID ``ivo://authority/service?hash``.
    kind
        What the product is (``image``, ``mosaic``, ``spectrum``, ``light-curve``,
        ``catalog``...); free text shown in descriptions.
    files
        Files and other links, ``#this`` first.
    progenitors
        Datasets this product was made from.
    provenance_url
        URL of the W3C PROV document (absolute or ``/``-relative).
    provenance_content_type
        Its MIME type (PROV-JSON by default).
    documentation
        Text of a runnable pyvo snippet that reproduces the product; served by the
        ``{links}`` endpoint and linked with ``#documentation``.
    extents
        Sky footprint, energy band and time span.
    spatial_cut
        Whether SODA may cut the ``#this`` FITS file spatially (images, mosaics).
    rederive_band, rederive_time
        Whether SODA BAND / TIME re-derive the product (re-run its analysis).
    """

    id: str
    kind: str
    files: Sequence[ProductFile] = ()
    progenitors: Sequence[Progenitor] = ()
    provenance_url: str | None = None
    provenance_content_type: str = "application/x-prov+json"
    documentation: str | None = None
    extents: ProductExtents = field(default_factory=ProductExtents)
    spatial_cut: bool = False
    rederive_band: bool = False
    rederive_time: bool = False

    @property
    def primary(self) -> ProductFile | None:
        """The ``#this`` file (the first one), if any."""
        return next((f for f in self.files if f.semantics == "#this"), None)

    @property
    def soda_capable(self) -> bool:
        """Whether any SODA operation applies to this product."""
        return self.spatial_cut or self.rederive_band or self.rederive_time


@runtime_checkable
class ProductSource(Protocol):
    """What the service implements so DataLink and SODA can read its products.

    Implementations must be picklable when SODA async is used: the UWS runner sends
    the job kind (and with it the source) to worker processes.
    """

    def describe(self, product_id: str) -> ProductDescription:
        """The product named by ``product_id`` (a publisher DID or its bare hash).

        Raises
        ------
        ProductNotFoundError
            When no product has this ID.
        """
        ...

    def rederive(
        self,
        product_id: str,
        *,
        band_kev: tuple[float, float] | None = None,
        time_mjd: tuple[float, float] | None = None,
    ) -> ProductDescription:
        """Re-run the product's analysis for a new energy band and/or time range.

        The intervals are already clipped to the product's extents. Returns the new
        product (its ``#this`` file is the SODA result).

        Raises
        ------
        ProductNotFoundError
            When no product has this ID.
        RederivationError
            When the product cannot be re-derived as asked (a message for the user).
        """
        ...
