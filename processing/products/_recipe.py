"""The product API: recipes keyed by (instrument, product type).

A :class:`Recipe` turns a normalised, instrument-neutral :class:`RecipeInputs` into a
:class:`ProductPlan`: the product's DAG, built once, with the per-science-window nodes worth
computing shard by shard and a description step. :meth:`ProductPlan.run` runs the plan the same
way for every recipe, on any executor behind a :class:`~processing.pipeline.Pipeline`, with a
cancel token, and returns :class:`~processing.products.ProductDescriptor` objects (primary file
first, DataLink semantics on every file).

Recipes are registered with :func:`register_recipe` (a factory called on first use) and found
with :func:`get_recipe`; the built-in ISGRI recipes register themselves on first lookup.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from processing.archive import ArchiveIndex, ScienceWindow
from processing.instruments import EnergyBand
from processing.pipeline import CancelToken, Graph, Node, Pipeline, Progress
from processing.products._descriptor import ProductDescriptor

__all__ = [
    "PlanOutcome",
    "ProductPlan",
    "Recipe",
    "RecipeError",
    "RecipeInputs",
    "RecipeNotFoundError",
    "get_recipe",
    "product_types",
    "recipe_keys",
    "register_recipe",
]


class RecipeError(ValueError):
    """A request a recipe cannot serve; ``param`` names the request parameter to change."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


class RecipeNotFoundError(KeyError):
    """No recipe is registered for this (instrument, product type)."""

    def __init__(self, instrument: str, product_type: str) -> None:
        super().__init__(f"{instrument}/{product_type}")
        self.instrument = instrument
        self.product_type = product_type


@dataclass(frozen=True)
class RecipeInputs:
    """What a recipe is given: a normalised request, its position resolved and its science
    windows selected. Nothing here is specific to one instrument.

    ``position`` is the request's centre when the client gave one or a name resolved to one
    (``None`` for a bare science-window list: recipes then centre on the mean pointing); a
    client's source name is resolved to it before, and plays no further part (the position,
    not the name, decides the sky model). ``band`` is ``None`` for product types made over the
    instrument's whole range (spectra).
    """

    instrument: str
    product_type: str
    #: The archive index (a recipe reads its instrument's calibration and catalog from it).
    archive: ArchiveIndex
    science_windows: tuple[ScienceWindow, ...]
    band: EnergyBand | None
    position: tuple[float, float] | None
    radius_deg: float
    detection_threshold: float = 7.0
    time_bin_s: float = 1000.0
    #: Sky model replacing the archive's reference catalog: (name, ra, dec) triples.
    user_catalog: tuple[tuple[str, float, float], ...] | None = None
    #: The unit of a camera flown twice (JEM-X 1 or 2), None when the request names none.
    unit: int | None = None

    @property
    def scw_ids(self) -> tuple[str, ...]:
        return tuple(s.scw_id for s in self.science_windows)


@dataclass(frozen=True)
class PlanOutcome:
    """What a run of a plan produced: products (primary first) and the number of shards."""

    products: list[ProductDescriptor]
    shards: int


#: Turns the loaded files of the plan's target into descriptors (primary first).
Describe = Callable[[dict[str, Path]], list[ProductDescriptor]]


