"""Spatial cut-outs of FITS images: every image extension, WCS kept correct.

The cut of an image extension is the pixel bounding box of the requested region (as
SODA allows: the result may contain more than the region). The region's boundary is
sampled on the sky and projected with the extension's own WCS; the data are sliced
and the WCS is sliced with them (``astropy.wcs.WCS.slice``), so a source keeps its
sky position in the cut-out. Table extensions are copied unchanged.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from datalink._errors import NoOverlap, UnsupportedOperation
from datalink._params import SkyRegion
from datalink._sphere import circle_ring, great_circle

__all__ = ["cut_fits", "region_boundary"]

#: Points sampled along each edge of a region's boundary.
_SAMPLES_PER_EDGE = 24


def region_boundary(region: SkyRegion) -> np.ndarray:
    """Sky points (RA, Dec in degrees, shape (n, 2)) on and inside ``region``'s boundary.

    The centre is included, so a region smaller than a pixel still selects its pixel.
    """
    if region.shape == "circle":
        ra, dec, radius = region.values
        ring = circle_ring(ra, dec, radius, 4 * _SAMPLES_PER_EDGE)
        return np.vstack([[ra, dec], ring])
    if region.shape == "polygon":
        vertices = list(zip(region.values[0::2], region.values[1::2], strict=True))
        edges = [
            great_circle(vertices[i], vertices[(i + 1) % len(vertices)], _SAMPLES_PER_EDGE)
            for i in range(len(vertices))
        ]
        return np.vstack([[region.centre()], *edges])
    lon1, lon2, lat1, lat2 = region.values
    lon1, lon2 = max(lon1, 0.0), min(lon2, 360.0)
    lat1, lat2 = max(lat1, -90.0), min(lat2, 90.0)
    # Lines of constant latitude are not great circles: sample the box in lon/lat.
    lons = np.linspace(lon1, lon2, 4 * _SAMPLES_PER_EDGE)
    lats = np.linspace(lat1, lat2, 4 * _SAMPLES_PER_EDGE)
    grid_lon, grid_lat = np.meshgrid(lons, lats)
    return np.column_stack([grid_lon.ravel() % 360.0, grid_lat.ravel()])


def _covers_everything(region: SkyRegion) -> bool:
    if region.shape == "circle":
        return region.values[2] >= 90.0
    if region.shape == "range":
        lon1, lon2, lat1, lat2 = region.values
        return lon1 <= 0 and lon2 >= 360 and lat1 <= -90 and lat2 >= 90
    return False


def _pixel_box(
    wcs: WCS, shape: tuple[int, int], points: np.ndarray, everything: bool
) -> tuple[slice, slice] | None:
    """(y, x) slices of the pixels covering ``points``; ``None`` when they miss the image."""
    ny, nx = shape
    if everything:
        return slice(0, ny), slice(0, nx)
    with np.errstate(invalid="ignore"):
        x, y = wcs.wcs_world2pix(points[:, 0], points[:, 1], 0)
    good = np.isfinite(x) & np.isfinite(y)
    if not good.any():
        return None
    x, y = x[good], y[good]
    # Pixel i covers [i - 0.5, i + 0.5] in the 0-based convention of world_to_pixel.
    x0 = max(math.floor(x.min() + 0.5), 0)
    x1 = min(math.floor(x.max() + 0.5) + 1, nx)
    y0 = max(math.floor(y.min() + 0.5), 0)
    y1 = min(math.floor(y.max() + 0.5) + 1, ny)
    if x0 >= x1 or y0 >= y1:
        return None
    return slice(y0, y1), slice(x0, x1)


def _is_sky_image(hdu: fits.hdu.base.ExtensionHDU | fits.PrimaryHDU) -> bool:
    return (
        isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU)
        and hdu.header.get("NAXIS", 0) == 2
        and "CTYPE1" in hdu.header
    )


_BLOCK = 2880
_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


@dataclass(frozen=True)
class _HDULayout:
    """Where one HDU lies in its file, and its header (never modified: copied per cut)."""

    header: fits.Header
    header_at: int
    data_at: int
    data_span: int
    sky_image: bool


@functools.lru_cache(maxsize=128)
def _layout(path: str, mtime_ns: int, size: int) -> tuple[_HDULayout, ...]:
    """The HDUs of a FITS file; cached per file version (products are immutable).

    Parsing the headers is most of the cost of a small cut-out; the data are read
    straight from the file at ``data_at`` for each cut.
    """
    del mtime_ns, size  # part of the cache key only
    layouts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        with fits.open(path, memmap=True, lazy_load_hdus=False) as hdus:
            for hdu in hdus:
                info = hdu.fileinfo()
                assert info is not None  # an HDU read from a file
                layouts.append(
                    _HDULayout(
                        hdu.header.copy(),
                        int(info["hdrLoc"]),
                        int(info["datLoc"]),
                        int(info["datSpan"]),
                        _is_sky_image(hdu) and hdu.header["BITPIX"] in _DTYPES,
                    )
                )
    return tuple(layouts)


def _padded(data: bytes, fill: bytes) -> bytes:
    remainder = len(data) % _BLOCK
    return data if remainder == 0 else data + fill * (_BLOCK - remainder)


def cut_fits(path: Path, region: SkyRegion) -> bytes:
    """Cut ``region`` out of every sky image of the FITS file at ``path``.

    Returns
    -------
    bytes
        The cut-out FITS file: each sky image cut to the region's pixel bounding box
        with its WCS shifted accordingly (raw pixel values, so BSCALE/BZERO/BLANK
        keep their meaning); other extensions byte for byte; image extensions the
        region misses are left out.

    Raises
    ------
    UnsupportedOperation
        When the file holds no sky image.
    NoOverlap
        When the region misses every sky image.
    """
    stat = path.stat()
    layouts = _layout(str(path), stat.st_mtime_ns, stat.st_size)
    if not any(layout.sky_image for layout in layouts):
        raise UnsupportedOperation("the product's file holds no sky image to cut", "ID")
    points = region_boundary(region)
    everything = _covers_everything(region)
    boxes: dict[tuple[object, ...], tuple[slice, slice] | None] = {}
    parts: list[bytes] = []
    overlapping = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        raw = np.memmap(path, dtype=np.uint8, mode="r")
        for index, layout in enumerate(layouts):
            if not layout.sky_image:
                parts.append(
                    _padded(
                        raw[layout.header_at : layout.data_at + layout.data_span].tobytes(), b"\0"
                    )
                )
                continue
            header = layout.header
            # Extensions of one product usually share their WCS: project once.
            key = _wcs_key(header)
            if key not in boxes:
                shape = (header["NAXIS2"], header["NAXIS1"])
                boxes[key] = _pixel_box(WCS(header), shape, points, everything)
            box = boxes[key]
            if box is None:
                if index == 0:
                    parts.append(_padded(_without_data(header).tostring().encode(), b" "))
                continue
            overlapping += 1
            parts.append(_cut_hdu(raw, layout, box, region))
    if overlapping == 0:
        raise NoOverlap("the region does not overlap the image", "POS")
    return b"".join(parts)


def _without_data(header: fits.Header) -> fits.Header:
    kept = header.copy()
    kept["NAXIS"] = 0
    for key in ("NAXIS1", "NAXIS2", "CHECKSUM", "DATASUM"):
        kept.remove(key, ignore_missing=True)
    return kept


def _wcs_key(header: fits.Header) -> tuple[object, ...]:
    """The WCS-relevant cards of ``header`` (extensions with equal keys share a projection)."""
    return tuple(
        (card.keyword, card.value) for card in header.cards if _WCS_KEYWORD.match(card.keyword)
    )


#: Keywords that take part in a celestial WCS (papers I-III, SIP, and the image size).
_WCS_KEYWORD = re.compile(
    r"^(NAXIS\d|WCSAXES|CRPIX|CRVAL|CDELT|CTYPE|CUNIT|CROTA|CD\d_\d|PC\d_\d|PV\d_|PS\d_|"
    r"RADESYS|RADECSYS|EQUINOX|EPOCH|LONPOLE|LATPOLE|MJD|DATE-OBS|A_|B_|AP_|BP_)"
)


def _cut_hdu(
    raw: np.ndarray, layout: _HDULayout, box: tuple[slice, slice], region: SkyRegion
) -> bytes:
    """Header and data blocks of one cut image HDU."""
    ys, xs = box
    header = layout.header.copy()
    dtype = np.dtype(_DTYPES[header["BITPIX"]])
    ny, nx = header["NAXIS2"], header["NAXIS1"]
    image = raw[layout.data_at : layout.data_at + ny * nx * dtype.itemsize].view(dtype)
    data = np.ascontiguousarray(image.reshape(ny, nx)[ys, xs])
    header["NAXIS1"] = xs.stop - xs.start
    header["NAXIS2"] = ys.stop - ys.start
    # Slicing a WCS with unit steps moves only the reference pixel (this is what
    # astropy's WCS.slice does); the rest of the header (units, provenance, distortion
    # keywords, which are relative to CRPIX) stays as the product wrote it.
    header["CRPIX1"] = header.get("CRPIX1", 0.0) - xs.start
    header["CRPIX2"] = header.get("CRPIX2", 0.0) - ys.start
    header["LTV1"] = (header.get("LTV1", 0.0) - xs.start, "offset of the cut-out (IRAF)")
    header["LTV2"] = (header.get("LTV2", 0.0) - ys.start, "offset of the cut-out (IRAF)")
    for stale in ("CHECKSUM", "DATASUM"):
        header.remove(stale, ignore_missing=True)
    header.add_history(
        f"SODA cut-out: {region.shape} {' '.join(f'{v:g}' for v in region.values)}; "
        f"pixels x {xs.start + 1}..{xs.stop}, y {ys.start + 1}..{ys.stop} of the original"
    )
    return _padded(header.tostring().encode("ascii"), b" ") + _padded(data.tobytes(), b"\0")
