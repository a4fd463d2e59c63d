"""Spacecraft attitude: sky positions to and from instrument direction tangents."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Attitude", "radec_to_unit", "unit_to_radec"]

FloatArray = NDArray[np.float64]


def radec_to_unit(ra_deg: FloatArray | float, dec_deg: FloatArray | float) -> FloatArray:
    """Unit vectors (..., 3) of equatorial positions in degrees."""
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    cd = np.cos(dec)
    return np.stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)], axis=-1)


def unit_to_radec(vec: FloatArray) -> tuple[FloatArray, FloatArray]:
    """RA, Dec (degrees) of vectors (..., 3); RA in [0, 360)."""
    v = np.asarray(vec, dtype=float)
    norm = np.linalg.norm(v, axis=-1)
    ra = np.degrees(np.arctan2(v[..., 1], v[..., 0])) % 360.0
    dec = np.degrees(np.arcsin(np.clip(v[..., 2] / norm, -1.0, 1.0)))
    return ra, dec


@dataclass(frozen=True)
class Attitude:
    """Pointing (X axis) and orientation (Z axis) of the spacecraft, as in the ScW header.

    ``RA_SCX``/``DEC_SCX`` give the pointing axis; ``RA_SCZ``/``DEC_SCZ`` the orientation axis, made
    exactly orthogonal to X here. Y completes the right-handed frame (Y = Z × X).
    """

    ra_x: float
    dec_x: float
    ra_z: float
    dec_z: float

    @property
    def axes(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Unit vectors X, Y, Z in equatorial coordinates."""
        x = radec_to_unit(self.ra_x, self.dec_x)
        z = radec_to_unit(self.ra_z, self.dec_z)
        z = z - np.dot(z, x) * x
        z = z / np.linalg.norm(z)
        y = np.cross(z, x)
        return x, y, z

    def to_tangents(
        self, ra_deg: FloatArray | float, dec_deg: FloatArray | float
    ) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
        """Direction tangents (ty, tz) of sky positions, and whether they are in front (X > 0)."""
        x, y, z = self.axes
        n = radec_to_unit(ra_deg, dec_deg)
        nx, ny, nz = n @ x, n @ y, n @ z
        front = nx > 1e-9
        safe = np.where(front, nx, 1.0)
        return ny / safe, nz / safe, front

    def to_sky(
        self, ty: FloatArray | float, tz: FloatArray | float
    ) -> tuple[FloatArray, FloatArray]:
        """Sky positions (RA, Dec degrees) of direction tangents."""
        x, y, z = self.axes
        ty_a, tz_a = np.asarray(ty, dtype=float), np.asarray(tz, dtype=float)
        v = x + ty_a[..., None] * y + tz_a[..., None] * z
        return unit_to_radec(v)

    def off_axis_deg(self, ra_deg: FloatArray | float, dec_deg: FloatArray | float) -> FloatArray:
        """Angle (degrees) between sky positions and the pointing axis."""
        x, _, _ = self.axes
        n = radec_to_unit(ra_deg, dec_deg)
        return np.degrees(np.arccos(np.clip(n @ x, -1.0, 1.0)))

    @classmethod
    def from_roll(cls, ra_x: float, dec_x: float, roll_deg: float) -> Attitude:
        """Attitude whose Z axis is north rotated by ``roll_deg`` towards east at the pointing."""
        x = radec_to_unit(ra_x, dec_x)
        pole = np.array([0.0, 0.0, 1.0]) if abs(dec_x) < 89.9 else np.array([1.0, 0.0, 0.0])
        north = pole - np.dot(pole, x) * x
        north /= np.linalg.norm(north)
        east = np.cross(pole, x)
        east /= np.linalg.norm(east)
        r = np.radians(roll_deg)
        z = np.cos(r) * north + np.sin(r) * east
        ra_z, dec_z = unit_to_radec(z)
        return cls(float(ra_x), float(dec_x), float(ra_z), float(dec_z))
