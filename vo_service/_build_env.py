"""What product builders receive, and the registry of builders by product type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from processing.archive import ScienceWindow
from processing.instrument import Instrument
from processing.pipeline import CancelToken, Pipeline, Progress
from processing.products import ProductDescriptor
from vo_service._context import ServiceContext
from vo_service._request import ProductRequest

__all__ = ["PRODUCT_BUILDERS", "BuildEnvironment", "ProductBuilder"]


@dataclass
class BuildEnvironment:
    """What a product builder works with."""

    context: ServiceContext
    instrument: Instrument
    pipeline: Pipeline
    request: ProductRequest
    ra: float | None
    dec: float | None
    resolver: str | None
    science_windows: list[ScienceWindow]
    token: CancelToken
    progress: Callable[[Progress], None]
    holder: str
    user: str | None
    #: Sky model replacing the archive's reference catalog: (name, ra, dec) triples.
    user_catalog: tuple[tuple[str, float, float], ...] | None = None


ProductBuilder = Callable[[BuildEnvironment], list[ProductDescriptor]]

#: product_type → builder (an extension point; see :func:`vo_service._builders.register_builders`).
PRODUCT_BUILDERS: dict[str, ProductBuilder] = {}
