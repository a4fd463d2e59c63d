"""The generic coded-mask analysis: binning, decoding, source search and cleaning, mosaics,
pixel illumination fractions (PIF), PIF fits, spectra and light curves.

Nothing here knows which camera it analyses: the mask, the detector and the response come from
the archive's calibration files (:class:`processing.instrument.Instrument`), and the rest of
what makes one camera (its channel grid, its archive layout, its reference catalog) from its
adapter in :mod:`processing.instruments`.
"""

from processing.codedmask._bin import (
    BinScienceWindow,
    bin_events,
    camera_events_file,
    events_file,
    has_camera_events,
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

__all__ = [
    "BinScienceWindow",
    "BinTimeResolved",
    "Block",
    "CatalogEntry",
    "CatalogError",
    "CatalogSource",
    "ConcatLightCurves",
    "Decoder",
    "DetectedSource",
    "ExtractSpectrum",
    "FitResult",
    "ImageScienceWindow",
    "ImagingModel",
    "MosaicImages",
    "PifFit",
    "ReferenceCatalog",
    "ScwLightCurve",
    "ShadowgramBand",
    "SkyImage",
    "SourceModeller",
    "SourcePIF",
    "SpectralFitError",
    "StackSpectra",
    "UserCatalog",
    "arf_values",
    "background_templates",
    "band_rate",
    "bin_events",
    "calibration_of",
    "camera_events_file",
    "clean_band",
    "compile_kernels",
    "concatenate_lightcurves",
    "crab_spectrum",
    "events_file",
    "find_blocks",
    "fit_background",
    "fit_shadowgrams",
    "fit_spectrum",
    "fold",
    "has_camera_events",
    "imaging_model",
    "instrument_calibration",
    "instrument_for",
    "instrument_from_calibration",
    "mosaic_wcs",
    "parse_source_catalog",
    "photon_model",
    "r90_arcmin",
    "read_reference_catalog",
    "read_source_catalog",
    "reference_catalog",
    "resample_mask",
    "response_matrix",
    "scw_wcs",
    "source_name",
    "source_pifs",
    "source_scale",
    "stack_spectra",
    "warm_imaging_model",
    "write_arf",
    "write_lightcurve",
    "write_pha",
    "write_rmf",
]


def compile_kernels() -> None:
    """Compile the numba kernels (source models, one-model fits) or load them from numba's disk
    cache: a container image runs it at build time, as the user that runs the service."""
    from processing.codedmask import _pif_kernel, _shadowfit

    _pif_kernel.compile_now()
    _shadowfit.compile_now()
