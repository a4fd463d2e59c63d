"""Per-ScW imaging units: source catalogs, and decoding + cleaning of the binned cube.

The units read the instrument model through the node's calibration (its files live in the
archive's ``ic/`` folder), so a new calibration release makes new images and nothing else.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from astropy.wcs import WCS
from numpy.typing import NDArray

from processing.archive import read_catalog_file
from processing.codedmask._camera import load_model
from processing.codedmask._decode import Decoder
from processing.codedmask._detect import clean_band
from processing.codedmask._sourcemodel import ShadowgramBand, SourceModeller, add_sources
from processing.codedmask._sources import CatalogEntry
from processing.instrument import Attitude, Instrument, load_instrument
from processing.instruments import BandError, band_channels, default_instrument
from processing.pipeline import (
    AnalysisUnit,
    Calibration,
    ExternalFile,
    FileInput,
    Float,
    List,
    NodeInput,
    Quantity,
    Str,
    UnitContext,
    declare,
)

__all__ = [
    "ImageScienceWindow",
    "ImagingModel",
    "ReferenceCatalog",
    "UserCatalog",
    "calibration_of",
    "imaging_model",
    "instrument_from_calibration",
    "read_reference_catalog",
    "scw_wcs",
    "warm_imaging_model",
]

FloatArray = NDArray[np.float64]


def calibration_of(instrument: Instrument, archive_root: Path) -> Calibration:
    """The pipeline calibration naming the instrument's IC files in ``archive_root``."""
    files = tuple(
        ExternalFile(Path(archive_root) / label, f"sha256:{checksum}", label=label)
        for label, checksum in instrument.calibration_files
    )
    return Calibration(instrument.calibration_version, files)


def _archive_root(calibration: Calibration | None) -> Path:
    """The archive folder holding a calibration's IC files (path minus the relative label)."""
    if calibration is None or not calibration.files:
        raise ValueError("imaging units need a calibration with the archive's IC files")
    first = calibration.files[0]
    root = Path(first.path)
    for _ in Path(first.label).parts:
        root = root.parent
    return root


def instrument_from_calibration(calibration: Calibration | None) -> Instrument:
    """Load the instrument whose IC files a node's calibration names."""
    root = _archive_root(calibration)  # raises without a calibration
    assert calibration is not None
    return _load(str(root), calibration.version, _labels(calibration))


def _labels(calibration: Calibration) -> tuple[str, ...]:
    """The archive-relative paths of a calibration's IC files (they name the camera)."""
    return tuple(str(f.label) for f in calibration.files)


@lru_cache(maxsize=4)
def _load(root: str, version: str, labels: tuple[str, ...]) -> Instrument:
    instrument = load_model(Path(root), labels)
    # Graphs name the release either by the bare hash or as "isgri-ic-<hash>".
    if not version.endswith(instrument.calibration_version):
        raise ValueError(
            f"calibration in {root} is {instrument.calibration_version}, the node wants {version}"
        )
    return instrument


class ImagingModel:
    """Decoder, source modeller and off-axis response of one instrument (built once, reused)."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.decoder = Decoder(instrument)
        self.modeller = SourceModeller(instrument, self.decoder)
        self.response = self._response()
        self.psf_sigma_pix = self.modeller.psf_sigma_pix
        self.psf_patches = self.modeller.psf_patches

    def _response(self) -> FloatArray:
        """Peak response relative to on axis, per sky pixel (normalises intensity maps).

        Sampled along each axis through the centre (vignetting of a thick mask with square holes
        and the cosine factor are nearly separable) and interpolated; catalog fluxes do not use
        it: they come from each source's exact model.
        """
        dec, mod = self.decoder, self.modeller
        a0, b0 = dec.centre_pixel
        reach = 15 * (max(dec.shape) // 2 // 15)  # the sky grid's half width, 15-pixel steps
        steps = np.arange(-reach, reach + 1, 15)
        profiles = []
        for axis in (0, 1):
            values = []
            for k in steps:
                t = float(k * dec.pixel_tan)
                ty, tz = (t, 0.0) if axis == 0 else (0.0, t)
                img = mod.image(ty, tz)
                pix = (a0 + int(k), b0) if axis == 0 else (a0, b0 + int(k))
                inside = 0 <= pix[0] < dec.shape[0] and 0 <= pix[1] < dec.shape[1]
                values.append(img[pix] / mod.on_axis_peak if inside else 0.0)
            profiles.append(np.asarray(values))
        fy = np.interp(np.arange(dec.shape[0]) - a0, steps, profiles[0])
        fz = np.interp(np.arange(dec.shape[1]) - b0, steps, profiles[1])
        return np.asarray(np.outer(fy, fz))


@lru_cache(maxsize=2)
def _model_for(root: str, version: str, labels: tuple[str, ...]) -> ImagingModel:
    return ImagingModel(_load(root, version, labels))


def imaging_model(calibration: Calibration | None) -> ImagingModel:
    """The (process-wide cached) imaging model of a node's calibration."""
    root = _archive_root(calibration)
    assert calibration is not None
    return _model_for(str(root), calibration.version, _labels(calibration))


