"""Wiring of the analysis packages into product builders, one per product type."""

from __future__ import annotations

from vo_service._build_env import PRODUCT_BUILDERS, ProductBuilder

__all__ = ["register_builders"]


def register_builders() -> None:
    """Fill :data:`PRODUCT_BUILDERS` with the product types this installation offers."""
    builders: dict[str, ProductBuilder] = {}
    PRODUCT_BUILDERS.update(builders)
