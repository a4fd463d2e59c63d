"""The coded-mask core on a camera that is not ISGRI.

A small synthetic instrument built here: a mask of random hexagonal cells rasterised on a fine
square grid (closed outside a hexagonal outline), a circular detector of an odd number of pixels
with another pitch and no module gaps, another focal length and a 3-35 keV channel grid. The
decoding, the source search and cleaning, the PIFs and the PIF fit must work on it as on ISGRI.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from processing.codedmask import (
    CatalogEntry,
    Decoder,
    ShadowgramBand,
    SourceModeller,
    background_templates,
    bin_events,
    clean_band,
    fit_shadowgrams,
    source_pifs,
)
from processing.codedmask._bin import detector_of
from processing.codedmask._camera import field_edge_deg, max_offaxis_deg
from processing.instrument import (
    Attitude,
    DetectorGeometry,
    EffectiveArea,
    Instrument,
    LowThreshold,
    MaskGeometry,
    Redistribution,
    unit_to_radec,
)
from processing.instruments import (
    ArchiveLayout,
    FitsIdentity,
    InstrumentSpec,
    _registry,
    get_instrument,
    register_instrument,
)

PIXELS = 41  # odd: the pointing axis falls on a pixel centre, not between two
PITCH_MM = 3.0
FOCAL_MM = 900.0
ELEMENT_MM = 1.5  # raster step of the hexagonal mask
HEX_MM = 6.0  # centre-to-centre spacing of the hexagonal cells
MASK_ELEMENTS = 170


def _hexagonal_mask(rng: np.random.Generator) -> NDArray[np.uint8]:
    """Random open/closed hexagonal cells, rasterised: each square element takes the state of
    the hexagon whose centre is nearest (a Voronoi cell of the hexagonal lattice)."""
    half = 0.5 * MASK_ELEMENTS * ELEMENT_MM
    n = int(np.ceil(half / HEX_MM)) + 2
    i, j = np.meshgrid(np.arange(-2 * n, 2 * n + 1), np.arange(-2 * n, 2 * n + 1), indexing="ij")
    centres = np.stack(
        [(i + 0.5 * j).ravel() * HEX_MM, (j * np.sqrt(3.0) / 2.0).ravel() * HEX_MM], axis=1
    )
    state = rng.random(len(centres)) < 0.5
    pos = (np.arange(MASK_ELEMENTS) + 0.5 - 0.5 * MASK_ELEMENTS) * ELEMENT_MM
    yy, zz = np.meshgrid(pos, pos, indexing="ij")
    _, nearest = cKDTree(centres).query(np.stack([yy.ravel(), zz.ravel()], axis=1))
    pattern = state[nearest].reshape(yy.shape)
    # Hexagonal outline (flat sides along Y): closed material outside it.
    r = 0.95 * half
    inside = (np.abs(zz) <= r * np.sqrt(3.0) / 2.0) & (
        np.abs(zz) * 0.5 + np.abs(yy) * np.sqrt(3.0) / 2.0 <= r * np.sqrt(3.0) / 2.0
    )
    return (pattern & inside).astype(np.uint8)


@pytest.fixture(scope="module")
def camera() -> Instrument:
    rng = np.random.default_rng(7)
    mask = MaskGeometry(
        pattern=_hexagonal_mask(rng),
        element_mm=ELEMENT_MM,
        thickness_mm=0.5,
        focal_mm=FOCAL_MM,
        basic_order=MASK_ELEMENTS,  # no cyclic repetition: ghosts fall outside the field
    )
    y = np.arange(PIXELS) - (PIXELS - 1) / 2.0
    live = (np.hypot(y[:, None], y[None, :]) <= PIXELS / 2.0 - 0.3).astype(np.uint8)
    live[5, 20] = 0  # a dead pixel
    detector = DetectorGeometry(
        pitch_mm=PITCH_MM,
        crystal_mm=2.8,
        pixels_y=PIXELS,
        pixels_z=PIXELS,
        module_pixels_y=PIXELS,
        module_pixels_z=PIXELS,
        gap_pixels=0,
        deadtime_s=0.0,
        live=live,
    )
    return Instrument(
        name="test camera",
        mask=mask,
        detector=detector,
        background_template=(live * (1.0 + 0.1 * y[:, None] / PIXELS)).astype(np.float32),
        effective_area=EffectiveArea(np.array([3.0, 35.0]), np.array([60.0, 40.0]), 0.5),
        redistribution=Redistribution(1.0, 0.5, 0.0, 0.0, 0.0, 0.0, ()),
        low_threshold=LowThreshold(np.array([0]), np.array([3.0]), 0.3),
        energy_range_keV=(3.0, 35.0),
        calibration_files=(),
    )


@pytest.fixture(scope="module")
def imaging(camera: Instrument) -> tuple[Decoder, SourceModeller]:
    decoder = Decoder(camera)
    return decoder, SourceModeller(camera, decoder)


def test_the_sky_grid_follows_the_camera(camera: Instrument, imaging: tuple) -> None:
    """Odd pixel counts put the pointing axis on a sky-pixel centre, one pixel = pitch/focal."""
    decoder, _ = imaging
    assert decoder.pixel_tan == pytest.approx(PITCH_MM / FOCAL_MM)
    a0, b0 = decoder.centre_pixel
    assert decoder.pixel_to_tangent(a0, b0) == (0.0, 0.0)
    assert decoder.shape == (decoder.n_cells[0] + PIXELS - 1, decoder.n_cells[1] + PIXELS - 1)
    # The fully coded field is coded at 1, the corner of the grid not at all.
    assert decoder.coded[a0, b0] == pytest.approx(1.0, abs=0.02)
    assert decoder.coded[0, 0] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("offset_pix", [(0.0, 0.0), (7.0, -4.0), (-12.3, 9.6)])
def test_a_point_source_decodes_at_its_direction(imaging: tuple, offset_pix: tuple) -> None:
    decoder, modeller = imaging
    ty, tz = (offset_pix[0] * decoder.pixel_tan, offset_pix[1] * decoder.pixel_tan)
    image = decoder.decode_image(5.0 * modeller.shadowgram(ty, tz) + 0.3 * decoder.weights)
    peak = np.unravel_index(int(np.argmax(image)), image.shape)
    want = decoder.tangent_to_pixel(ty, tz)
    assert abs(peak[0] - float(want[0])) <= 0.5 + 1e-9
    assert abs(peak[1] - float(want[1])) <= 0.5 + 1e-9
    # Balanced decoding: a flat background leaves no image.
    flat = decoder.decode_image(decoder.weights.astype(float))
    assert np.abs(flat).max() < 1e-6 * np.abs(image).max() + 1e-9


def _observe(
    camera: Instrument,
    modeller: SourceModeller,
    rng: np.random.Generator,
    sources: list[tuple[float, float, float]],
    background: float,
    ontime: float,
) -> ShadowgramBand:
    live = camera.detector.live > 0
    rate = background * camera.background_template.astype(float)
    for ty, tz, flux in sources:
        rate = rate + flux * modeller.shadowgram(ty, tz)
    counts = rng.poisson(np.where(live, rate * ontime, 0.0)).astype(float)
    return ShadowgramBand(counts=counts, efficiency=live.astype(float), ontime_s=ontime)


def test_search_and_cleaning_find_the_sources(camera: Instrument, imaging: tuple) -> None:
    """Two sources in a noisy field: both found where they are with their flux, nothing else;
    the cleaned image is noise."""
    decoder, modeller = imaging
    rng = np.random.default_rng(11)
    attitude = Attitude(120.0, 10.0, 120.0, 80.0)
    truth = [(8.0, -5.0, 3.0), (-15.0, 11.0, 1.5)]  # sky-pixel offsets and flux (counts/s)
    sources = [(a * decoder.pixel_tan, b * decoder.pixel_tan, f) for a, b, f in truth]
    band = _observe(camera, modeller, rng, sources, background=0.05, ontime=4000.0)
    _, cleaned, found, _ = clean_band(
        decoder, modeller, band, attitude, [], template=camera.background_template
    )
    assert len(found) == 2, [(s.ty, s.tz, s.significance) for s in found]
    for ty, tz, flux in sources:
        best = min(found, key=lambda s: np.hypot(s.ty - ty, s.tz - tz))
        assert np.hypot(best.ty - ty, best.tz - tz) < 0.5 * decoder.pixel_tan
        assert abs(best.flux - flux) < 4.0 * best.flux_error
        ra, dec = unit_to_radec(
            sum(c * v for c, v in zip((1.0, ty, tz), attitude.axes, strict=True))
        )
        assert np.hypot((best.ra - ra) * np.cos(np.radians(dec)), best.dec - dec) < 0.1
    sig = cleaned.significance()
    field = cleaned.coded > 0.5
    assert abs(float(sig[field].std()) - 1.0) < 0.2
    assert float(np.abs(sig[field]).max()) < 5.5


def test_catalog_sources_are_fitted_at_their_position(camera: Instrument, imaging: tuple) -> None:
    decoder, modeller = imaging
    rng = np.random.default_rng(5)
    attitude = Attitude(30.0, -20.0, 30.0, 70.0)
    ty, tz = 10.0 * decoder.pixel_tan, 6.0 * decoder.pixel_tan
    ra, dec = unit_to_radec(sum(c * v for c, v in zip((1.0, ty, tz), attitude.axes, strict=True)))
    band = _observe(camera, modeller, rng, [(ty, tz, 1.0)], background=0.05, ontime=4000.0)
    _, _, found, _ = clean_band(
        decoder,
        modeller,
        band,
        attitude,
        [CatalogEntry("Known X-1", float(ra), float(dec))],
        template=camera.background_template,
    )
    assert [s.name for s in found] == ["Known X-1"]
    assert found[0].catalog
    assert abs(found[0].flux - 1.0) < 4.0 * found[0].flux_error


def test_pif_fit_recovers_rates(camera: Instrument) -> None:
    """Spectral extraction's core: PIFs of two sources and the background fitted to counts."""
    rng = np.random.default_rng(3)
    attitude = Attitude(250.0, 30.0, 250.0, -60.0)
    axes = attitude.axes
    pos = [(0.02, -0.01), (-0.05, 0.04)]
    radec = [
        unit_to_radec(sum(c * v for c, v in zip((1.0, a, b), axes, strict=True))) for a, b in pos
    ]
    ra = np.array([float(r) for r, _ in radec])
    dec = np.array([float(d) for _, d in radec])
    pifs = source_pifs(camera, attitude, ra, dec, oversample=4)
    assert pifs["usable"].tolist() == [1, 1]
    det = camera.detector
    templates = background_templates(camera.background_template, det.module, det.live)
    true_rates = np.array([[4.0, 1.0], [0.5, 2.0], [0.0, 3.0]])  # rows: energy bands
    live_s = 3000.0
    counts = []
    for rates in true_rates:
        model = 0.8 * templates[0]
        for k, r in enumerate(rates):
            model = model + r * pifs["scale"][k] * pifs["pif"][k]
        counts.append(rng.poisson(model * live_s * (det.live > 0)))
    fit = fit_shadowgrams(
        np.asarray(counts),
        np.full(3, live_s),
        pifs["pif"],
        pifs["scale"],
        templates,
        det.live > 0,
    )
    pulls = (fit.rate - true_rates) / fit.error
    assert np.all(np.abs(pulls) < 4.5), pulls


