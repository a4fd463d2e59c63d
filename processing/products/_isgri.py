"""The IBIS/ISGRI recipes: images, spectra (and their fits), light curves (and transients).

Each recipe translates :class:`~processing.products.RecipeInputs` into the ISGRI request of
:mod:`processing.isgri`, builds its graph once and describes the files it writes.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from processing.archive import read_reference_catalog
from processing.instrument import Instrument, load_instrument
from processing.instruments import get_instrument
from processing.isgri import (
    CatalogSource,
    ExtractSpectrum,
    ImageRequest,
    ImageScienceWindow,
    LightCurveRequest,
    ScwLightCurve,
    SpectrumRequest,
    build_image_graph,
    build_lightcurve_graph,
    build_spectrum_graph,
    describe_image_product,
    describe_lightcurve_product,
    describe_spectrum_product,
    safe_name,
)
from processing.products._descriptor import ProductDescriptor, ProductFile
from processing.products._recipe import (
    ProductPlan,
    RecipeError,
    RecipeInputs,
    ordered,
    register_recipe,
)
from processing.products._sky import request_centre, sky_model

__all__ = [
    "ISGRI_CHOICES",
    "CameraChoices",
    "ImageRecipe",
    "LightCurveRecipe",
    "SpectrumRecipe",
    "calibration",
    "register",
]

INSTRUMENT = "isgri"

#: Order and DataLink semantics of image-product files (primary first).
_IMAGE_FILES = {
    "image.fits": ("#this", "sky images: intensity, variance, significance, exposure"),
    "catalog.vot": ("#auxiliary", "source catalog (VOTable)"),
    "catalog.fits": ("#auxiliary", "source catalog (FITS)"),
    "preview.png": ("#preview", "significance map with the catalog overlaid"),
}


def _semantics(name: str) -> tuple[str, str]:
    if name.endswith((".pha", ".lc")):
        return "#this", "OGIP spectrum" if name.endswith(".pha") else "OGIP light curve"
    if name.endswith(".png"):
        return "#preview", "preview"
    if name.endswith(".rmf"):
        return "#auxiliary", "response matrix (RMF)"
    if name.endswith(".arf"):
        return "#auxiliary", "ancillary response (ARF)"
    if name.endswith(".vot"):
        return "#auxiliary", "VOTable"
    return "#auxiliary", ""


def presentation_hash(node_hash: str, product_type: str, names: Sequence[str]) -> str:
    """The product's hash: its analysis node's, with the product type and the order of its
    files. One fit serves several products (a spectrum and its spectral_fit, a light curve and
    its transient search), each with its own primary file; keyed by the node alone, the first
    one stored would stand for all of them."""
    text = json.dumps([node_hash, product_type, list(names)])
    return hashlib.sha256(text.encode()).hexdigest()


def _fitted_descriptor(
    product: ProductDescriptor, product_type: str, primary: Sequence[str]
) -> ProductDescriptor:
    """A fitting product's descriptor with ``primary`` files first and semantics set."""
    by_name = {f.name: f for f in product.files}
    names = ordered(list(by_name), primary)
    return ProductDescriptor(
        provenance_hash=presentation_hash(product.provenance_hash, product_type, names),
        product_type=product_type,
        files=tuple(
            ProductFile(by_name[n].path, by_name[n].content_type, *_semantics(n)) for n in names
        ),
        metadata=dict(product.metadata),
    )


@functools.lru_cache(maxsize=8)
def _load_calibration(archive_root: str, instrument: str) -> Instrument:
    if instrument == INSTRUMENT:
        return load_instrument(Path(archive_root))
    return load_instrument(Path(archive_root), instrument)


def calibration(archive_root: Path, instrument: str = INSTRUMENT) -> Instrument:
    """An instrument's calibration (IC files) in an archive, loaded once per process."""
    return _load_calibration(str(archive_root), instrument)


