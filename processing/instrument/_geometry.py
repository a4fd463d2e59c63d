"""Detector and mask geometry of a coded-mask camera (positions in millimetres).

Frame: the pointing axis X points from the detector to the sky; the detector plane is spanned by the
spacecraft Y (DETY) and Z (DETZ) axes. A direction on the sky is described by its tangents
``ty = tan(angle towards +Y)`` and ``tz = tan(angle towards +Z)`` relative to X.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["DetectorGeometry", "MaskGeometry"]


@dataclass(frozen=True)
class MaskGeometry:
    """The mask: pattern[k, l] with k along Y and l along Z (1 = open)."""

    pattern: NDArray[np.uint8]
    element_mm: float
    thickness_mm: float
    focal_mm: float
    basic_order: int = 53

    @property
    def ghost_period_tan(self) -> float:
        """Sky offset (direction tangent) of the ghosts: one basic-pattern period seen from the
        detector, basic_order × element / focal length (10.5° for ISGRI)."""
        return self.basic_order * self.element_mm / self.focal_mm

    @property
    def size(self) -> int:
        """Number of elements per side."""
        return int(self.pattern.shape[0])

    @property
    def half_width_mm(self) -> float:
        """Half the mask side in millimetres."""
        return 0.5 * self.size * self.element_mm

    @property
    def open_fraction(self) -> float:
        """Fraction of open elements."""
        return float(self.pattern.mean())


@dataclass(frozen=True)
class DetectorGeometry:
    """The pixel grid in detector coordinates (DETY × DETZ, gaps included).

    ``live[i, j]`` is 1 for a working pixel and 0 for gaps and dead pixels; ``module[i, j]`` is the
    module number (0–7) or -1 in the gaps.
    """

    pitch_mm: float
    crystal_mm: float
    pixels_y: int
    pixels_z: int
    module_pixels_y: int
    module_pixels_z: int
    gap_pixels: int
    deadtime_s: float
    live: NDArray[np.uint8]
    module: NDArray[np.int8] = field(init=False)

    def __post_init__(self) -> None:
        module = np.full(self.shape, -1, dtype=np.int8)
        ys, zs = np.meshgrid(np.arange(self.pixels_y), np.arange(self.pixels_z), indexing="ij")
        dety, detz = self.raw_to_det(ys, zs)
        n_mod_y = self.pixels_y // self.module_pixels_y
        module[dety, detz] = (zs // self.module_pixels_z) * n_mod_y + ys // self.module_pixels_y
        object.__setattr__(self, "module", module)
        if self.live.shape != self.shape:
            raise ValueError(f"live map shape {self.live.shape} != detector shape {self.shape}")

    @property
    def n_modules(self) -> int:
        """Number of detector modules."""
        return (self.pixels_y // self.module_pixels_y) * (self.pixels_z // self.module_pixels_z)

    @property
    def shape(self) -> tuple[int, int]:
        """(DETY, DETZ) size of the detector image, gaps included (130 × 134 for ISGRI)."""
        gy = (self.pixels_y // self.module_pixels_y - 1) * self.gap_pixels
        gz = (self.pixels_z // self.module_pixels_z - 1) * self.gap_pixels
        return self.pixels_y + gy, self.pixels_z + gz

    def raw_to_det(
        self, y: NDArray[np.integer], z: NDArray[np.integer]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Map raw pixel indices (Y, Z) to detector-image indices (DETY, DETZ) with gaps."""
        dety = np.asarray(y) + self.gap_pixels * (np.asarray(y) // self.module_pixels_y)
        detz = np.asarray(z) + self.gap_pixels * (np.asarray(z) // self.module_pixels_z)
        return dety.astype(np.int64), detz.astype(np.int64)

    @property
    def in_module(self) -> NDArray[np.bool_]:
        """True for pixels inside a module (not in a gap), dead or alive."""
        return self.module >= 0

    @property
    def y_mm(self) -> NDArray[np.float64]:
        """Pixel-centre Y positions of the DETY columns."""
        ny = self.shape[0]
        return np.asarray((np.arange(ny) - (ny - 1) / 2.0) * self.pitch_mm, dtype=np.float64)

    @property
    def z_mm(self) -> NDArray[np.float64]:
        """Pixel-centre Z positions of the DETZ rows."""
        nz = self.shape[1]
        return np.asarray((np.arange(nz) - (nz - 1) / 2.0) * self.pitch_mm, dtype=np.float64)

    @property
    def sensitive_area_cm2(self) -> float:
        """Crystal area of all pixels (dead ones included), cm²."""
        return self.pixels_y * self.pixels_z * (self.crystal_mm / 10.0) ** 2

    @property
    def live_area_cm2(self) -> float:
        """Crystal area of the working pixels, cm²."""
        return float(self.live.sum()) * (self.crystal_mm / 10.0) ** 2
