"""Image products: FITS image, catalog (VOTable and FITS), PNG preview; and the Python API.

The service calls :func:`build_image_graph` / :func:`run_image_product` with a normalised
:class:`ImageRequest` and receives :class:`ProductDescriptor` objects (no web code here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS

from processing.archive import ArchiveIndex
from processing.codedmask._bin import BinScienceWindow, camera_events_file
from processing.codedmask._fits_time import MJDREF, set_time_keywords
from processing.codedmask._imaging import (
    ImageScienceWindow,
    ReferenceCatalog,
    UserCatalog,
    calibration_of,
)
from processing.codedmask._mosaic import MosaicImages
from processing.codedmask._preview import write_sky_preview
from processing.codedmask._votable import write_catalog_votable
from processing.instrument import Instrument
from processing.instruments import (
    DEFAULT_INSTRUMENT,
    BandError,
    InstrumentSpec,
    band_channels,
    default_instrument,
    get_instrument,
)
from processing.pipeline import (
    AnalysisUnit,
    Bool,
    ExternalFile,
    Graph,
    Node,
    NodeInput,
    Pipeline,
    Str,
    UnitContext,
    declare,
    file_checksum,
    write_fits,
)
from processing.products import ProductDescriptor, ProductFile

__all__ = [
    "CATALOG_COLUMNS",
    "ImageProducts",
    "ImageRequest",
    "ProductDescriptor",
    "ProductFile",
    "build_image_graph",
    "describe_image_product",
    "run_image_product",
]


def _software_version() -> str:
    try:
        return package_version("codedmask-vo-service")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class ImageRequest:
    """A normalised image request.

    Either ``scw_ids`` or the sky/time selection (``ra``, ``dec``, ``radius_deg``, optional
    ``t1``/``t2`` in IJD) chooses the science windows; ``radius_deg`` also sets the mosaic size.
    ``user_catalog`` (name, ra, dec) replaces the archive's reference catalog.
    """

    ra: float
    dec: float
    radius_deg: float = 10.0
    e_min: float = 20.0
    e_max: float = 40.0
    t1: float | None = None
    t2: float | None = None
    scw_ids: tuple[str, ...] = ()
    threshold_scw: float = 5.0
    threshold_catalog: float = 4.0
    threshold_mosaic: float = 6.0
    projection: str = "TAN"
    user_catalog: tuple[tuple[str, float, float], ...] | None = None
    max_scw: int = 500
    #: The camera imaged (registry name); None: the default instrument (kept out of
    #: :meth:`as_dict`, so that the default camera's products keep their identities).
    instrument: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready request parameters (headers and product metadata)."""
        extra = {} if self.instrument is None else {"instrument": self.instrument}
        return {
            **extra,
            "ra": self.ra,
            "dec": self.dec,
            "radius_deg": self.radius_deg,
            "e_min": self.e_min,
            "e_max": self.e_max,
            "t1": self.t1,
            "t2": self.t2,
            "scw_ids": list(self.scw_ids),
            "threshold_scw": self.threshold_scw,
            "threshold_catalog": self.threshold_catalog,
            "threshold_mosaic": self.threshold_mosaic,
            "projection": self.projection,
            "user_catalog": None
            if self.user_catalog is None
            else [list(c) for c in self.user_catalog],
        }


#: The columns of an image product's source catalog, declared once: (name, dtype, unit, UCD,
#: description). The catalog writers use them, and so does the service's ``isgri.detections``
#: table for the columns it shares with the catalogs.
CATALOG_COLUMNS: list[tuple[str, str, str | None, str, str]] = [
    ("name", "U32", None, "meta.id;meta.main", "source name"),
    ("ra", "f8", "deg", "pos.eq.ra;meta.main", "right ascension (ICRS)"),
    ("dec", "f8", "deg", "pos.eq.dec;meta.main", "declination (ICRS)"),
    ("r90", "f4", "arcmin", "stat.error;pos.angDistance", "90% position error radius"),
    ("rate", "f4", "count/s", "phot.count;em.X", "count rate, on-axis equivalent"),
    (
        "rate_err",
        "f4",
        "count/s",
        "stat.error;phot.count;em.X",
        "1-sigma error of rate (0.5 % systematic included)",
    ),
    ("significance", "f4", None, "stat.snr", "detection significance"),
    ("e_min", "f4", "keV", "em.energy;stat.min", "band lower edge"),
    ("e_max", "f4", "keV", "em.energy;stat.max", "band upper edge"),
    ("origin", "U8", None, "meta.note", "mosaic or scw (found in single ScWs only)"),
    ("n_scw", "i4", None, "meta.number", "number of ScWs with a detection"),
    ("in_catalog", "bool", None, "meta.code", "identified with a catalog source"),
]