def warm_imaging_model(archive_root: str | Path, instrument: str | None = None) -> str:
    """Build this process's imaging model of an archive's calibration ahead of any request.

    Dask workers of a long-lived cluster call it at start, so the first request does not pay
    the decoding arrays and source-model tables (~2 s per worker). Returns the calibration
    version. ``instrument``: the camera's adapter name, the default instrument's by default.
    """
    root = Path(archive_root)
    name = default_instrument().name if instrument is None else instrument
    calibration = calibration_of(load_instrument(root, name), root)
    _ = imaging_model(calibration).modeller.psf_patches
    return calibration.version


def scw_wcs(attitude: Attitude, decoder: Decoder) -> WCS:
    """Gnomonic WCS of a ScW sky image: TAN about the pointing axis, roll from the Z axis.

    A sky pixel (row a, column b) holds tangents ty = (a − a0)·δ, tz = (b − b0)·δ; the
    gnomonic plane coordinates (east, north) are linear in them, so the CD matrix follows
    from the Y and Z axes projected on the east and north directions at the pointing.
    """
    x, y, z = attitude.axes
    pole = np.array([0.0, 0.0, 1.0])
    east = np.cross(pole, x)
    if np.linalg.norm(east) < 1e-12:
        east = np.array([0.0, 1.0, 0.0])
    east /= np.linalg.norm(east)
    north = np.cross(x, east)
    scale = float(np.degrees(decoder.pixel_tan))
    w = WCS(naxis=2)
    a0, b0 = decoder.centre_pixel
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [attitude.ra_x, attitude.dec_x]
    w.wcs.crpix = [b0 + 1.0, a0 + 1.0]  # FITS axis 1 = columns (b), 1-based
    w.wcs.cd = scale * np.array([[z @ east, y @ east], [z @ north, y @ north]])
    w.wcs.radesys = "ICRS"
    w.wcs.set()
    return w


def read_reference_catalog(path: Path) -> list[CatalogEntry]:
    """Name and position of every source of the reference catalog FITS file."""
    return [CatalogEntry(s.name, s.ra, s.dec) for s in read_catalog_file(path)]


class ReferenceCatalog(AnalysisUnit):
    """The archive's reference catalog (name, RA, Dec) as the imaging's sky model."""

    name = "isgri.reference_catalog"
    version = "1"
    uses_calibration = False
    inputs = declare(catalog=FileInput(doc="the archive's reference catalog FITS file"))
    codec = "json"

    def run(self, ctx: UnitContext, catalog: ExternalFile) -> list[dict[str, Any]]:  # type: ignore[override]
        entries = read_reference_catalog(Path(catalog.path))
        return [{"name": e.name, "ra": e.ra, "dec": e.dec} for e in entries]


class UserCatalog(AnalysisUnit):
    """A user-supplied catalog replacing the reference one."""

    name = "isgri.user_catalog"
    version = "1"
    uses_calibration = False
    params = declare(
        names=List(Str(), doc="source names"),
        ra=List(Float(), doc="RA (deg, ICRS)"),
        dec=List(Float(), doc="Dec (deg, ICRS)"),
    )
    codec = "json"

    def run(self, ctx: UnitContext) -> list[dict[str, Any]]:  # type: ignore[override]
        names, ra, dec = self.config["names"], self.config["ra"], self.config["dec"]
        if not len(names) == len(ra) == len(dec):
            raise ValueError("user catalog: names, ra and dec differ in length")
        return [{"name": n, "ra": r, "dec": d} for n, r, d in zip(names, ra, dec, strict=True)]


