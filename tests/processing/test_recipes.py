"""The product API: recipes by (instrument, product type), one DAG per plan, a cancel token for
every product type, and the shared sky-model decisions."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from processing.archive import ArchiveIndex, read_reference_catalog
from processing.instruments import get_instrument
from processing.pipeline import (
    CacheStore,
    CancelToken,
    InlineExecutor,
    Pipeline,
    PipelineCancelled,
    ProductCache,
)
from processing.products import (
    RecipeError,
    RecipeInputs,
    RecipeNotFoundError,
    coordinate_label,
    get_recipe,
    product_types,
    request_centre,
    sky_model,
)
from processing.simulator import SimulationResult
from vo_service.db import make_engine, upgrade_database

CRAB = (83.63308, 22.0145)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, tiny_archive: SimulationResult) -> Path:
    root = tmp_path_factory.mktemp("recipes") / "archive"
    shutil.copytree(tiny_archive.root, root)
    return root


@pytest.fixture
def pipeline(archive: Path, tmp_path: Path) -> tuple[ArchiveIndex, Pipeline]:
    engine = make_engine(f"sqlite:///{tmp_path / 'index.sqlite'}")
    upgrade_database(engine)
    index = ArchiveIndex(engine, archive)
    index.ingest()
    cache = ProductCache(CacheStore(tmp_path / "cache", durable=False), engine)
    return index, Pipeline(cache, InlineExecutor())


def _inputs(index: ArchiveIndex, product_type: str, **changes: object) -> RecipeInputs:
    band = get_instrument("isgri").snap_band(25.0, 60.0)
    base = RecipeInputs(
        instrument="isgri",
        product_type=product_type,
        archive=index,
        science_windows=tuple(index.all()),
        band=band if product_type != "spectrum" else None,
        position=CRAB,
        radius_deg=20.0,
        time_bin_s=100.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_isgri_recipes_are_registered_and_others_are_not() -> None:
    assert set(product_types("isgri")) == {
        "image",
        "spectrum",
        "spectral_fit",
        "light_curve",
        "transient_search",
    }
    recipe = get_recipe("isgri", "light_curve")
    assert (recipe.instrument, recipe.product_type, recipe.banded) == (
        "isgri",
        "light_curve",
        True,
    )
    assert get_recipe("isgri", "spectrum").banded is False
    with pytest.raises(RecipeNotFoundError):
        get_recipe("isgri", "movie")
    with pytest.raises(RecipeNotFoundError):
        get_recipe("nosuch", "image")


@pytest.mark.parametrize("product_type", ["spectrum", "light_curve"])
def test_a_fitted_product_run_obeys_its_cancel_token(
    pipeline: tuple[ArchiveIndex, Pipeline], product_type: str
) -> None:
    index, pipe = pipeline
    plan = get_recipe("isgri", product_type).plan(_inputs(index, product_type))
    assert len(plan.per_scw) == len(index.all())  # one branch per science window, built once
    token = CancelToken()
    token.cancel()
    with pytest.raises(PipelineCancelled):
        plan.run(pipe, token=token)
    assert not pipe.plan([plan.target]).cached  # nothing was computed


def test_a_sharded_run_gives_the_one_piece_products(
    pipeline: tuple[ArchiveIndex, Pipeline],
) -> None:
    index, pipe = pipeline
    recipe = get_recipe("isgri", "spectrum")
    sharded = recipe.plan(_inputs(index, "spectrum")).run(pipe, shard_size=1)
    whole = recipe.plan(_inputs(index, "spectrum")).run(pipe)
    assert sharded.shards == len(index.all()) and whole.shards == 1
    assert [p.provenance_hash for p in sharded.products] == [
        p.provenance_hash for p in whole.products
    ]
    files = [f.name for f in whole.products[0].files]
    assert files[0] == "Crab.pha" and whole.products[0].files[0].semantics == "#this"


def test_the_source_at_the_position_leads_the_sky_model(archive: Path) -> None:
    catalog = [(c.name, c.ra, c.dec) for c in read_reference_catalog(archive)]
    assert catalog, "the tiny archive has a reference catalog"
    engine = make_engine("sqlite://")
    upgrade_database(engine)
    index = ArchiveIndex(engine, archive)
    index.ingest()
    inputs = _inputs(index, "spectrum")
    at_crab = sky_model(inputs, catalog)
    assert at_crab[0][0] == "Crab"
    assert sorted(at_crab) == sorted(s for s in catalog if s in at_crab)  # catalog sources only
    # Away from any catalog source: a source labelled by its coordinates leads.
    off = (CRAB[0] + 1.0, CRAB[1])
    moved = sky_model(replace(inputs, position=off), catalog)
    assert moved[0] == (coordinate_label(*off), off[0], off[1])
    assert "Crab" in [s[0] for s in moved[1:]]
    # A user's sky model is used as given.
    own = (("A", 1.0, 2.0), ("B", 3.0, 4.0))
    assert sky_model(replace(inputs, user_catalog=own), catalog) == own
    # An empty field is refused, naming the parameter that gives a sky model.
    with pytest.raises(RecipeError) as info:
        sky_model(replace(inputs, position=(10.0, -80.0), radius_deg=1.0), catalog)
    assert info.value.param == "selected_catalog"
    # Without a position, the centre is the mean pointing.
    ra, dec = request_centre(None, index.all())
    assert abs(dec - CRAB[1]) < 10.0 and 0.0 <= ra < 360.0


def test_coordinate_labels() -> None:
    assert coordinate_label(83.63308, 22.0145) == "J053431.9+220052"
    assert coordinate_label(0.0, -0.5) == "J000000.0-003000"
    assert coordinate_label(359.99999, 89.9999) == "J000000.0+900000"  # rounding carries
