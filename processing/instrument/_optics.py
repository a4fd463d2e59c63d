"""Ray tracing through a thick coded mask: photon transmission and pixel illumination fractions.

The simulator traces each photon; the analysis computes pixel illumination fractions (PIF) with the
same function on a grid of points inside each crystal, so both see one optical model.
A ray is transmitted when it meets open elements on both faces of the mask and, when it crosses
an element boundary in both axes inside the mask, in the element it passes in between. Outside
the mask the shield is opaque.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from processing.instrument._geometry import DetectorGeometry, MaskGeometry

__all__ = ["coded_fraction", "pixel_illumination", "pixel_illumination_exact", "transmitted"]

FloatArray = NDArray[np.float64]


def _cell(mask: MaskGeometry, pos: FloatArray) -> NDArray[np.int64]:
    """Element index of mask-plane positions; -1 outside the mask."""
    idx = np.floor(pos / mask.element_mm + 0.5 * mask.size).astype(np.int64)
    idx[(idx < 0) | (idx >= mask.size)] = -1
    return idx


def _open(mask: MaskGeometry, k: NDArray[np.int64], m: NDArray[np.int64]) -> NDArray[np.bool_]:
    inside = (k >= 0) & (m >= 0)
    result = np.zeros(k.shape, dtype=bool)
    result[inside] = mask.pattern[k[inside], m[inside]] == 1
    return result


def transmitted(
    mask: MaskGeometry, y: FloatArray, z: FloatArray, ty: float | FloatArray, tz: float | FloatArray
) -> NDArray[np.bool_]:
    """Whether photons reaching detector points (y, z) mm from direction (ty, tz) pass the mask."""
    h_low = mask.focal_mm - 0.5 * mask.thickness_mm
    h_high = mask.focal_mm + 0.5 * mask.thickness_mm
    y1, z1 = y + h_low * ty, z + h_low * tz
    y2, z2 = y + h_high * ty, z + h_high * tz
    k1, l1 = _cell(mask, y1), _cell(mask, z1)
    k2, l2 = _cell(mask, y2), _cell(mask, z2)
    ok = _open(mask, k1, l1) & _open(mask, k2, l2)
    both = ok & (k1 != k2) & (l1 != l2)
    if np.any(both):
        # The ray changes element along both axes inside the mask: find which boundary it meets
        # first and test the element it crosses in between.
        e = mask.element_mm
        half = 0.5 * mask.size * e
        yb = y1[both] if np.ndim(y1) else y1
        y2b = y2[both] if np.ndim(y2) else y2
        zb = z1[both] if np.ndim(z1) else z1
        z2b = z2[both] if np.ndim(z2) else z2
        by = (np.maximum(k1[both], k2[both]) * e) - half
        bz = (np.maximum(l1[both], l2[both]) * e) - half
        fy = (by - yb) / (y2b - yb)
        fz = (bz - zb) / (z2b - zb)
        mid_k = np.where(fy < fz, k2[both], k1[both])
        mid_l = np.where(fy < fz, l1[both], l2[both])
        ok[both] = _open(mask, mid_k, mid_l)
    return ok


def _subpixel_offsets(geometry: DetectorGeometry, oversample: int) -> FloatArray:
    c = geometry.crystal_mm
    return (np.arange(oversample) + 0.5) / oversample * c - 0.5 * c


def pixel_illumination(
    mask: MaskGeometry, geometry: DetectorGeometry, ty: float, tz: float, oversample: int = 6
) -> NDArray[np.float32]:
    """Pixel illumination fraction (PIF) of every crystal for a source at (ty, tz).

    The fraction of each crystal's area that the source sees through the mask, in [0, 1]; 0 for
    gaps and dead pixels. ``oversample`` points per axis sample each crystal.
    """
    offs = _subpixel_offsets(geometry, oversample)
    ys = (geometry.y_mm[:, None] + offs[None, :]).ravel()
    zs = (geometry.z_mm[:, None] + offs[None, :]).ravel()
    ny, nz = geometry.shape
    yy = np.broadcast_to(ys[:, None], (ys.size, zs.size))
    zz = np.broadcast_to(zs[None, :], (ys.size, zs.size))
    hit = transmitted(mask, yy.ravel(), zz.ravel(), ty, tz).reshape(ys.size, zs.size)
    frac = hit.reshape(ny, oversample, nz, oversample).mean(axis=(1, 3))
    return (frac * geometry.live).astype(np.float32)


def _pieces(
    centres: FloatArray, crystal_mm: float, element_mm: float, size: int, shifts: list[float]
) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
    """Cut the crystals along one axis at every projected mask-element edge.

    Returns the centres and lengths of the pieces and the crystal each belongs to; inside a piece
    the view through the mask does not change (for the faces whose shifts are given).
    """
    half = 0.5 * size * element_mm
    lo, hi = centres - 0.5 * crystal_mm, centres + 0.5 * crystal_mm
    edges = (np.arange(size + 1) * element_mm - half)[None, :]
    cuts = [lo[:, None], hi[:, None]]
    for shift in shifts:  # element edges seen from the detector: e - shift
        inner = edges - shift
        cuts.append(np.where((inner > lo[:, None]) & (inner < hi[:, None]), inner, lo[:, None]))
    bounds = np.sort(np.concatenate(cuts, axis=1), axis=1)
    length = np.diff(bounds, axis=1)
    owner = np.broadcast_to(np.arange(centres.size)[:, None], length.shape)
    keep = length > 0
    mid = 0.5 * (bounds[:, 1:] + bounds[:, :-1])
    return mid[keep], length[keep], owner[keep]


def pixel_illumination_exact(
    mask: MaskGeometry, geometry: DetectorGeometry, ty: float, tz: float
) -> NDArray[np.float64]:
    """Pixel illumination fraction computed from areas rather than sample points.

    Each crystal is cut along both axes at the edges of the mask elements as the top, middle and
    bottom planes of the mask project onto the detector; the view is constant inside each piece,
    so the illuminated area is exact for a mask whose transmission changes only at element edges
    (to the corner-crossing rule, decided at the piece centre). Sample points (:func:`
    pixel_illumination`) alias with a mask raster that is aligned with the pixels (the JEM-X-like
    camera's 1.65 mm raster on 1.65 mm pixels): their error is the same in every pixel.
    """
    h = [
        mask.focal_mm - 0.5 * mask.thickness_mm,
        mask.focal_mm,
        mask.focal_mm + 0.5 * mask.thickness_mm,
    ]
    yc, yl, yo = _pieces(
        geometry.y_mm, geometry.crystal_mm, mask.element_mm, mask.size, [x * ty for x in h]
    )
    zc, zl, zo = _pieces(
        geometry.z_mm, geometry.crystal_mm, mask.element_mm, mask.size, [x * tz for x in h]
    )
    yy = np.broadcast_to(yc[:, None], (yc.size, zc.size)).ravel()
    zz = np.broadcast_to(zc[None, :], (yc.size, zc.size)).ravel()
    hit = transmitted(mask, yy, zz, ty, tz).reshape(yc.size, zc.size)
    area = np.zeros(geometry.shape)
    np.add.at(area, (yo[:, None], zo[None, :]), hit * np.outer(yl, zl))
    return np.asarray(area / geometry.crystal_mm**2 * geometry.live, dtype=np.float64)


def coded_fraction(mask: MaskGeometry, geometry: DetectorGeometry, ty: float, tz: float) -> float:
    """Fraction of the detector whose line of sight towards (ty, tz) falls on the mask."""
    y = geometry.y_mm[:, None] + mask.focal_mm * ty
    z = geometry.z_mm[None, :] + mask.focal_mm * tz
    if mask.support is None:
        inside = (np.abs(y) < mask.half_width_mm) & (np.abs(z) < mask.half_width_mm)
    else:
        yy, zz = np.broadcast_arrays(y, z)
        k, m = _cell(mask, yy.ravel().copy()), _cell(mask, zz.ravel().copy())
        on = (k >= 0) & (m >= 0)
        hit = np.zeros(k.shape, dtype=bool)
        hit[on] = mask.support[k[on], m[on]] > 0
        inside = hit.reshape(yy.shape)
    return float((inside & geometry.in_module).sum() / geometry.in_module.sum())
