"""Small spherical-geometry helpers on unit vectors (numpy only, degrees in and out).

Astropy's ``SkyCoord`` does the same with far more overhead; these run per request.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["circle_ring", "great_circle", "radec", "unit_vectors"]


def unit_vectors(ra: np.ndarray | float, dec: np.ndarray | float) -> np.ndarray:
    """Unit vectors (..., 3) of RA/Dec in degrees."""
    r, d = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)], axis=-1)


def radec(vectors: np.ndarray) -> np.ndarray:
    """RA/Dec in degrees (n, 2) of vectors (n, 3); RA in [0, 360)."""
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    ra = np.degrees(np.arctan2(y, x)) % 360.0
    dec = np.degrees(np.arctan2(z, np.hypot(x, y)))
    return np.column_stack([ra, dec])


def great_circle(a: tuple[float, float], b: tuple[float, float], n: int) -> np.ndarray:
    """``n`` points from ``a`` to ``b`` along the great circle (degrees, shape (n, 2))."""
    va, vb = unit_vectors(a[0], a[1]), unit_vectors(b[0], b[1])
    omega = math.acos(float(np.clip(va @ vb, -1.0, 1.0)))
    if omega < 1e-12:
        return radec(np.repeat(va[None, :], n, axis=0))
    t = np.linspace(0.0, 1.0, n)[:, None]
    # Spherical linear interpolation.
    return radec((np.sin((1 - t) * omega) * va + np.sin(t * omega) * vb) / math.sin(omega))


def circle_ring(ra: float, dec: float, radius: float, n: int) -> np.ndarray:
    """``n`` points at angular distance ``radius`` (deg) around (ra, dec), counter-clockwise."""
    centre = unit_vectors(ra, dec)
    r = math.radians(ra)
    east = np.array([-math.sin(r), math.cos(r), 0.0])
    north = np.cross(centre, east)
    angles = np.linspace(0.0, 2 * math.pi, n, endpoint=False)[:, None]
    rho = math.radians(radius)
    return radec(
        math.cos(rho) * centre + math.sin(rho) * (np.cos(angles) * north + np.sin(angles) * east)
    )