def _catalog_table(sources: list[dict[str, Any]], bands: list[list[float]]) -> Table:
    rows = {
        "name": [s["name"] for s in sources],
        "ra": [s["ra"] for s in sources],
        "dec": [s["dec"] for s in sources],
        "r90": [s["r90_arcmin"] for s in sources],
        "rate": [s["flux"] for s in sources],
        "rate_err": [s["flux_error"] for s in sources],
        "significance": [s["significance"] for s in sources],
        "e_min": [bands[s["band"]][0] for s in sources],
        "e_max": [bands[s["band"]][1] for s in sources],
        "origin": [s["origin"] for s in sources],
        "n_scw": [s["n_scw"] for s in sources],
        "in_catalog": [bool(s["catalog"]) for s in sources],
    }
    table = Table()
    for name, dtype, unit, _ucd, desc in CATALOG_COLUMNS:
        table[name] = np.asarray(rows[name], dtype=dtype)
        table[name].unit = unit
        table[name].description = desc
    return table


class ImageProducts(AnalysisUnit):
    """Write the image FITS, the catalog (VOTable, FITS) and a PNG preview of a mosaic."""

    name = "isgri.image_products"
    # 3: FITS time keywords in every HDU (MJDREF was 0.0 in the image extensions), and a
    # preview with a grid, axes in words and a colour bar (issue 22 item 5)
    # 4: catalog VOTable positions refer to an ICRS COOSYS, its time span to a TIMESYS
    version = "4"
    uses_calibration = False
    params = declare(
        request=Str(doc="the request parameters as canonical JSON"),
        scw_ids=Str(doc="comma-separated ScW list"),
        simulated=Bool(doc="whether the archive holds simulated data"),
    )
    inputs = declare(mosaic=NodeInput(doc="output of isgri.mosaic"))
    codec = "files"

    def run(self, ctx: UnitContext, mosaic: dict[str, Any]) -> dict[str, Path]:  # type: ignore[override]
        header = fits.Header()
        for key, value in mosaic["wcs"].items():
            header[key] = value
        wcs = WCS(header)
        request = json.loads(self.config["request"])
        scws = [s for s in self.config["scw_ids"].split(",") if s]
        bands = mosaic["bands"]
        prov = [
            ("PROVHASH", str(ctx.provenance_hash), None),
            ("PROVUNIT", self.name, "analysis unit that made this product"),
            ("PROVVERS", self.version, "version of PROVUNIT"),
        ]
        primary = fits.PrimaryHDU()
        ph = primary.header
        camera = get_instrument(request.get("instrument", DEFAULT_INSTRUMENT))
        detector = camera.fits.detector
        if "instrument" in request:
            for key, value, comment in get_instrument(request["instrument"]).fits.cards():
                ph[key] = (value, comment)
        else:
            ph["TELESCOP"] = "INTEGRAL"
            ph["INSTRUME"] = "IBIS"
            ph["DETNAM"] = "ISGRI"
        ph["CREATOR"] = (f"codedmask-vo-service {_software_version()}", "software")
        ph["RA_REQ"] = (request["ra"], "[deg] requested centre RA")
        ph["DEC_REQ"] = (request["dec"], "[deg] requested centre Dec")
        ph["RAD_REQ"] = (request["radius_deg"], "[deg] requested radius")
        ph["E_MIN"] = (bands[0][0], "[keV] band lower edge")
        ph["E_MAX"] = (bands[0][1], "[keV] band upper edge")
        ph["DET_THR"] = (request["threshold_scw"], "ScW detection threshold, sigma")
        ph["MOS_THR"] = (request["threshold_mosaic"], "mosaic detection threshold, sigma")
        ph["NSCW"] = (len(scws), "number of science windows")
        tstart, tstop = float(mosaic["tstart"]), float(mosaic["tstop"])
        set_time_keywords(ph, tstart, tstop)
        ph["SIMULATE"] = (bool(self.config["simulated"]), "data are simulated")
        if self.config["simulated"]:
            ph["COMMENT"] = (
                "SIMULATED DATA: made from a simulated archive, not INTEGRAL observations"
            )
        for k, v, c in prov:
            ph[k] = (v, c) if c else v
        ph["HISTORY"] = "request: " + self.config["request"]
        for chunk in range(0, len(scws), 6):
            ph["HISTORY"] = "ScWs: " + " ".join(scws[chunk : chunk + 6])
        hdus: list[Any] = [primary]
        for ext, key, unit in (
            ("INTENSITY", "intensity", "count/s"),
            ("VARIANCE", "variance", "count2/s2"),
            ("SIGNIFICANCE", "significance", ""),
            ("EXPOSURE", "exposure", "s"),
        ):
            hdu = fits.ImageHDU(np.asarray(mosaic[key][0], dtype=np.float32), name=ext)
            hdu.header.extend(wcs.to_header(), update=True)
            set_time_keywords(hdu.header, tstart, tstop)  # replaces the WCS's MJDREF = 0.0
            hdu.header["IMATYPE"] = ext
            hdu.header["BUNIT"] = unit
            hdu.header["E_MIN"] = bands[0][0]
            hdu.header["E_MAX"] = bands[0][1]
            hdu.header["SIMULATE"] = bool(self.config["simulated"])
            for k, v, c in prov:
                hdu.header[k] = (v, c) if c else v
            hdus.append(hdu)
        out = ctx.scratch_dir
        image_path = out / "image.fits"
        write_fits(fits.HDUList(hdus), image_path)

        table = _catalog_table(list(mosaic["sources"]), bands)
        vot_path = out / "catalog.vot"
        write_catalog_votable(
            vot_path,
            table,
            [(name, unit, ucd, desc) for name, _dtype, unit, ucd, desc in CATALOG_COLUMNS],
            time_range_ijd=(float(mosaic["tstart"]), float(mosaic["tstop"])),
            description=f"{detector} sources of a {len(scws)}-science-window mosaic, "
            f"{bands[0][0]:g}-{bands[0][1]:g} keV",
            infos=[
                ("provenance_hash", str(ctx.provenance_hash)),
                ("simulated", "true" if self.config["simulated"] else "false"),
                ("request", self.config["request"]),
            ],
        )
        cat_hdu = fits.table_to_hdu(table)
        cat_hdu.name = "ISGR-SRCL-RES" if detector == "ISGRI" else f"{detector}-SRCL-RES"
        for k, v, c in prov:
            cat_hdu.header[k] = (v, c) if c else v
        cat_hdu.header["SIMULATE"] = bool(self.config["simulated"])
        set_time_keywords(cat_hdu.header, tstart, tstop)
        cat_path = out / "catalog.fits"
        write_fits(fits.HDUList([fits.PrimaryHDU(header=ph.copy()), cat_hdu]), cat_path)
        png_path = out / "preview.png"
        significance = np.asarray(mosaic["significance"][0])
        write_sky_preview(
            png_path,
            significance,
            wcs,
            title=_preview_title(
                detector, bands[0], len(scws), tstart, tstop, bool(self.config["simulated"])
            ),
            colour_label="Detection significance (σ)",
            limits=_significance_limits(significance),
            sources=[(str(r["name"]), float(r["ra"]), float(r["dec"])) for r in table],
        )
        return {
            "image.fits": image_path,
            "catalog.vot": vot_path,
            "catalog.fits": cat_path,
            "preview.png": png_path,
        }


