"""IBIS/ISGRI products: its image, spectrum and light-curve recipes.

The analysis units they are built from (binning, decoding, source search and cleaning, mosaics,
PIFs, fits) are the generic coded-mask core's (:mod:`processing.codedmask`), re-exported here
with ISGRI's channel grid (:mod:`processing.instruments`, the ISGRI adapter) for the code that
imports them from this package.
"""

from processing.codedmask._bin import (
    BinScienceWindow,
    bin_events,
    events_file,
)
from processing.codedmask._decode import Decoder, SkyImage, resample_mask
from processing.codedmask._detect import clean_band
from processing.codedmask._fit import PifFit, background_templates, fit_shadowgrams
from processing.codedmask._imaging import (
    ImageScienceWindow,
    ImagingModel,
    ReferenceCatalog,
    UserCatalog,
    calibration_of,
    imaging_model,
    instrument_from_calibration,
    read_reference_catalog,
    scw_wcs,
    warm_imaging_model,
)
from processing.codedmask._lightcurve import (
    BinTimeResolved,
    ConcatLightCurves,
    ScwLightCurve,
    concatenate_lightcurves,
)
from processing.codedmask._mosaic import MosaicImages, mosaic_wcs
from processing.codedmask._ogip import write_lightcurve, write_pha
from processing.codedmask._pif import (
    SourcePIF,
    instrument_calibration,
    instrument_for,
    source_pifs,
    source_scale,
)
from processing.codedmask._response_files import (
    arf_values,
    band_rate,
    crab_spectrum,
    response_matrix,
    write_arf,
    write_rmf,
)
from processing.codedmask._skymodel import (
    CatalogError,
    CatalogSource,
    parse_source_catalog,
    read_source_catalog,
    reference_catalog,
)
from processing.codedmask._sourcemodel import ShadowgramBand, SourceModeller, fit_background
from processing.codedmask._sources import CatalogEntry, DetectedSource, r90_arcmin, source_name
from processing.codedmask._specfit import (
    FitResult,
    SpectralFitError,
    fit_spectrum,
    fold,
    photon_model,
)
from processing.codedmask._spectra import ExtractSpectrum, StackSpectra, stack_spectra
from processing.codedmask._transients import Block, find_blocks
from processing.instruments._isgri import (
    DEFAULT_CHANNEL_EDGES,
    BandError,
    band_channels,
    default_channel_edges,
)
from processing.isgri._lcproducts import (
    LightCurveProducts,
    LightCurveRequest,
    build_lightcurve_graph,
    describe_lightcurve_product,
    run_lightcurve_product,
)
from processing.isgri._products import (
    RequestError,
    SpectrumProducts,
    SpectrumRequest,
    build_spectrum_graph,
    describe_spectrum_product,
    file_stems,
    run_spectrum_product,
    safe_name,
    select_science_windows,
)
from processing.isgri._products_image import (
    CATALOG_COLUMNS,
    ImageProducts,
    ImageRequest,
    build_image_graph,
    describe_image_product,
    run_image_product,
)

__all__ = [
    "CATALOG_COLUMNS",
    "DEFAULT_CHANNEL_EDGES",
    "BandError",
    "BinScienceWindow",
    "CatalogEntry",
    "Decoder",
    "DetectedSource",
    "ImageProducts",
    "ImageRequest",
    "ImageScienceWindow",
    "ImagingModel",
    "MosaicImages",
    "ReferenceCatalog",
    "ShadowgramBand",
    "SkyImage",
    "SourceModeller",
    "UserCatalog",
    "band_channels",
    "bin_events",
    "build_image_graph",
    "calibration_of",
    "clean_band",
    "default_channel_edges",
    "describe_image_product",
    "events_file",
    "fit_background",
    "imaging_model",
    "instrument_from_calibration",
    "mosaic_wcs",
    "r90_arcmin",
    "read_reference_catalog",
    "resample_mask",
    "run_image_product",
    "scw_wcs",
    "source_name",
    "warm_imaging_model",
]

# Spectra, light curves and transients (PIF fitting).
__all__ += [
    "BinTimeResolved",
    "Block",
    "CatalogError",
    "CatalogSource",
    "ConcatLightCurves",
    "ExtractSpectrum",
    "FitResult",
    "LightCurveProducts",
    "LightCurveRequest",
    "PifFit",
    "RequestError",
    "ScwLightCurve",
    "SourcePIF",
    "SpectralFitError",
    "SpectrumProducts",
    "SpectrumRequest",
    "StackSpectra",
    "arf_values",
    "background_templates",
    "band_rate",
    "build_lightcurve_graph",
    "build_spectrum_graph",
    "concatenate_lightcurves",
    "crab_spectrum",
    "describe_lightcurve_product",
    "describe_spectrum_product",
    "file_stems",
    "find_blocks",
    "fit_shadowgrams",
    "fit_spectrum",
    "fold",
    "instrument_calibration",
    "instrument_for",
    "parse_source_catalog",
    "photon_model",
    "read_source_catalog",
    "reference_catalog",
    "response_matrix",
    "run_lightcurve_product",
    "run_spectrum_product",
    "safe_name",
    "select_science_windows",
    "source_pifs",
    "source_scale",
    "stack_spectra",
    "write_arf",
    "write_lightcurve",
    "write_pha",
    "write_rmf",
]
