"""End to end through the pipeline: archive → image FITS, catalog VOTable/FITS, PNG; mosaics."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits, votable
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS
from PIL import Image

from processing.archive import ArchiveIndex
from processing.instrument import load_instrument
from processing.isgri import (
    BandError,
    ImageRequest,
    build_image_graph,
    run_image_product,
)
from processing.isgri._products_image import ProductDescriptor
from processing.pipeline import CacheStore, InlineExecutor, Pipeline, ProductCache, UnitFailed
from processing.simulator import Scenario

from .conftest import simulated_archive

CRAB = (83.63308, 22.0145)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[ArchiveIndex, Path]:
    root = tmp_path_factory.mktemp("imaging_archive")
    scenario = Scenario.model_validate(
        {
            "name": "imaging-e2e",
            "seed": 8,
            "catalog_sources": False,
            "sources": [
                {"name": "Crab", "flux_mcrab": 300.0},
                {"name": "NewOne", "ra": 88.0, "dec": 18.0, "flux_mcrab": 150.0},
            ],
            "pointings": [
                {
                    "target": "Crab",
                    "start": 54000.0,
                    "n_scw": 5,
                    "pattern": "random",
                    "radius_deg": 8,
                    "scw_duration_s": 1000,
                }
            ],
        }
    )
    index = simulated_archive(scenario, root)
    return index, root


@pytest.fixture(scope="module")
def pipeline(archive: tuple[ArchiveIndex, Path]) -> Pipeline:
    index, root = archive
    cache = ProductCache(CacheStore(root / "cache"), index.engine)
    return Pipeline(cache, InlineExecutor())


@pytest.fixture(scope="module")
def products(archive: tuple[ArchiveIndex, Path], pipeline: Pipeline) -> ProductDescriptor:
    index, root = archive
    request = ImageRequest(ra=CRAB[0], dec=CRAB[1], radius_deg=12.0)
    (product,) = run_image_product(pipeline, index, load_instrument(root), request)
    return product


def _file(product: ProductDescriptor, name: str) -> Path:
    return next(f.path for f in product.files if f.name == name)


@pytest.mark.slow
def test_image_fits_has_wcs_extensions_and_provenance(products: ProductDescriptor) -> None:
    assert {f.content_type for f in products.files} >= {"application/fits", "image/png"}
    with fits.open(_file(products, "image.fits")) as hl:
        assert [h.name for h in hl[1:]] == ["INTENSITY", "VARIANCE", "SIGNIFICANCE", "EXPOSURE"]
        primary = hl[0].header
        assert primary["SIMULATE"] is True
        assert any("SIMULATED DATA" in str(c) for c in primary["COMMENT"])
        assert primary["PROVHASH"] == products.provenance_hash
        assert primary["NSCW"] == len(products.metadata["scw_ids"]) == 5
        assert primary["E_MIN"] == 20.0 and primary["E_MAX"] == 40.0
        history = " ".join(str(h) for h in primary["HISTORY"])
        assert products.metadata["scw_ids"][0] in history
        sig = hl["SIGNIFICANCE"]
        wcs = WCS(sig.header)
        assert wcs.has_celestial
        catalog = Table.read(_file(products, "catalog.fits"))
        crab = catalog[catalog["name"] == "Crab"][0]
        # The image's own WCS puts the catalog position on the brightest pixel.
        x, y = wcs.world_to_pixel_values(crab["ra"], crab["dec"])
        peak = np.unravel_index(int(np.nanargmax(sig.data)), sig.data.shape)
        assert abs(peak[0] - y) <= 1.0 and abs(peak[1] - x) <= 1.0
        assert np.all(hl["EXPOSURE"].data >= 0) and hl["EXPOSURE"].data.max() > 1000


@pytest.fixture(scope="module")
def single_scw_product(archive: tuple[ArchiveIndex, Path], pipeline: Pipeline) -> ProductDescriptor:
    """The image of one science window (its ScW image is cached by ``products`` already)."""
    index, root = archive
    last = index.all()[-1].scw_id
    request = ImageRequest(ra=CRAB[0], dec=CRAB[1], radius_deg=12.0, scw_ids=(last,))
    (product,) = run_image_product(pipeline, index, load_instrument(root), request)
    return product


def _time_hdus(product: ProductDescriptor) -> list[tuple[str, fits.Header]]:
    """Every HDU of the image product's FITS files, named file:extension."""
    found = []
    for name in ("image.fits", "catalog.fits"):
        with fits.open(_file(product, name)) as hl:
            found += [(f"{name}:{h.name}", h.header.copy()) for h in hl]
    return found


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mosaic", "single ScW"])
def test_image_headers_give_the_science_windows_times(
    kind: str,
    products: ProductDescriptor,
    single_scw_product: ProductDescriptor,
    archive: tuple[ArchiveIndex, Path],
) -> None:
    """Issue 22 item 5: MJDREF was 0.0 in the image extensions, whose times are IJD."""
    product = products if kind == "mosaic" else single_scw_product
    index, _ = archive
    scws = index.get(product.metadata["scw_ids"])
    # The truth: the archive index's ScW start and stop (IJD), as absolute TT times.
    start = Time(min(s.tstart for s in scws) + 51544.0, format="mjd", scale="tt")
    stop = Time(max(s.tstop for s in scws) + 51544.0, format="mjd", scale="tt")
    if kind == "single ScW":
        assert len(scws) == 1
    hdus = _time_hdus(product)
    assert [n for n, _ in hdus] == [
        "image.fits:PRIMARY",
        "image.fits:INTENSITY",
        "image.fits:VARIANCE",
        "image.fits:SIGNIFICANCE",
        "image.fits:EXPOSURE",
        "catalog.fits:PRIMARY",
        "catalog.fits:ISGR-SRCL-RES",
    ]
    one_second = 1.0 * u.s
    for name, h in hdus:
        assert h["MJDREF"] == 51544.0 and h["MJDREFI"] == 51544 and h["MJDREFF"] == 0.0, name
        assert h["TIMESYS"] == "TT" and h["TIMEUNIT"] == "d" and h["TIMEREF"] == "LOCAL", name
        scale = h["TIMESYS"].lower()
        origin = h["MJDREFI"] + h["MJDREFF"]
        t0 = Time(origin + h["TSTART"], format="mjd", scale=scale)
        t1 = Time(origin + h["TSTOP"], format="mjd", scale=scale)
        assert abs(t0 - start) < one_second and abs(t1 - stop) < one_second, name
        assert abs(Time(h["DATE-OBS"], scale="tt") - start) < one_second, name
        assert abs(Time(h["DATE-END"], scale="tt") - stop) < one_second, name
        assert abs(Time(h["MJD-OBS"], format="mjd", scale="tt") - start) < one_second, name
        assert abs(Time(h["MJD-END"], format="mjd", scale="tt") - stop) < one_second, name
        # The FITS 4.0 reference date (ISO) is the same origin as MJDREF.
        assert Time(h["DATEREF"], scale="tt").mjd == 51544.0, name
        if name.startswith("image.fits:") and name != "image.fits:PRIMARY":
            # WCS users get the same times from the WCS, with no fix-up warning.
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                wcs = WCS(h)
            assert list(wcs.wcs.mjdref) == [51544.0, 0.0], name
            assert abs(Time(wcs.wcs.mjdobs, format="mjd", scale="tt") - start) < one_second
            assert wcs.wcs.timesys == "TT"


