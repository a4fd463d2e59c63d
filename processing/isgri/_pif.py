"""Fast pixel illumination fractions for the imaging's source models.

Same rays as :func:`processing.instrument.pixel_illumination` (a regular grid of points in
each crystal, traced through both faces of the thick mask), but the element indices are computed
once per detector row and column, since they depend on one coordinate each; only rays that
change element along both axes inside the mask need the 2-D test of the element in between.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from processing.instrument import DetectorGeometry, MaskGeometry

__all__ = ["fast_pixel_illumination"]


def _cells(mask: MaskGeometry, pos: NDArray[np.float64]) -> NDArray[np.int64]:
    idx = np.floor(pos / mask.element_mm + 0.5 * mask.size).astype(np.int64)
    return np.where((idx < 0) | (idx >= mask.size), -1, idx)


def fast_pixel_illumination(
    mask: MaskGeometry, geometry: DetectorGeometry, ty: float, tz: float, oversample: int
) -> NDArray[np.float64]:
    """PIF of every crystal for a source at (ty, tz); equal to ``pixel_illumination``."""
    c = geometry.crystal_mm
    offs = (np.arange(oversample) + 0.5) / oversample * c - 0.5 * c
    ys = (geometry.y_mm[:, None] + offs[None, :]).ravel()
    zs = (geometry.z_mm[:, None] + offs[None, :]).ravel()
    h_low = mask.focal_mm - 0.5 * mask.thickness_mm
    h_high = mask.focal_mm + 0.5 * mask.thickness_mm
    y1, y2 = ys + h_low * ty, ys + h_high * ty
    z1, z2 = zs + h_low * tz, zs + h_high * tz
    k1, k2 = _cells(mask, y1), _cells(mask, y2)
    l1, l2 = _cells(mask, z1), _cells(mask, z2)
    # Pattern padded with a closed border so that index -1 (outside the mask) reads opaque.
    n = mask.size
    padded = np.zeros((n + 1, n + 1), dtype=bool)
    padded[:n, :n] = mask.pattern == 1
    open1 = padded[k1][:, l1]
    ok = open1 & padded[k2][:, l2]
    cross_y = np.flatnonzero(k1 != k2)
    cross_z = np.flatnonzero(l1 != l2)
    if cross_y.size and cross_z.size:
        sub = ok[np.ix_(cross_y, cross_z)]
        iy, iz = np.nonzero(sub)
        if iy.size:
            ry, rz = cross_y[iy], cross_z[iz]
            e = mask.element_mm
            half = 0.5 * n * e
            by = np.maximum(k1[ry], k2[ry]) * e - half
            bz = np.maximum(l1[rz], l2[rz]) * e - half
            fy = (by - y1[ry]) / (y2[ry] - y1[ry])
            fz = (bz - z1[rz]) / (z2[rz] - z1[rz])
            mid_k = np.where(fy < fz, k2[ry], k1[ry])
            mid_l = np.where(fy < fz, l1[rz], l2[rz])
            sub[iy, iz] = padded[mid_k, mid_l]
            ok[np.ix_(cross_y, cross_z)] = sub
    ny, nz = geometry.shape
    frac = ok.reshape(ny, oversample, nz, oversample).mean(axis=(1, 3))
    return np.asarray(frac * geometry.live, dtype=np.float64)