@dataclass(frozen=True)
class CameraChoices:
    """What a camera's recipes choose besides its adapter: the mosaic pixel (None: the
    mosaic unit's default, ISGRI's sky pixel) and the quick spectral fits' band (None: the
    spectrum unit's default, ISGRI's 30-300 keV)."""

    mosaic_pixel_deg: float | None = None
    fit_band_kev: tuple[float, float] | None = None
    #: For a camera flown in several units: the unit whose events the archive holds, and the
    #: request parameter naming the unit (a request for another unit is refused).
    unit: int | None = None
    unit_param: str = ""


def _check_unit(inputs: RecipeInputs, choices: CameraChoices) -> None:
    if inputs.unit is None or choices.unit is None or inputs.unit == choices.unit:
        return
    spec = get_instrument(inputs.instrument)
    raise RecipeError(
        choices.unit_param,
        f"unit {inputs.unit} is not in this archive: its {inputs.instrument} event files are "
        f"unit {choices.unit}'s ({spec.layout.events_file}); use {choices.unit_param}="
        f"{choices.unit}",
    )


ISGRI_CHOICES = CameraChoices()


def _band(inputs: RecipeInputs) -> tuple[float, float]:
    if inputs.band is None:
        raise RecipeError("E1_keV", f"a {inputs.product_type} is made in one energy band")
    return inputs.band.e_min_kev, inputs.band.e_max_kev


def _check_low_threshold(inputs: RecipeInputs) -> None:
    """Refuse a band that starts below the detector's low threshold in a selected ScW."""
    if inputs.band is None or not inputs.science_windows:
        return
    threshold = calibration(inputs.archive.root, inputs.instrument).low_threshold
    worst = max(inputs.science_windows, key=lambda s: threshold.at(s.revolution))
    limit = threshold.at(worst.revolution)
    if inputs.band.e_min_kev < limit:
        raise RecipeError(
            "E1_keV",
            f"{inputs.band.e_min_kev:g} keV is below the low threshold ({limit:g} keV) of "
            f"revolution {worst.revolution}; use E1_keV >= {limit:g}",
        )


def _sources(inputs: RecipeInputs) -> tuple[CatalogSource, ...]:
    catalog = [(c.name, c.ra, c.dec) for c in read_reference_catalog(inputs.archive.root)]
    return tuple(CatalogSource(n, r, d) for n, r, d in sky_model(inputs, catalog))


@dataclass(frozen=True)
class ImageRecipe:
    """Sky images, mosaic and source catalog of the selected science windows."""

    instrument: str = INSTRUMENT
    product_type: str = "image"
    description: str = "Sky images, mosaic and source catalog"
    banded: bool = True
    choices: CameraChoices = ISGRI_CHOICES

    def check(self, inputs: RecipeInputs) -> None:
        _check_unit(inputs, self.choices)
        _check_low_threshold(inputs)

    def plan(self, inputs: RecipeInputs) -> ProductPlan:
        ra, dec = request_centre(inputs.position, inputs.science_windows)
        e_min, e_max = _band(inputs)
        request = ImageRequest(
            ra=ra,
            dec=dec,
            radius_deg=inputs.radius_deg,
            e_min=e_min,
            e_max=e_max,
            scw_ids=inputs.scw_ids,
            threshold_scw=inputs.detection_threshold,
            threshold_mosaic=inputs.detection_threshold,
            user_catalog=inputs.user_catalog,
            max_scw=max(len(inputs.science_windows), 1),
            instrument=None if self.instrument == INSTRUMENT else self.instrument,
        )
        graph, products, ids = build_image_graph(
            inputs.archive,
            calibration(inputs.archive.root, self.instrument),
            request,
            camera=get_instrument(self.instrument),
            pixel_deg=self.choices.mosaic_pixel_deg,
        )

        def describe(files: dict[str, Path]) -> list[ProductDescriptor]:
            product = describe_image_product(products, files, request, ids)
            by_name = {f.name: f for f in product.files}
            return [
                ProductDescriptor(
                    provenance_hash=product.provenance_hash,
                    product_type="image",
                    files=tuple(
                        ProductFile(by_name[n].path, by_name[n].content_type, *_IMAGE_FILES[n])
                        for n in _IMAGE_FILES
                        if n in by_name
                    ),
                )
            ]

        per_scw = tuple(n for n in graph if n.unit.name == ImageScienceWindow.name)
        return ProductPlan(
            graph, products, describe, per_scw=per_scw, metadata={"ra": ra, "dec": dec}
        )


