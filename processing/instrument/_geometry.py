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
    """The mask: pattern[k, l] with k along Y and l along Z (1 = open).

    A square MURA (ISGRI) is its own pattern: one element per pattern entry, ``element_mm`` on a
    side. A hexagonal-cell mask (a HURA, JEM-X) is rasterised onto a square grid: ``element_mm``
    is then the grid pitch, ``cell_mm`` the hexagonal cell pitch, ``basic_order`` the number of
    cells in one period, and ``support`` marks the grid pixels that lie on the mask (open or
    closed); pixels off the mask are closed in ``pattern``.
    """

    pattern: NDArray[np.uint8]
    element_mm: float
    thickness_mm: float
    focal_mm: float
    basic_order: int = 53
    lattice: str = "square"
    cell_mm: float | None = None
    support: NDArray[np.uint8] | None = None

    @property
    def ghost_period_tan(self) -> float:
        """Sky offset (direction tangent) of the ghosts: one basic-pattern period seen from the
        detector, basic_order × element / focal length (10.5° for ISGRI).

        A HURA's period is a hexagonal lattice of spacing sqrt(order) cells (8.3° for the
        JEM-X-like mask, larger than the whole mask: it is not cyclically extended).
        """
        if self.lattice == "hexagonal" and self.cell_mm is not None:
            return float(np.sqrt(self.basic_order)) * self.cell_mm / self.focal_mm
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
        """Fraction of open elements (of the pixels on the mask, for a rasterised mask)."""
        if self.support is not None:
            return float(self.pattern[self.support > 0].mean())
        return float(self.pattern.mean())

    @property
    def outer_radius_mm(self) -> float:
        """Distance from the axis to the farthest point of the mask."""
        if self.support is None:
            return float(np.sqrt(2.0) * self.half_width_mm)
        centres = (np.arange(self.size) - (self.size - 1) / 2.0) * self.element_mm
        k, m = np.nonzero(self.support)
        return float(np.max(np.hypot(centres[k], centres[m])) + self.element_mm / np.sqrt(2.0))


@dataclass(frozen=True)
class DetectorGeometry:
    """The pixel grid in detector coordinates (DETY × DETZ, gaps included).

    ``live[i, j]`` is 1 for a working pixel and 0 for gaps and dead pixels; ``module[i, j]`` is the
    module number (0–7) or -1 in the gaps. A circular detector (``outline="circle"``, JEM-X's gas
    chamber) is a square pixel grid of which only the pixels centred within ``diameter_mm`` belong
    to the detector (module 0); the others are marked -1 like gaps.
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
    outline: str = "square"
    diameter_mm: float | None = None
    module: NDArray[np.int8] = field(init=False)

    def __post_init__(self) -> None:
        module = np.full(self.shape, -1, dtype=np.int8)
        ys, zs = np.meshgrid(np.arange(self.pixels_y), np.arange(self.pixels_z), indexing="ij")
        dety, detz = self.raw_to_det(ys, zs)
        n_mod_y = self.pixels_y // self.module_pixels_y
        module[dety, detz] = (zs // self.module_pixels_z) * n_mod_y + ys // self.module_pixels_y
        if self.outline == "circle":
            if self.diameter_mm is None:
                raise ValueError("a circular detector needs its diameter")
            r = np.hypot(self.y_mm[:, None], self.z_mm[None, :])
            module[r > 0.5 * self.diameter_mm] = -1
        elif self.outline != "square":
            raise ValueError(f"unknown detector outline {self.outline!r} (square or circle)")
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
        if self.outline == "circle":
            return float(self.in_module.sum()) * (self.crystal_mm / 10.0) ** 2
        return self.pixels_y * self.pixels_z * (self.crystal_mm / 10.0) ** 2

    @property
    def live_area_cm2(self) -> float:
        """Crystal area of the working pixels, cm²."""
        return float(self.live.sum()) * (self.crystal_mm / 10.0) ** 2