class ImageScienceWindow(AnalysisUnit):
    """Decode the bands of one ScW's cube, search and clean sources, brightest first.

    Output arrays (band × sky row × sky column, float32): ``residual`` (what is left after
    removing every source's full model, counts/s on-axis-equivalent), ``intensity`` (the
    residual plus each source's flux times the PSF at its position), ``variance``,
    ``exposure`` (live time × coded fraction, s);
    JSON: ``sources`` (one dict per detection, with its band), the attitude, the bands and
    the sky grid (``centre_pixel``, ``pixel_tan``).
    """

    name = "isgri.image_scw"
    # 5: no significance maps (nothing read them; the mosaic computes its own): a third less
    # to write, checksum and read per ScW and band
    version = "5"
    params = declare(
        bands=List(
            List(Quantity("keV", digits=9), min_length=2, max_length=2),
            min_length=1,
            doc="energy bands [E1, E2]",
        ),
        threshold_catalog=Float(min=0.0, default=4.0, doc="catalog sources, sigma"),
        threshold_new=Float(min=0.0, default=5.0, doc="new sources, sigma"),
        coded_floor=Float(min=0.0, max=1.0, default=0.1, doc="minimum coded fraction"),
    )
    inputs = declare(
        binned=NodeInput(doc="output of isgri.bin_scw"),
        catalog=NodeInput(doc="output of isgri.reference_catalog or isgri.user_catalog"),
    )
    codec = "numpy"

    def run(  # type: ignore[override]
        self, ctx: UnitContext, binned: dict[str, Any], catalog: list[dict[str, Any]]
    ) -> dict[str, Any]:
        model = imaging_model(ctx.calibration)
        inst = model.instrument
        edges = np.asarray(binned["channel_edges"], dtype=float)
        revolution = int(binned["revolution"])
        threshold = inst.low_threshold.at(revolution)
        attitude = Attitude(binned["ra_x"], binned["dec_x"], binned["ra_z"], binned["dec_z"])
        entries = [CatalogEntry(c["name"], float(c["ra"]), float(c["dec"])) for c in catalog]
        deadc = float(binned["deadc"])
        ontime = float(binned["ontime_s"])
        efficiency = inst.detector.live.astype(float) * deadc
        template = inst.background_template.astype(float)
        dec = model.decoder
        shape = (len(self.config["bands"]), *dec.shape)
        maps = ("intensity", "residual", "variance")
        out = {k: np.zeros(shape, np.float32) for k in maps}
        sources: list[dict[str, Any]] = []
        bands: list[list[float]] = []
        norm = model.modeller.on_axis_peak * model.response
        good_norm = norm > 0.02 * model.modeller.on_axis_peak
        safe = np.where(good_norm, norm, 1.0)
        refined: list[tuple[float, float]] = []  # bright-source positions, shared by the bands
        for ib, (e1, e2) in enumerate(self.config["bands"]):
            ctx.check()
            sl, lo, hi = band_channels(edges, e1, e2)
            if lo < threshold:
                raise BandError(
                    f"band {lo:g}-{hi:g} keV starts below the low threshold {threshold:g} keV "
                    f"of revolution {revolution}"
                )
            bands.append([lo, hi])
            counts = np.asarray(binned["counts"][sl], dtype=float).sum(axis=0)
            band = ShadowgramBand(counts, efficiency, ontime)
            first, cleaned, found, _ = clean_band(
                dec,
                model.modeller,
                band,
                attitude,
                entries,
                template=template,
                threshold_catalog=self.config["threshold_catalog"],
                threshold_new=self.config["threshold_new"],
                coded_floor=self.config["coded_floor"],
                check=ctx.check,
                refined=refined,
            )
            ok = (first.coded > self.config["coded_floor"]) & good_norm & (first.variance > 0)
            variance = np.where(ok, first.variance / safe**2, 0.0)
            residual = np.where(ok, cleaned.image / safe, 0.0)
            # Each source is put back as its flux times the PSF: photometry in this image (or in
            # a mosaic) at its position then returns the flux fitted in the shadowgram.
            intensity = np.where(ok, add_sources(residual, found, dec, model.psf_patches), 0.0)
            out["residual"][ib] = residual
            out["intensity"][ib] = intensity
            out["variance"][ib] = variance
            for s in found:
                sources.append(
                    {
                        "band": ib,
                        "name": s.name,
                        "ra": s.ra,
                        "dec": s.dec,
                        "ty": s.ty,
                        "tz": s.tz,
                        "flux": s.catalog_flux,
                        "flux_error": s.flux_error,
                        "significance": s.significance,
                        "peak_significance": s.peak_significance,
                        "r90_arcmin": s.r90_arcmin,
                        "offaxis_deg": s.offaxis_deg,
                        "coded_fraction": s.coded_fraction,
                        "catalog": s.catalog,
                    }
                )
            ctx.logger.info("band %g-%g keV: %d sources", lo, hi, len(found))
        exposure = (dec.coded * ontime * deadc).astype(np.float32)
        out["exposure"] = np.broadcast_to(exposure, shape).copy()
        return {
            **out,
            "bands": bands,
            "sources": sources,
            "ra_x": attitude.ra_x,
            "dec_x": attitude.dec_x,
            "ra_z": attitude.ra_z,
            "dec_z": attitude.dec_z,
            "ontime_s": ontime,
            "livetime_s": ontime * deadc,
            "tstart": float(binned["tstart"]),
            "tstop": float(binned["tstop"]),
            "revolution": revolution,
            "centre_pixel": list(dec.centre_pixel),
            "pixel_tan": dec.pixel_tan,
            "ghost_period_tan": inst.mask.ghost_period_tan,
            "psf_sigma_pix": model.psf_sigma_pix,
            "psf_patches": model.psf_patches,
        }
