"""Test doubles: a :class:`~datalink.ProductSource` over a folder of FITS products.

:class:`FolderProductSource` keeps each product in ``root/<hash>/`` with a
``product.json`` manifest, so that a web process and UWS worker processes see the same
products (a re-derived product written by a worker is served by the web process).
:func:`make_sky_image` writes a TAN-projected FITS image (several extensions) with a
Gaussian source at a known RA/Dec; re-derivation scales the image by the new band or
time range and records the parameters, without any science.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from flask import Blueprint, abort, send_file
from flask.typing import ResponseReturnValue

from datalink._source import (
    ProductDescription,
    ProductExtents,
    ProductFile,
    ProductNotFoundError,
    Progenitor,
    RederivationError,
    SkyCircle,
    split_product_id,
)

__all__ = ["FILES_PATH", "FolderProductSource", "files_blueprint", "make_sky_image"]

#: Where :func:`files_blueprint` serves product files.
FILES_PATH = "/testing/files"


def make_sky_image(
    path: Path,
    *,
    ra: float,
    dec: float,
    size: int = 200,
    pixel_deg: float = 0.05,
    extensions: int = 2,
    source_ra: float | None = None,
    source_dec: float | None = None,
    sigma_pix: float = 2.0,
    scale: float = 1.0,
) -> WCS:
    """Write a FITS file of ``extensions`` sky images (float32) centred on (ra, dec).

    Every extension has the same TAN WCS and a Gaussian source of peak ``100 * scale`` at
    (source_ra, source_dec) (the centre by default) on a flat background of 1.
    Returns the WCS.
    """
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(size + 1) / 2, (size + 1) / 2]
    wcs.wcs.cdelt = [-pixel_deg, pixel_deg]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    sx, sy = wcs.world_to_pixel_values(
        ra if source_ra is None else source_ra, dec if source_dec is None else source_dec
    )
    yy, xx = np.mgrid[0:size, 0:size]
    blob = np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / (2 * sigma_pix**2))
    hdus = fits.HDUList([fits.PrimaryHDU()])
    header = wcs.to_header()
    names = ["INTENSITY", "VARIANCE", "SIGNIFICANCE", "EXPOSURE"]
    for index in range(extensions):
        data = (1.0 + 100.0 * scale * blob * (1.0 / (index + 1))).astype(np.float32)
        hdu = fits.ImageHDU(data=data, header=header, name=names[index % 4] + str(index // 4 or ""))
        hdu.header["BUNIT"] = "count/s"
        hdus.append(hdu)
    hdus.writeto(path, overwrite=True)
    return wcs


@dataclass(frozen=True)
class FolderProductSource:
    """A product source over ``root/<hash>/product.json`` manifests (picklable).

    Parameters
    ----------
    root
        The folder.
    did_base
        The publisher DID prefix, e.g. ``ivo://example.org/isgri``.
    """

    root: Path
    did_base: str = "ivo://example.org/test"

    def did(self, key: str) -> str:
        """The product ID of hash ``key``."""
        return f"{self.did_base}?{key}"

    def _key(self, product_id: str) -> str:
        base, key = split_product_id(product_id)
        if base is not None and base != self.did_base:
            raise ProductNotFoundError(product_id, "not a product of this service")
        if not key or not key.isalnum():
            raise ProductNotFoundError(product_id)
        return key

    def add(self, key: str, manifest: dict[str, Any]) -> str:
        """Store a product; ``manifest`` as :meth:`describe` reads it. Returns its ID."""
        folder = self.root / key
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "product.json").write_text(json.dumps(manifest))
        return self.did(key)

    def add_image(
        self,
        key: str,
        *,
        ra: float,
        dec: float,
        band_kev: tuple[float, float] = (20.0, 100.0),
        time_mjd: tuple[float, float] = (53000.0, 53010.0),
        **image: Any,
    ) -> str:
        """Make an image product (FITS, PNG preview, progenitors, provenance)."""
        folder = self.root / key
        folder.mkdir(parents=True, exist_ok=True)
        size = image.get("size", 200)
        pixel = image.get("pixel_deg", 0.05)
        make_sky_image(folder / "image.fits", ra=ra, dec=dec, **image)
        (folder / "preview.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
        (folder / "prov.json").write_text('{"entity": {}}')
        return self.add(
            key,
            {
                "kind": "mosaic",
                "files": [
                    ["#this", "image.fits", "application/fits", "Sky mosaic (FITS)", "#image"],
                    ["#preview", "preview.png", "image/png", "Quick-look of the mosaic", None],
                ],
                "progenitors": [["003600010010", "Science window 003600010010"]],
                "sky": [ra, dec, size * pixel / 2],
                "band_kev": list(band_kev),
                "time_mjd": list(time_mjd),
                "spatial_cut": True,
                "rederive": True,
                "image": {"ra": ra, "dec": dec, **image},
            },
        )

    def add_spectrum(self, key: str, *, progenitor: str | None = None) -> str:
        """Make a spectrum product: a (dummy) PHA file with RMF/ARF; not cuttable."""
        folder = self.root / key
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("spectrum.pha", "response.rmf", "response.arf"):
            fits.HDUList([fits.PrimaryHDU()]).writeto(folder / name, overwrite=True)
        return self.add(
            key,
            {
                "kind": "spectrum",
                "files": [
                    ["#this", "spectrum.pha", "application/fits", "OGIP spectrum", "#spectrum"],
                    ["#auxiliary", "response.rmf", "application/fits", "Response matrix", None],
                    ["#auxiliary", "response.arf", "application/fits", "Effective area", None],
                ],
                "progenitors": [] if progenitor is None else [[progenitor, "", "product"]],
                "band_kev": [20.0, 200.0],
                "spatial_cut": False,
                "rederive": False,
            },
        )

    def add_light_curve(self, key: str, *, progenitor: str | None = None) -> str:
        """Make a light-curve product (a FITS table); TIME re-derivable, not cuttable."""
        folder = self.root / key
        folder.mkdir(parents=True, exist_ok=True)
        fits.HDUList([fits.PrimaryHDU()]).writeto(folder / "lightcurve.fits", overwrite=True)
        (folder / "lightcurve.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
        return self.add(
            key,
            {
                "kind": "light curve",
                "files": [
                    [
                        "#this",
                        "lightcurve.fits",
                        "application/fits",
                        "OGIP light curve",
                        "#timeseries",
                    ],
                    ["#preview", "lightcurve.png", "image/png", "Plot of the light curve", None],
                ],
                "progenitors": [] if progenitor is None else [[progenitor, "", "product"]],
                "band_kev": [20.0, 40.0],
                "time_mjd": [53000.0, 53010.0],
                "spatial_cut": False,
                "rederive": False,
                "rederive_time": True,
            },
        )

    def add_catalog(self, key: str, *, progenitor: str | None = None) -> str:
        """Make a source-catalog product (a VOTable); no SODA operation."""
        folder = self.root / key
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "catalog.xml").write_text("<VOTABLE/>")
        return self.add(
            key,
            {
                "kind": "source catalog",
                "files": [
                    [
                        "#this",
                        "catalog.xml",
                        "application/x-votable+xml",
                        "Detected sources",
                        "#measurements",
                    ],
                ],
                "progenitors": [] if progenitor is None else [[progenitor, "", "product"]],
                "spatial_cut": False,
                "rederive": False,
            },
        )

    def describe(self, product_id: str) -> ProductDescription:
        """Read a product's manifest (raises :class:`ProductNotFoundError`)."""
        key = self._key(product_id)
        try:
            manifest = json.loads((self.root / key / "product.json").read_text())
        except FileNotFoundError:
            raise ProductNotFoundError(product_id) from None
        folder = self.root / key
        files = [
            ProductFile(
                semantics,
                f"{FILES_PATH}/{key}/{name}",
                ctype,
                description,
                path=folder / name,
                content_qualifier=qualifier,
                local_semantics=name.rpartition(".")[2] if semantics == "#auxiliary" else None,
            )
            for semantics, name, ctype, description, qualifier in manifest["files"]
        ]
        progenitors = []
        for entry in manifest["progenitors"]:
            if len(entry) == 3:  # another product: linked through its {links}
                progenitors.append(Progenitor(entry[0], "Product this was made from"))
            else:
                progenitors.append(
                    Progenitor(
                        entry[0],
                        entry[1],
                        access_url=f"https://archive.example.org/scw/{entry[0]}",
                        content_type="application/x-tar",
                    )
                )
        sky = manifest.get("sky")
        band = manifest.get("band_kev")
        span = manifest.get("time_mjd")
        did = self.did(key)
        return ProductDescription(
            id=did,
            kind=manifest["kind"],
            files=files,
            progenitors=progenitors,
            provenance_url=f"{FILES_PATH}/{key}/prov.json"
            if (folder / "prov.json").exists()
            else None,
            documentation=(
                f"import pyvo\nlinks = pyvo.dal.adhoc.DatalinkResults.from_result_url({did!r})\n"
            ),
            extents=ProductExtents(
                sky=None if sky is None else SkyCircle(*sky),
                band_kev=None if band is None else (band[0], band[1]),
                time_mjd=None if span is None else (span[0], span[1]),
            ),
            spatial_cut=manifest["spatial_cut"],
            rederive_band=manifest.get("rederive_band", manifest["rederive"]),
            rederive_time=manifest.get("rederive_time", manifest["rederive"]),
        )

    def rederive(
        self,
        product_id: str,
        *,
        band_kev: tuple[float, float] | None = None,
        time_mjd: tuple[float, float] | None = None,
    ) -> ProductDescription:
        """A new image whose source scales with the band width and time span (fake science)."""
        key = self._key(product_id)
        try:
            manifest = json.loads((self.root / key / "product.json").read_text())
        except FileNotFoundError:
            raise ProductNotFoundError(product_id) from None
        if band_kev is not None and not manifest.get("rederive_band", manifest["rederive"]):
            raise RederivationError(f"this {manifest['kind']} cannot be re-derived in energy")
        if time_mjd is not None and not manifest.get("rederive_time", manifest["rederive"]):
            raise RederivationError(f"this {manifest['kind']} cannot be re-derived in time")
        band = band_kev or tuple(manifest["band_kev"])
        span = time_mjd or tuple(manifest["time_mjd"])
        if band[1] - band[0] <= 0:
            raise RederivationError("the energy band is empty")
        digest = hashlib.sha256(json.dumps([key, band, span]).encode()).hexdigest()[:20]
        if (self.root / digest / "product.json").exists():
            return self.describe(self.did(digest))
        if "image" in manifest:
            image = dict(manifest["image"])
            image["scale"] = (band[1] - band[0]) / 80.0
            self.add_image(digest, band_kev=band, time_mjd=span, **image)
        else:  # other kinds: the same files under the new parameters
            folder = self.root / digest
            folder.mkdir(parents=True, exist_ok=True)
            for _, name, *_rest in manifest["files"]:
                shutil.copyfile(self.root / key / name, folder / name)
            self.add(digest, {**manifest, "band_kev": list(band), "time_mjd": list(span)})
        return self.describe(self.did(digest))


def files_blueprint(source: FolderProductSource) -> Blueprint:
    """Serve the source's files at :data:`FILES_PATH` (tests only: a product service's job)."""
    bp = Blueprint("testing_files", __name__)

    @bp.get(f"{FILES_PATH}/<key>/<name>")
    def product_file(key: str, name: str) -> ResponseReturnValue:
        if not key.isalnum() or "/" in name or name.startswith("."):
            abort(404)
        path = source.root / key / name
        if not path.is_file() or name == "product.json":
            abort(404)
        return send_file(path.resolve())

    return bp