@dataclass(frozen=True)
class SpectrumRecipe:
    """Spectra of every source of the sky model (the leading one first), and their fits."""

    product_type: str
    instrument: str = INSTRUMENT
    description: str = "OGIP spectra with their responses, and quick fits"
    banded: bool = False
    choices: CameraChoices = ISGRI_CHOICES

    def check(self, inputs: RecipeInputs) -> None:
        _check_unit(inputs, self.choices)

    def plan(self, inputs: RecipeInputs) -> ProductPlan:
        sources = _sources(inputs)
        request = SpectrumRequest(
            sources=sources, scw_ids=inputs.scw_ids, models=("powerlaw", "cutoffpl")
        )
        if self.choices.fit_band_kev is not None:
            request = dataclasses.replace(request, fit_band=self.choices.fit_band_kev)
        graph, target = build_spectrum_graph(
            inputs.archive,
            calibration(inputs.archive.root, self.instrument),
            request,
            camera=get_instrument(self.instrument),
        )
        stem = safe_name(sources[0].name)
        files = (f"{stem}.pha", f"{stem}.rmf", f"{stem}.arf", f"{stem}_spectrum.vot")
        primary = ("fits.vot", *files) if self.product_type == "spectral_fit" else files

        def describe(written: dict[str, Path]) -> list[ProductDescriptor]:
            product = describe_spectrum_product(
                graph, target, written, request, calibration(inputs.archive.root, self.instrument)
            )
            return [_fitted_descriptor(product, self.product_type, primary)]

        per_scw = tuple(n for n in graph if n.unit.name == ExtractSpectrum.name)
        return ProductPlan(graph, target, describe, per_scw=per_scw)


@dataclass(frozen=True)
class LightCurveRecipe:
    """Light curves of every source of the sky model in one band, and their transients."""

    product_type: str
    instrument: str = INSTRUMENT
    description: str = "OGIP light curves in one band, and Bayesian-block transients"
    banded: bool = True
    choices: CameraChoices = ISGRI_CHOICES

    def check(self, inputs: RecipeInputs) -> None:
        _check_unit(inputs, self.choices)
        _check_low_threshold(inputs)

    def plan(self, inputs: RecipeInputs) -> ProductPlan:
        sources = _sources(inputs)
        e_min, e_max = _band(inputs)
        request = LightCurveRequest(
            sources=sources,
            scw_ids=inputs.scw_ids,
            bands=((e_min, e_max),),
            time_bin_s=inputs.time_bin_s,
        )
        graph, target = build_lightcurve_graph(
            inputs.archive,
            calibration(inputs.archive.root, self.instrument),
            request,
            camera=get_instrument(self.instrument),
        )
        # The files of a source are named after it and the band (isgri.lightcurve_products).
        stem = f"{safe_name(sources[0].name)}_{e_min:g}-{e_max:g}keV"
        files = (f"{stem}.lc", f"{stem}_lc.vot", f"{stem}_lc.png")
        primary = ("transients.json", *files) if self.product_type == "transient_search" else files

        def describe(written: dict[str, Path]) -> list[ProductDescriptor]:
            product = describe_lightcurve_product(
                graph, target, written, request, calibration(inputs.archive.root, self.instrument)
            )
            return [_fitted_descriptor(product, self.product_type, primary)]

        per_scw = tuple(n for n in graph if n.unit.name == ScwLightCurve.name)
        return ProductPlan(graph, target, describe, per_scw=per_scw)


def register() -> None:
    """Register the ISGRI recipes (the registry does on its first lookup)."""
    register_recipe(INSTRUMENT, "image", ImageRecipe)
    register_recipe(INSTRUMENT, "spectrum", lambda: SpectrumRecipe("spectrum"))
    register_recipe(INSTRUMENT, "spectral_fit", lambda: SpectrumRecipe("spectral_fit"))
    register_recipe(INSTRUMENT, "light_curve", lambda: LightCurveRecipe("light_curve"))
    register_recipe(INSTRUMENT, "transient_search", lambda: LightCurveRecipe("transient_search"))
