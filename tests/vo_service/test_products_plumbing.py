"""Selection, product store and downloads, and the product job handler with a toy recipe."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from astropy.io import fits

from processing.pipeline import Graph, Node
from processing.products import ProductDescriptor, ProductFile, ProductPlan, RecipeInputs
from processing.products import _recipe as recipe_registry
from processing.simulator import SimulationResult
from uws import JobContext, ParameterSet
from uws import ParameterError as UWSParameterError
from vo_service._context import ServiceContext
from vo_service._products import handle_product_job, validate_product_parameters
from vo_service._request import RequestError, parse_request
from vo_service._selection import select_science_windows
from vo_service.app import create_app
from vo_service.settings import Settings


@pytest.fixture
def context(tmp_path: Path, tiny_archive: SimulationResult, database_url: str) -> ServiceContext:
    archive = tmp_path / "archive"
    shutil.copytree(tiny_archive.root, archive)
    settings = Settings.load(
        data_dir=tmp_path / "var",
        archive_path=archive,
        database_url=database_url,
        executor="inline",
        network_resolvers=False,
    )
    ctx = ServiceContext.build(settings)
    ctx.archive.ingest()
    return ctx


def test_selection_by_cone_time_list_and_subset(context: ServiceContext) -> None:
    everything = context.archive.all()
    req = parse_request([("src_name", "Crab"), ("radius", "20")])
    assert select_science_windows(context.archive, req, 83.633, 22.0145) == everything
    capped = parse_request([("src_name", "Crab"), ("radius", "20"), ("max_pointings", "2")])
    first = select_science_windows(context.archive, capped, 83.633, 22.0145)
    assert len(first) == 2 and first == select_science_windows(
        context.archive, capped, 83.633, 22.0145
    )
    # The subset depends on what selects science windows only: another band, product type or
    # threshold on the same sky takes the same ones (and their cached per-ScW work).
    for extra in (
        [("E1_keV", "40"), ("E2_keV", "80")],
        [("E1_keV", "25"), ("E2_keV", "35")],
        [("product_type", "spectrum")],
        [("product_type", "light_curve"), ("E1_keV", "60"), ("E2_keV", "100")],
        [("detection_threshold", "7")],
    ):
        other = parse_request(
            [("src_name", "Crab"), ("radius", "20"), ("max_pointings", "2"), *extra]
        )
        assert select_science_windows(context.archive, other, 83.633, 22.0145) == first, extra
    by_position = parse_request(
        [("RA", "83.633"), ("DEC", "22.0145"), ("radius", "20"), ("max_pointings", "2")]
    )
    assert select_science_windows(context.archive, by_position, 83.633, 22.0145) == first
    listed = parse_request([("scw_list", everything[1].scw_id)])
    assert select_science_windows(context.archive, listed, None, None) == [everything[1]]
    with pytest.raises(RequestError) as info:
        select_science_windows(
            context.archive, parse_request([("scw_list", "999900010010")]), None, None
        )
    assert info.value.param == "scw_list"
    far = parse_request([("RA", "200"), ("DEC", "-60")])
    with pytest.raises(RequestError) as info:
        select_science_windows(context.archive, far, 200.0, -60.0)
    assert info.value.param == "radius" and "no science window" in info.value.message
    late = parse_request(
        [("src_name", "Crab"), ("T1", "2020-01-01T00:00:00"), ("T2", "2021-01-01T00:00:00")]
    )
    with pytest.raises(RequestError) as info:
        select_science_windows(context.archive, late, 83.633, 22.0145)
    assert info.value.param == "T1"


class _ToyPlan(ProductPlan):
    """A plan whose run writes one FITS image depending on the band (no DAG to compute)."""

    def __init__(self, inputs: RecipeInputs, folder: Path) -> None:
        super().__init__(Graph(), _ToyPlan._node(), lambda files: [])
        self.inputs, self.folder = inputs, folder

    @staticmethod
    def _node() -> Node:
        from processing.isgri import UserCatalog

        return Graph().add(UserCatalog(names=["toy"], ra=[0.0], dec=[0.0]))

    def run(self, pipeline: object, **_: object) -> object:  # type: ignore[override]
        from processing.products import PlanOutcome

        assert self.inputs.band is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "toy_image.fits"
        data = np.full((4, 4), self.inputs.band.e_min_kev, dtype=np.float32)
        fits.PrimaryHDU(data).writeto(path, overwrite=True)
        digest = f"{int(self.inputs.band.e_min_kev):064x}"
        product = ProductDescriptor(
            provenance_hash=digest,
            product_type="image",
            files=(ProductFile(path, "application/fits", "#this", "toy image"),),
            metadata={"scw_ids": list(self.inputs.scw_ids)},
        )
        return PlanOutcome([product], 1)


class _ToyRecipe:
    """A recipe test double: one FITS image whose content depends on the request's band."""

    instrument = "isgri"
    product_type = "image"
    description = "toy"
    banded = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def check(self, inputs: RecipeInputs) -> None:
        return None

    def plan(self, inputs: RecipeInputs) -> ProductPlan:
        return _ToyPlan(inputs, self.folder)