@pytest.mark.slow
def test_preview_png_is_small(products: ProductDescriptor) -> None:
    """Every image product makes one: a 640 × 560 quick look (the old 700 × 700 was 0.7 MB)."""
    path = _file(products, "preview.png")
    with Image.open(path) as png:
        assert png.format == "PNG" and png.size == (640, 560)
    assert path.stat().st_size < 500_000


@pytest.mark.slow
def test_catalog_finds_injected_sources_once(products: ProductDescriptor, archive) -> None:
    catalog = Table.read(_file(products, "catalog.fits"))
    assert len(set(catalog["name"])) == len(catalog)  # no duplicates
    truth = SkyCoord([CRAB[0], 88.0], [CRAB[1], 18.0], unit="deg")
    found = SkyCoord(catalog["ra"], catalog["dec"], unit="deg")
    idx, sep, _ = truth.match_to_catalog_sky(found)
    for k in range(2):
        assert sep[k].arcmin < max(2.0 * catalog["r90"][idx[k]], 1.0)
    # Nothing but the two injected sources above the mosaic threshold.
    assert len(catalog) == 2
    crab = catalog[idx[0]]
    assert crab["name"] == "Crab" and crab["in_catalog"] and crab["origin"] == "mosaic"
    other = catalog[idx[1]]
    assert other["name"].startswith("J05") and not other["in_catalog"]  # named by position
    # The count rates scale as the injected fluxes (300 and 150 mCrab).
    assert other["rate"] / crab["rate"] == pytest.approx(0.5, rel=0.1)


