"""The product API: recipes keyed by (instrument, product type), and product descriptors.

A recipe builds a product's DAG once from a normalised, instrument-neutral request
(:class:`RecipeInputs`), runs it on any executor with a cancel token
(:meth:`ProductPlan.run`) and describes its products (:class:`ProductDescriptor`, primary file
first). The service only wires: it normalises the request, selects science windows, looks the
recipe up with :func:`get_recipe` and stores what the plan returns.
"""

from processing.products._descriptor import ProductDescriptor, ProductFile
from processing.products._recipe import (
    PlanOutcome,
    ProductPlan,
    Recipe,
    RecipeError,
    RecipeInputs,
    RecipeNotFoundError,
    get_recipe,
    product_types,
    recipe_keys,
    register_recipe,
)
from processing.products._sky import LEAD_MATCH_DEG, coordinate_label, request_centre, sky_model
from processing.products._windows import camera_field_deg, camera_windows

__all__ = [
    "LEAD_MATCH_DEG",
    "PlanOutcome",
    "ProductDescriptor",
    "ProductFile",
    "ProductPlan",
    "Recipe",
    "RecipeError",
    "RecipeInputs",
    "RecipeNotFoundError",
    "camera_field_deg",
    "camera_windows",
    "coordinate_label",
    "get_recipe",
    "product_types",
    "recipe_keys",
    "register_recipe",
    "request_centre",
    "sky_model",
]