def test_a_source_beyond_the_field_gets_no_shadow(camera: Instrument) -> None:
    """Without an adapter the off-axis limit is the geometric edge of this camera's field."""
    edge = field_edge_deg(camera)
    assert max_offaxis_deg(camera) == edge
    attitude = Attitude(0.0, 0.0, 0.0, 90.0)
    t = np.tan(np.radians(edge + 0.5)) / np.sqrt(2.0)
    ra, dec = unit_to_radec(sum(c * v for c, v in zip((1.0, t, t), attitude.axes, strict=True)))
    pifs = source_pifs(camera, attitude, np.array([float(ra)]), np.array([float(dec)]))
    assert pifs["usable"].tolist() == [0]
    assert float(pifs["pif"].sum()) == 0.0


def test_events_are_binned_on_the_adapters_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    """An adapter registered for the camera: its DETNAM finds it, its grid and detector size
    bin the events, its grid snaps bands."""
    edges = tuple(float(e) for e in np.concatenate([np.arange(3.0, 20.0, 0.5), [20, 25, 30, 35]]))
    spec = InstrumentSpec(
        name="testcam",
        title="Test camera",
        channel_edges=edges,
        fits=FitsIdentity(telescope="TEST", instrument="TESTINST", detector="TESTCAM"),
        layout=ArchiveLayout(
            events_file="testcam_events.fits.gz",
            ic_folder="ic/testcam",
            ic_files=(("mask", "tcam_mask"),),
            reference_catalog="cat/testcam_cat.fits",
        ),
        detector_shape=(PIXELS, PIXELS),
        default_bands_kev=((3.0, 10.0),),
        max_offaxis_deg=10.0,
    )
    # Registered for this test only: the registry is restored afterwards.
    monkeypatch.setattr(_registry, "_FACTORIES", dict(_registry._FACTORIES))
    monkeypatch.setattr(_registry, "_LOADED", dict(_registry._LOADED))
    register_instrument("testcam", lambda: spec)
    assert get_instrument("testcam") is spec
    assert detector_of({"DETNAM": "TESTCAM"}) is spec
    band = spec.snap_band(4.2, 22.0)
    assert (band.e_min_kev, band.e_max_kev) == (4.0, 20.0)
    rng = np.random.default_rng(1)
    n = 5000
    energy = rng.uniform(2.0, 40.0, n)
    dety, detz = rng.integers(0, PIXELS, n), rng.integers(0, PIXELS, n)
    good = rng.random(n) < 0.9
    cube = bin_events(np.zeros(n), energy, dety, detz, good, np.asarray(edges), spec.detector_shape)
    assert cube.shape == (len(edges) - 1, PIXELS, PIXELS)
    inside = good & (energy >= 3.0) & (energy < 35.0)
    assert int(cube.sum()) == int(inside.sum())
    in_band = good & (energy >= 4.0) & (energy < 20.0)
    assert int(cube[band.channels].sum()) == int(in_band.sum())
    assert spec.layout.holds_calibration_file("ic/testcam/tcam_mask_0003.fits")
    assert not spec.layout.holds_calibration_file("ic/testcam/other_0001.fits")