@pytest.mark.slow
def test_votable_passes_votlint_and_stilts_sees_positions(products: ProductDescriptor) -> None:
    path = _file(products, "catalog.vot")
    lint = subprocess.run(
        ["stilts", "votlint", f"votable={path}"], capture_output=True, text=True, timeout=120
    )
    output = (lint.stdout + lint.stderr).strip()
    assert "ERROR" not in output.upper(), output
    meta = subprocess.run(
        ["stilts", "tpipe", f"in={path}", "cmd=meta", "ofmt=csv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    ucds = {row.split(",")[1]: row.split(",")[5] for row in meta.stdout.splitlines()[1:]}
    assert ucds["ra"] == "pos.eq.ra;meta.main" and ucds["dec"] == "pos.eq.dec;meta.main"
    # STILTS does sky geometry with the columns: galactic coordinates of the Crab.
    sky = subprocess.run(
        [
            "stilts",
            "tpipe",
            f"in={path}",
            "cmd=addskycoords icrs galactic ra dec glon glat",
            "cmd=select 'name==\"Crab\"'",
            'cmd=keepcols "glon glat"',
            "ofmt=csv-noheader",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    glon, glat = (float(v) for v in sky.stdout.strip().split(","))
    assert glon == pytest.approx(184.557, abs=0.05) and glat == pytest.approx(-5.784, abs=0.05)
    table = votable.parse_single_table(path).to_table()
    assert table["ra"].unit == "deg" and table["rate"].unit == "ct / s"
    fields = {f.name: f for f in votable.parse_single_table(path).fields}
    assert fields["name"].ucd == "meta.id;meta.main"
    assert fields["significance"].ucd == "stat.snr"


@pytest.mark.slow
def test_mosaic_flux_matches_inverse_variance_mean_of_scws(
    archive: tuple[ArchiveIndex, Path], pipeline: Pipeline
) -> None:
    index, root = archive
    request = ImageRequest(ra=CRAB[0], dec=CRAB[1], radius_deg=12.0)
    graph, _, _ = build_image_graph(index, load_instrument(root), request)
    mosaic = next(n for n in graph if n.unit.name == "isgri.mosaic")
    images = [n for n in graph if n.unit.name == "isgri.image_scw"]
    result = pipeline.run([mosaic, *images])
    fluxes, errors = [], []
    for node in images:
        for s in result.load(node)["sources"]:  # type: ignore[index]
            if s["name"] == "Crab":
                fluxes.append(s["flux"])
                errors.append(s["flux_error"])
    w = 1.0 / np.asarray(errors) ** 2
    mean = float((np.asarray(fluxes) * w).sum() / w.sum())
    crab = next(s for s in result.load(mosaic)["sources"] if s["name"] == "Crab")  # type: ignore[index]
    assert len(fluxes) == 5
    assert crab["flux"] == pytest.approx(mean, rel=0.02)
    assert crab["n_scw"] == 5


@pytest.mark.slow
def test_user_catalog_replaces_the_reference_one(
    archive: tuple[ArchiveIndex, Path], pipeline: Pipeline
) -> None:
    index, root = archive
    request = ImageRequest(
        ra=CRAB[0],
        dec=CRAB[1],
        radius_deg=12.0,
        scw_ids=tuple(s.scw_id for s in index.all()[:2]),
        user_catalog=(("MyNebula", CRAB[0], CRAB[1]), ("MyOther", 88.0, 18.0)),
    )
    (product,) = run_image_product(pipeline, index, load_instrument(root), request)
    catalog = Table.read(_file(product, "catalog.fits"))
    assert set(catalog["name"]) == {"MyNebula", "MyOther"}
    assert json.loads(json.dumps(product.metadata))["n_scw"] == 2


def test_band_below_the_low_threshold_is_refused(tmp_path: Path) -> None:
    """After revolution 1600 the threshold is 30 keV: a 20-40 keV image is refused."""
    scenario = Scenario.model_validate(
        {
            "name": "late",
            "seed": 2,
            "catalog_sources": False,
            "sources": [{"name": "Crab", "flux_mcrab": 100.0}],
            "pointings": [
                {
                    "target": "Crab",
                    "start": 57700.0,
                    "n_scw": 1,
                    "pattern": "staring",
                    "scw_duration_s": 300,
                }
            ],
            "background": {"rate_20_40": 30.0},
        }
    )
    index = simulated_archive(scenario, tmp_path)
    engine = index.engine
    assert index.all()[0].revolution > 1600
    pipeline = Pipeline(ProductCache(CacheStore(tmp_path / "cache"), engine), InlineExecutor())
    request = ImageRequest(ra=CRAB[0], dec=CRAB[1], e_min=20.0, e_max=40.0)
    with pytest.raises(BandError, match=r"e_min: the band 20-40 keV .* low threshold 30 keV"):
        run_image_product(pipeline, index, load_instrument(tmp_path), request)
    # The unit refuses it too, for graphs built by hand.
    graph, _, _ = build_image_graph(
        index, load_instrument(tmp_path), ImageRequest(ra=CRAB[0], dec=CRAB[1], e_min=30.0)
    )
    image = next(n for n in graph if n.unit.name == "isgri.image_scw")
    unit = type(image.unit)(bands=[[20.0, 40.0]])
    node = graph.add(unit, **image.inputs)
    with pytest.raises(UnitFailed) as info:
        pipeline.run([node])
    assert isinstance(info.value.__cause__, BandError)


def test_empty_selection_is_refused(archive: tuple[ArchiveIndex, Path]) -> None:
    index, root = archive
    request = ImageRequest(ra=200.0, dec=-60.0, radius_deg=1.0)
    with pytest.raises(ValueError, match="no science window"):
        build_image_graph(index, load_instrument(root), request)


@pytest.mark.slow
def test_empty_field_mosaic_has_no_detection(tmp_path: Path) -> None:
    """5 ScWs of an empty field: mosaic Σ is standard normal, nothing above 6σ, empty catalog."""
    scenario = Scenario.model_validate(
        {
            "name": "empty",
            "seed": 17,
            "catalog_sources": False,
            "pointings": [
                {
                    "ra": 150.0,
                    "dec": 60.0,
                    "start": 54100.0,
                    "n_scw": 5,
                    "pattern": "hex",
                    "scw_duration_s": 1000,
                }
            ],
        }
    )
    index = simulated_archive(scenario, tmp_path)
    engine = index.engine
    pipeline = Pipeline(ProductCache(CacheStore(tmp_path / "cache"), engine), InlineExecutor())
    request = ImageRequest(ra=150.0, dec=60.0, radius_deg=10.0)
    (product,) = run_image_product(pipeline, index, load_instrument(tmp_path), request)
    assert len(Table.read(_file(product, "catalog.fits"))) == 0
    with fits.open(_file(product, "image.fits")) as hl:
        sig = hl["SIGNIFICANCE"].data
        covered = hl["EXPOSURE"].data > 0
        values = sig[covered]
    assert np.abs(values).max() < 6.0
    assert abs(values.mean()) < 0.05
    assert values.std() == pytest.approx(1.0, abs=0.05)


def test_mosaic_only_source_is_identified_with_the_catalog() -> None:
    from processing.codedmask._mosaic_catalog import _rows, _Source
    from processing.instrument import radec_to_unit

    new = [
        _Source(vec=radec_to_unit(84.72, 26.31), flux=1.1, flux_error=0.1),
        _Source(vec=radec_to_unit(90.0, 20.0), flux=1.0, flux_error=0.1),
    ]
    catalog = [{"name": "1A 0535+262", "ra": 84.72738, "dec": 26.31578}]
    rows = _rows(0, [], new, 6.0, catalog)
    assert [(r["name"], r["catalog"], r["origin"]) for r in rows] == [
        ("1A 0535+262", True, "mosaic"),
        ("J0600.0+2000", False, "mosaic"),
    ]


def _view(att, index: int = 0):  # type: ignore[no-untyped-def]
    from processing.codedmask._mosaic_catalog import ScwView

    empty = np.zeros((3, 3))
    return ScwView(
        index=index,
        axes=att.axes,
        centre=(1.0, 1.0),
        pixel_tan=4.6 / 3200,
        ghost_period_tan=53 * 11.2 / 3200,
        psf_sigma_pix=1.0,
        patches=np.ones((3, 3, 5, 5)),
        intensity=empty,
        residual=empty,
        variance=empty,
        sources=[],
    )


def test_single_scw_detections_on_ghosts_of_undetected_sources_are_dropped() -> None:
    from processing.codedmask._mosaic_catalog import _ghost_of, _Source
    from processing.instrument import Attitude, radec_to_unit

    p = 53 * 11.2 / 3200  # one basic-pattern period seen from the detector
    att = Attitude(150.0, -40.0, 150.0, 50.0)  # pointing (150, -40), Z axis north
    ty, tz, _ = att.to_tangents(np.array([151.0]), np.array([-39.0]))
    view = _view(att)
    source = _Source(vec=radec_to_unit(151.0, -39.0), flux=10.0, flux_error=0.5)

    def detection(dy: float, dz: float, flux: float = 9.0, scw: int = 0) -> dict:
        ra, dec = att.to_sky(float(ty[0]) + dy, float(tz[0]) + dz)
        return {
            "ra": float(ra),
            "dec": float(dec),
            "r90_arcmin": 4.0,
            "scw": scw,
            "name": "x",
            "flux": flux,
            "flux_error": 1.0,
        }

    on_axis_ghost, diagonal_ghost = detection(-p, 0.0), detection(p * 0.999, -p)
    elsewhere = detection(0.5 * p, 0.3 * p)
    assert _ghost_of(on_axis_ghost, view, [source]) is source
    assert _ghost_of(diagonal_ghost, view, [source]) is source
    assert _ghost_of(elsewhere, view, [source]) is None
    # A ghost cannot outshine its source: a brighter detection there is a real source.
    assert _ghost_of(detection(-p, 0.0, flux=30.0), view, [source]) is None
    # A source this ScW detected was cleaned with its ghosts: nothing there is its ghost.
    source.detections = [detection(0.0, 0.0, flux=10.0)]
    assert _ghost_of(on_axis_ghost, view, [source]) is None
