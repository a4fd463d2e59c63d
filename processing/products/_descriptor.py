"""Descriptors of finished products, independent of how the service stores or serves them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ProductDescriptor", "ProductFile"]


@dataclass(frozen=True)
class ProductFile:
    """One file of a product.

    ``semantics`` uses the IVOA DataLink core vocabulary (``#this``, ``#preview``,
    ``#auxiliary``, ``#provenance``...).
    """

    path: Path
    content_type: str
    semantics: str = "#this"
    description: str = ""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


@dataclass(frozen=True)
class ProductDescriptor:
    """A finished product: its provenance hash, its files (primary first) and its metadata.

    ``metadata`` is JSON-compatible: the normalised request, the science windows used, the sky
    extent (``ra``, ``dec``, ``radius_deg``), the band (``e_min_kev``, ``e_max_kev``), the time
    span (``t_min_mjd``, ``t_max_mjd``) and anything the product kind adds.
    ``progenitors`` names products (by hash) this one was made from.
    """

    provenance_hash: str
    product_type: str
    files: tuple[ProductFile, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    progenitors: tuple[str, ...] = ()

    def file(self, name: str) -> ProductFile:
        """The file called ``name``."""
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(name)
