"""Spatial cut-outs of FITS images: every image extension, WCS kept correct.

The cut of an image extension is the pixel bounding box of the requested region (as
SODA allows: the result may contain more than the region). The region's boundary is
sampled on the sky and projected with the extension's own WCS; the data are sliced
and the WCS is sliced with them (``astropy.wcs.WCS.slice``), so a source keeps its
sky position in the cut-out. Table extensions are copied unchanged.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
from astropy.coordinates import Angle, SkyCoord
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from datalink._errors import NoOverlap, UnsupportedOperation
from datalink._params import SkyRegion

__all__ = ["cut_fits", "region_boundary"]

#: Points sampled along each edge of a region's boundary.
_SAMPLES_PER_EDGE = 24


def _great_circle(a: tuple[float, float], b: tuple[float, float], n: int) -> np.ndarray:
    """``n`` points from ``a`` to ``b`` along the great circle (degrees, shape (n, 2))."""
    start = SkyCoord(a[0], a[1], unit="deg")
    end = SkyCoord(b[0], b[1], unit="deg")
    separation = start.separation(end)
    angle = start.position_angle(end)
    steps = Angle(np.linspace(0.0, separation.deg, n), "deg")
    points = start.directional_offset_by(angle, steps)
    return np.column_stack([points.ra.deg, points.dec.deg])


def region_boundary(region: SkyRegion) -> np.ndarray:
    """Sky points (RA, Dec in degrees, shape (n, 2)) on and inside ``region``'s boundary.

    The centre is included, so a region smaller than a pixel still selects its pixel.
    """
    if region.shape == "circle":
        ra, dec, radius = region.values
        centre = SkyCoord(ra, dec, unit="deg")
        angles = Angle(np.linspace(0.0, 360.0, 4 * _SAMPLES_PER_EDGE, endpoint=False), "deg")
        ring = centre.directional_offset_by(angles, Angle(radius, "deg"))
        return np.vstack([[ra, dec], np.column_stack([ring.ra.deg, ring.dec.deg])])
    if region.shape == "polygon":
        vertices = list(zip(region.values[0::2], region.values[1::2], strict=True))
        edges = [
            _great_circle(vertices[i], vertices[(i + 1) % len(vertices)], _SAMPLES_PER_EDGE)
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
        x, y = wcs.celestial.world_to_pixel_values(points[:, 0], points[:, 1])
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


def cut_fits(path: Path, region: SkyRegion) -> bytes:
    """Cut ``region`` out of every sky image of the FITS file at ``path``.

    Returns
    -------
    bytes
        The cut-out FITS file: each sky image cut to the region's pixel bounding box
        with its WCS shifted accordingly; other extensions unchanged; image extensions
        the region misses are left out.

    Raises
    ------
    UnsupportedOperation
        When the file holds no sky image.
    NoOverlap
        When the region misses every sky image.
    """
    points = region_boundary(region)
    everything = _covers_everything(region)
    out = fits.HDUList()
    images = overlapping = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        with fits.open(path, memmap=True, lazy_load_hdus=False) as hdus:
            for index, hdu in enumerate(hdus):
                if not _is_sky_image(hdu):
                    if index == 0:
                        out.append(fits.PrimaryHDU(header=hdu.header.copy()))
                    else:
                        out.append(hdu.copy())
                    continue
                images += 1
                header = hdu.header
                wcs = WCS(header)
                box = _pixel_box(wcs, (header["NAXIS2"], header["NAXIS1"]), points, everything)
                if box is None:
                    if index == 0:
                        out.append(fits.PrimaryHDU(header=_without_data(header)))
                    continue
                overlapping += 1
                out.append(_cut_hdu(hdu, wcs, box, index == 0, region))
    if images == 0:
        raise UnsupportedOperation("the product's file holds no sky image to cut", "ID")
    if overlapping == 0:
        raise NoOverlap("the region does not overlap the image", "POS")
    buffer = io.BytesIO()
    out.writeto(buffer, output_verify="silentfix")
    return buffer.getvalue()


def _without_data(header: fits.Header) -> fits.Header:
    kept = header.copy()
    kept["NAXIS"] = 0
    for key in ("NAXIS1", "NAXIS2"):
        kept.remove(key, ignore_missing=True)
    return kept


def _cut_hdu(
    hdu: fits.PrimaryHDU | fits.ImageHDU,
    wcs: WCS,
    box: tuple[slice, slice],
    primary: bool,
    region: SkyRegion,
) -> fits.PrimaryHDU | fits.ImageHDU:
    ys, xs = box
    data = np.array(hdu.data[ys, xs])
    header = hdu.header.copy()
    sliced = wcs.slice((ys, xs))
    # Only the reference pixel moves; the rest of the header (units, provenance,
    # distortion keywords) stays as the product wrote it.
    header["CRPIX1"] = sliced.wcs.crpix[0]
    header["CRPIX2"] = sliced.wcs.crpix[1]
    header["LTV1"] = (header.get("LTV1", 0.0) - xs.start, "offset of the cut-out (IRAF)")
    header["LTV2"] = (header.get("LTV2", 0.0) - ys.start, "offset of the cut-out (IRAF)")
    header.add_history(
        f"SODA cut-out: {region.shape} {' '.join(f'{v:g}' for v in region.values)}; "
        f"pixels x {xs.start + 1}..{xs.stop}, y {ys.start + 1}..{ys.stop} of the original"
    )
    cls = fits.PrimaryHDU if primary else fits.ImageHDU
    return cls(data=data, header=header)