def _preview_title(
    detector: str, band: list[float], n_scw: int, tstart: float, tstop: float, simulated: bool
) -> str:
    """Two lines: what the image shows, then from what (dates in TT)."""
    first, last = (
        Time(MJDREF + t, format="mjd", scale="tt").strftime("%Y-%m-%d") for t in (tstart, tstop)
    )
    dates = first if first == last else f"{first} to {last}"
    windows = f"{n_scw} science window{'s' if n_scw != 1 else ''}"
    note = " (SIMULATED DATA)" if simulated else ""
    what = f"INTEGRAL/{detector} significance, {band[0]:g}\u2013{band[1]:g} keV{note}"
    return f"{what}\n{windows}, {dates}"


def _significance_limits(significance: np.ndarray) -> tuple[float, float]:
    """Colour scale from -3σ to the peak, at least 5σ and at most 30σ (bright sources saturate)."""
    finite = significance[np.isfinite(significance)]
    peak = float(finite.max()) if finite.size else 0.0
    return -3.0, float(np.clip(peak, 5.0, 30.0))


def build_image_graph(
    index: ArchiveIndex,
    instrument: Instrument,
    request: ImageRequest,
    *,
    camera: InstrumentSpec | None = None,
    pixel_deg: float | None = None,
) -> tuple[Graph, Node, list[str]]:
    """The DAG of an image request: bin → image per ScW → mosaic → products.

    Returns the graph, the products node and the ScW ids used. ``camera`` is the adapter of
    the instrument imaged (default: the default instrument: its channel grid, event files and
    reference catalog); ``pixel_deg`` the mosaic pixel (default: ``isgri.mosaic``'s).

    Raises
    ------
    ValueError
        When no science window matches, or more than ``max_scw`` do.
    BandError
        When the band is outside the channel grid or starts below the low threshold of a
        selected science window.
    """
    if request.scw_ids:
        scws = index.get(request.scw_ids)
    else:
        scws = index.query(request.ra, request.dec, request.radius_deg, request.t1, request.t2)
    if not scws:
        raise ValueError("no science window matches the request")
    if len(scws) > request.max_scw:
        raise ValueError(f"{len(scws)} science windows match; at most {request.max_scw} allowed")
    # Refuse a band the detector did not record before building anything (a user's mistake).
    spec = camera if camera is not None else default_instrument()
    _, lo, hi = band_channels(spec.channel_edges, request.e_min, request.e_max)
    late = max(scws, key=lambda s: instrument.low_threshold.at(s.revolution))
    threshold = instrument.low_threshold.at(late.revolution)
    if lo < threshold:
        raise BandError(
            f"e_min: the band {lo:g}-{hi:g} keV starts below the low threshold {threshold:g} keV "
            f"of revolution {late.revolution} (ScW {late.scw_id})"
        )
    graph = Graph(calibration=calibration_of(instrument, index.root))
    if request.user_catalog is not None:
        cat = graph.add(
            UserCatalog(
                names=[c[0] for c in request.user_catalog],
                ra=[float(c[1]) for c in request.user_catalog],
                dec=[float(c[2]) for c in request.user_catalog],
            )
        )
    else:
        path = index.root / spec.layout.reference_catalog_path
        ref = ExternalFile(path, file_checksum(path), label=spec.layout.reference_catalog)
        cat = graph.add(ReferenceCatalog(), catalog=ref)
    images = []
    band = [[request.e_min, request.e_max]]
    for scw in scws:
        binned = graph.add(
            BinScienceWindow(channel_edges=spec.channel_edge_list()),
            events=camera_events_file(index, scw, spec),
        )
        images.append(
            graph.add(
                ImageScienceWindow(
                    bands=band,
                    threshold_catalog=request.threshold_catalog,
                    threshold_new=request.threshold_scw,
                ),
                binned=binned,
                catalog=cat,
            )
        )
    pixel = {} if pixel_deg is None else {"pixel": pixel_deg}
    mosaic = graph.add(
        MosaicImages(
            center=_skycoord(request.ra, request.dec),
            radius=request.radius_deg,
            projection=request.projection,
            threshold=request.threshold_mosaic,
            **pixel,
        ),
        images=images,
        catalog=cat,
    )
    ids = [s.scw_id for s in scws]
    products = graph.add(
        ImageProducts(
            request=json.dumps(request.as_dict(), sort_keys=True),
            scw_ids=",".join(ids),
            simulated=all(s.simulated for s in scws),
        ),
        mosaic=mosaic,
    )
    return graph, products, ids