@dataclass
class ProductPlan:
    """A product's DAG, built once, and how to describe what its target writes.

    ``per_scw`` lists the nodes computed shard by shard when a request exceeds the per-run
    limit (bounding the work in flight, the cache leases and the memory of one step); since
    every node is named by its provenance, a sharded run gives the one-piece result bit for bit.
    """

    graph: Graph
    target: Node
    describe: Describe
    per_scw: tuple[Node, ...] = ()
    #: Metadata every product of the plan carries (the centre used, the sky model...).
    metadata: dict[str, Any] = field(default_factory=dict)

    def run(
        self,
        pipeline: Pipeline,
        *,
        token: CancelToken | None = None,
        progress: Callable[[Progress], None] | None = None,
        holder: str | None = None,
        shard_size: int | None = None,
    ) -> PlanOutcome:
        """Compute the plan (shard by shard beyond ``shard_size`` science windows) and
        describe its products."""
        shards = 1
        if shard_size is not None and len(self.per_scw) > shard_size:
            pieces = [
                list(self.per_scw[i : i + shard_size])
                for i in range(0, len(self.per_scw), shard_size)
            ]
            shards = len(pieces)
            for piece in pieces:
                if token is not None:
                    token.check()
                pipeline.run(piece, token=token, progress=progress, holder=holder)
        result = pipeline.run([self.target], token=token, progress=progress, holder=holder)
        files = result[self.target].load()
        if not isinstance(files, dict):
            raise TypeError(f"{self.target.unit.name} did not write files")
        products = self.describe({str(k): Path(v) for k, v in files.items()})
        extra = {**self.metadata, "shards": shards}
        products = [
            ProductDescriptor(
                p.provenance_hash, p.product_type, p.files, {**p.metadata, **extra}, p.progenitors
            )
            for p in products
        ]
        return PlanOutcome(products, shards)


class Recipe(Protocol):
    """How one instrument makes one product type."""

    @property
    def instrument(self) -> str:
        """The instrument's registry name (``isgri``)."""
        ...

    @property
    def product_type(self) -> str:
        """The product type made (``image``, ``spectrum``...)."""
        ...

    @property
    def description(self) -> str:
        """One line for service descriptions."""
        ...

    @property
    def banded(self) -> bool:
        """Whether the product is made in one energy band (else over the instrument's range)."""
        ...

    def check(self, inputs: RecipeInputs) -> None:
        """Cheap checks run when the request is accepted, before anything is built.

        Raises
        ------
        RecipeError
            Naming the request parameter.
        """
        ...

    def plan(self, inputs: RecipeInputs) -> ProductPlan:
        """The product's DAG for ``inputs``.

        Raises
        ------
        RecipeError
            Naming the request parameter, for a request this recipe cannot serve.
        """
        ...


_FACTORIES: dict[tuple[str, str], Callable[[], Recipe]] = {}
_LOADED: dict[tuple[str, str], Recipe] = {}
#: Modules of the built-in recipes, each with a ``register()`` (imported on the first lookup,
#: so that importing the product API does not import every instrument's analysis).
BUILTIN_RECIPE_MODULES: tuple[str, ...] = (
    "processing.products._isgri",
    "processing.products._jemx",
)
_BUILTINS_LOADED: list[str] = []


def register_recipe(instrument: str, product_type: str, factory: Callable[[], Recipe]) -> None:
    """Register the recipe making ``product_type`` for ``instrument`` (built on first use)."""
    key = (instrument, product_type)
    _FACTORIES[key] = factory
    _LOADED.pop(key, None)


def _ensure_builtins() -> None:
    for module in BUILTIN_RECIPE_MODULES:
        if module not in _BUILTINS_LOADED:
            _BUILTINS_LOADED.append(module)
            importlib.import_module(module).register()


def recipe_keys() -> tuple[tuple[str, str], ...]:
    """Every registered (instrument, product type), in registration order."""
    _ensure_builtins()
    return tuple(_FACTORIES)


def product_types(instrument: str) -> tuple[str, ...]:
    """The product types ``instrument`` has recipes for."""
    return tuple(t for i, t in recipe_keys() if i == instrument)


def get_recipe(instrument: str, product_type: str) -> Recipe:
    """The recipe for (instrument, product type).

    Raises
    ------
    RecipeNotFoundError
        When none is registered.
    """
    _ensure_builtins()
    key = (instrument, product_type)
    if key not in _FACTORIES:
        raise RecipeNotFoundError(instrument, product_type)
    if key not in _LOADED:
        _LOADED[key] = _FACTORIES[key]()
    return _LOADED[key]


def ordered(names: Sequence[str], primary: Sequence[str]) -> list[str]:
    """``names`` with those ending in ``primary`` suffixes first (in that order), then by name."""
    return sorted(
        names,
        key=lambda n: (next((i for i, p in enumerate(primary) if n.endswith(p)), len(primary)), n),
    )
