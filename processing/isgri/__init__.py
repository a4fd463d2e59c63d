"""Analysis units of IBIS/ISGRI: binning, imaging (decoding, detection, mosaics) and products."""

from processing.isgri._bin import BinScienceWindow, bin_events, default_channel_edges, events_file
from processing.isgri._channels import DEFAULT_CHANNEL_EDGES, BandError, band_channels
from processing.isgri._decode import Decoder, SkyImage, resample_mask
from processing.isgri._detect import (
    CatalogEntry,
    DetectedSource,
    ShadowgramBand,
    SourceModeller,
    clean_band,
    fit_background,
    r90_arcmin,
    source_name,
)
from processing.isgri._imaging import (
    ImageScienceWindow,
    ImagingModel,
    ReferenceCatalog,
    UserCatalog,
    calibration_of,
    imaging_model,
    instrument_from_calibration,
    read_reference_catalog,
    scw_wcs,
)
from processing.isgri._mosaic import MosaicImages, mosaic_wcs, search_mosaic
from processing.isgri._products_image import (
    ImageProducts,
    ImageRequest,
    ProductDescriptor,
    ProductFile,
    build_image_graph,
    run_image_product,
)

__all__ = [
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
    "ProductDescriptor",
    "ProductFile",
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
    "search_mosaic",
    "source_name",
]