def test_images_and_a_mosaic_of_two_pointings(
    camera: Instrument, imaging: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-ScW imaging unit and the mosaic unit on the synthetic camera: a source seen in
    two pointings is found in each image and in the mosaic, at its position."""
    from processing.codedmask import ImageScienceWindow, ImagingModel, MosaicImages, _imaging
    from processing.instrument import radec_to_unit
    from processing.pipeline import UnitContext

    model = ImagingModel(camera)
    monkeypatch.setattr(_imaging, "imaging_model", lambda calibration: model)
    decoder, modeller = model.decoder, model.modeller
    rng = np.random.default_rng(21)
    source_ra, source_dec = 83.6, 22.0
    edges = [3.0, 10.0, 35.0]
    images = []
    for ra_x in (81.5, 85.5):
        attitude = Attitude(ra_x, 21.0, ra_x, 111.0)
        ty, tz, _ = attitude.to_tangents(source_ra, source_dec)
        rate = 0.05 * camera.background_template + 2.0 * modeller.shadowgram(float(ty), float(tz))
        total = rng.poisson(rate * 3000.0 * (camera.detector.live > 0))
        low = rng.binomial(total, 0.6)
        binned = {
            "counts": np.stack([low, total - low]).astype(np.uint16),
            "channel_edges": np.asarray(edges),
            "revolution": 100,
            "ra_x": ra_x,
            "dec_x": 21.0,
            "ra_z": ra_x,
            "dec_z": 111.0,
            "deadc": 1.0,
            "ontime_s": 3000.0,
            "tstart": 0.0,
            "tstop": 0.035,
        }
        unit = ImageScienceWindow(bands=[[3.0, 35.0]])
        image = unit.run(UnitContext.detached(None, "test"), binned, [])
        assert len(image["sources"]) == 1
        found = image["sources"][0]
        miss = np.degrees(
            np.arccos(
                np.clip(
                    radec_to_unit(found["ra"], found["dec"]) @ radec_to_unit(source_ra, source_dec),
                    -1.0,
                    1.0,
                )
            )
        )
        assert miss < np.degrees(decoder.pixel_tan)
        images.append(image)
    mosaic = MosaicImages(
        center=SkyCoord(83.6, 21.5, unit="deg"),
        radius=6.0,
        pixel=float(np.degrees(decoder.pixel_tan)),
    ).run(UnitContext.detached(None, "test"), images, [])
    assert mosaic["n_scw"] == 2
    rows = [r for r in mosaic["sources"] if r["significance"] > 6.0]
    assert len(rows) == 1, rows
    assert abs(rows[0]["ra"] - source_ra) * np.cos(np.radians(source_dec)) < 0.2
    assert abs(rows[0]["dec"] - source_dec) < 0.2