def _skycoord(ra: float, dec: float) -> Any:
    from astropy.coordinates import SkyCoord

    return SkyCoord(ra, dec, unit="deg", frame="icrs")


_CONTENT_TYPES = {
    "image.fits": "application/fits",
    "catalog.vot": "application/x-votable+xml",
    "catalog.fits": "application/fits",
    "preview.png": "image/png",
}


def describe_image_product(
    products: Node, files: dict[str, Path], request: ImageRequest, scw_ids: list[str]
) -> ProductDescriptor:
    """Descriptor of the files an ``isgri.image_products`` node wrote."""
    return ProductDescriptor(
        provenance_hash=str(products.provenance_hash),
        product_type="image",
        files=tuple(ProductFile(Path(path), _CONTENT_TYPES[name]) for name, path in files.items()),
        metadata={"request": request.as_dict(), "scw_ids": scw_ids, "n_scw": len(scw_ids)},
    )


def run_image_product(
    pipeline: Pipeline,
    index: ArchiveIndex,
    instrument: Instrument,
    request: ImageRequest,
    **run_kwargs: Any,
) -> list[ProductDescriptor]:
    """Build and run an image request; describe its products."""
    _graph, products, ids = build_image_graph(index, instrument, request)
    result = pipeline.run([products], **run_kwargs)
    files = result[products].load()
    return [describe_image_product(products, files, request, ids)]