def test_validation_and_handler_store_products(
    context: ServiceContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe_registry.recipe_keys()  # the built-in recipes registered, then replaced here
    toy = _ToyRecipe(context.settings.data_dir / "toy")
    monkeypatch.setitem(recipe_registry._FACTORIES, ("isgri", "image"), lambda: toy)
    monkeypatch.setitem(recipe_registry._LOADED, ("isgri", "image"), toy)
    monkeypatch.delitem(recipe_registry._FACTORIES, ("isgri", "spectrum"))
    monkeypatch.delitem(recipe_registry._LOADED, ("isgri", "spectrum"), raising=False)
    monkeypatch.delitem(recipe_registry._FACTORIES, ("jemx", "spectrum"))
    monkeypatch.delitem(recipe_registry._LOADED, ("jemx", "spectrum"), raising=False)
    settings_json = context.settings.model_dump_json()
    params = validate_product_parameters(
        settings_json, ParameterSet([("src_name", "crab"), ("radius", "20"), ("E1_keV", "25")])
    )
    assert params["resolver"] == "local catalog" and params["ra"] == pytest.approx(83.63308)
    assert len(params["scw_ids"]) == 4
    with pytest.raises(UWSParameterError, match="src_name"):
        validate_product_parameters(settings_json, ParameterSet([("src_name", "Nowhere X-9")]))
    with pytest.raises(UWSParameterError, match="product_type"):
        validate_product_parameters(
            settings_json, ParameterSet([("src_name", "crab"), ("product_type", "spectrum")])
        )
    job = JobContext(
        job_id="j1",
        owner=None,
        parameters=params,
        work_dir=tmp_path,
        cancel_event=threading.Event(),
    )
    results = handle_product_job(settings_json, job)
    # Every recipe's products get their W3C PROV document from the service.
    assert [(r.id, r.primary) for r in results] == [
        ("toy_image.fits", True),
        ("provenance.json", False),
        ("provenance.xml", False),
        ("links", False),
    ]
    assert results[0].mime_type == "application/fits"
    assert results[3].mime_type == "application/x-votable+xml;content=datalink"
    assert results[3].href == (
        f"{context.settings.public_base_url}/datalink/links?ID="
        + quote(f"{context.settings.ivoid}?{25:064x}", safe="")
    )
    assert results[0].href is not None and results[0].href.endswith("/toy_image.fits")
    stored = context.store.get(f"{25:064x}")
    assert stored is not None and stored.metadata["resolver"] == "local catalog"

    client = create_app(context.settings, context).test_client()
    url = f"/products/{25:064x}/toy_image.fits"
    full = client.get(url)
    assert full.status_code == 200
    assert full.headers["Content-Type"] == "application/fits"
    assert int(full.headers["Content-Length"]) == len(full.data)
    part = client.get(url, headers={"Range": "bytes=0-79"})
    assert part.status_code == 206 and part.data == full.data[:80]
    assert part.data.startswith(b"SIMPLE  =")
    size = len(full.data)
    # RFC 9110 §14: a suffix longer than the file is the whole file; several ranges or an
    # unparsable one may be ignored (the whole file); a start past the end is 416, not HTML.
    tail = client.get(url, headers={"Range": "bytes=-80"})
    assert tail.status_code == 206 and tail.data == full.data[-80:]
    longer = client.get(url, headers={"Range": f"bytes=-{size * 10}"})
    assert longer.status_code == 206 and longer.data == full.data
    assert longer.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"
    for ignored in ("bytes=0-9,20-29", "bytes=abc", "items=0-9", "bytes=9-0", "bytes=-0"):
        whole = client.get(url, headers={"Range": ignored})
        assert whole.status_code == 200 and whole.data == full.data, ignored
    past = client.get(url, headers={"Range": f"bytes={size + 10}-"})
    assert past.status_code == 416
    assert past.is_json and past.headers["Content-Range"] == f"bytes */{size}"
    missing = client.get(f"/products/{25:064x}/other.fits")
    assert missing.status_code == 404 and missing.is_json
    description = client.get(f"/products/{25:064x}").get_json()
    assert description["files"][0]["url"].endswith(url)
    assert client.get(f"/products/{25:064x}/..%2Fservice.sqlite").status_code == 404
    assert client.get(f"/products/{25:064x}/other.fits").status_code == 404
    assert client.get("/products/not-a-hash/x").status_code == 404


def test_a_band_below_the_low_threshold_is_refused(context: ServiceContext) -> None:
    from dataclasses import replace

    from vo_service._products import check_request

    late = replace(context.archive.all()[0], revolution=1700)  # threshold 30 keV from rev 1600
    request = parse_request([("src_name", "Crab"), ("E1_keV", "25"), ("E2_keV", "60")])
    with pytest.raises(RequestError) as info:
        check_request(context, request, None, [late])
    assert info.value.param == "E1_keV" and "low threshold (30 keV)" in info.value.message
    ok = parse_request([("src_name", "Crab"), ("E1_keV", "30"), ("E2_keV", "60")])
    check_request(context, ok, None, [late])
    # A spectrum covers every channel: the band's threshold does not apply.
    spectrum = parse_request([("src_name", "Crab"), ("product_type", "spectrum")])
    check_request(context, spectrum, None, [late])
