"""Hexagonal uniformly redundant arrays (HURA, Finger & Prince 1985) and their rasterisation.

A HURA lives on a hexagonal lattice with basis vectors ``a1 = c (1, 0)`` and
``a2 = c (-1/2, sqrt(3)/2)`` (120° apart, ``c`` the cell pitch). Lattice point ``(i, j)`` gets
the label ``l = (i + r j) mod v`` for a prime order ``v`` and an ``r`` with ``r² + r + 1 ≡ 0
(mod v)`` (a primitive cube root of unity, which exists when ``v ≡ 1 mod 3``). A cell is open when
its label is a non-zero ``k``-th power residue modulo ``v``. The labels repeat on the sublattice
``{(i, j): i + r j ≡ 0 (mod v)}``, which is itself hexagonal because a 120° rotation of the lattice
multiplies every label by ``r``; when the residues form a cyclic difference set, the cyclic
autocorrelation over one period is two-valued (a peak at zero shift and a constant elsewhere), the
uniformly redundant property:

* ``k = 2`` (quadratic residues, ``v ≡ 7 mod 12``): the classical 50 %-open HURA.
* ``k = 4`` (biquadratic residues, ``v = 4 x² + 1`` with ``x`` odd): a 25 %-open HURA. JEM-X's
  22 501 cells (``22 501 = 4 · 75² + 1``, prime, ``≡ 1 mod 3``) are one period of such an array.

Used once, when a simulated archive's mask calibration file is written; the analysis reads the
rasterised pattern back from that file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["HexMask", "cube_root_of_unity", "hura", "nearest_cell", "rasterise"]

_SQRT3_2 = np.sqrt(3.0) / 2.0


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % k for k in range(2, int(n**0.5) + 1))


def cube_root_of_unity(order: int) -> int:
    """The smallest ``r > 1`` with ``r² + r + 1 ≡ 0 (mod order)``.

    Raises
    ------
    ValueError
        When ``order`` is not a prime ``≡ 1 (mod 3)`` (no such ``r`` exists).
    """
    if not _is_prime(order) or order % 3 != 1:
        raise ValueError(f"a HURA order must be a prime = 1 (mod 3), got {order}")
    return next(r for r in range(2, order) if (r * r + r + 1) % order == 0)


def _residues(order: int, power: int) -> NDArray[np.bool_]:
    """``result[l]``: whether ``l`` is a non-zero ``power``-th power residue modulo ``order``."""
    if (order - 1) % power:
        raise ValueError(
            f"{power}-th power residues need {power} to divide order - 1 ({order - 1})"
        )
    marks = np.zeros(order, dtype=bool)
    marks[[pow(x, power, order) for x in range(1, order)]] = True
    return marks


@dataclass(frozen=True)
class HexMask:
    """One period of a HURA: its cells on the hexagonal lattice and which are open.

    ``i``, ``j``: lattice coordinates of the cells (one cell per label, the period's cells nearest
    the centre, so they fill a hexagon); ``label``: ``(i + r j) mod order``; ``open``: 1 = open.
    """

    order: int
    residue_power: int
    r: int
    i: NDArray[np.int64]
    j: NDArray[np.int64]
    label: NDArray[np.int64]
    open: NDArray[np.uint8]

    @property
    def open_fraction(self) -> float:
        """Fraction of open cells: ``((order - 1) / residue_power) / order``."""
        return float(self.open.mean())

    def positions(self, cell_mm: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Cell centres (y, z) in millimetres for a cell pitch ``cell_mm``."""
        y = cell_mm * (self.i - 0.5 * self.j)
        z = cell_mm * _SQRT3_2 * self.j
        return y.astype(np.float64), z.astype(np.float64)

    @property
    def circumradius_cells(self) -> float:
        """Largest distance of a cell centre from the centre, in cell pitches."""
        return float(np.sqrt(np.max(self.i**2 - self.i * self.j + self.j**2)))


def hura(order: int, residue_power: int = 2) -> HexMask:
    """One period of the HURA of prime ``order`` built from ``residue_power``-th power residues.

    The period's cells are those nearest the centre, one for each label (ties broken by lattice
    coordinates), so the array fills a hexagon of ``order`` cells around the origin.

    Raises
    ------
    ValueError
        When ``order`` is not a prime ``≡ 1 (mod 3)`` or ``residue_power`` does not divide
        ``order - 1``.
    """
    r = cube_root_of_unity(order)
    residue = _residues(order, residue_power)
    # The period is a hexagon of area `order` cells: its circumradius is sqrt(order / 3) pitches.
    reach = int(np.ceil(np.sqrt(order / 3.0))) + 2
    span = np.arange(-2 * reach, 2 * reach + 1)
    grid_i, grid_j = np.meshgrid(span, span, indexing="ij")
    ii, jj = grid_i.ravel(), grid_j.ravel()
    norm = ii**2 - ii * jj + jj**2  # squared distance in cell pitches (exact integers)
    near = norm <= reach**2
    ii, jj, norm = ii[near], jj[near], norm[near]
    label = (ii + r * jj) % order
    order_idx = np.lexsort((jj, ii, norm, label))
    first = np.ones(order_idx.size, dtype=bool)
    first[1:] = label[order_idx[1:]] != label[order_idx[:-1]]
    chosen = order_idx[first]
    if chosen.size != order:
        raise RuntimeError(f"HURA {order}: found {chosen.size} labels, expected {order}")
    chosen = chosen[np.lexsort((jj[chosen], ii[chosen]))]
    i, j, lab = ii[chosen], jj[chosen], label[chosen]
    return HexMask(
        order=order,
        residue_power=residue_power,
        r=r,
        i=i.astype(np.int64),
        j=j.astype(np.int64),
        label=lab.astype(np.int64),
        open=residue[lab].astype(np.uint8),
    )


def nearest_cell(
    y: NDArray[np.float64], z: NDArray[np.float64], cell_mm: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Lattice coordinates of the hexagonal cell containing each point (y, z) mm.

    A hexagonal cell is the set of points nearest its lattice point; the nearest lattice point is
    a corner of the rhombus (two equilateral triangles) holding the point.
    """
    jf = np.asarray(z, dtype=float) / (cell_mm * _SQRT3_2)
    i_f = np.asarray(y, dtype=float) / cell_mm + 0.5 * jf
    i0, j0 = np.floor(i_f).astype(np.int64), np.floor(jf).astype(np.int64)
    best_i, best_j = i0.copy(), j0.copy()
    best = np.full(i0.shape, np.inf)
    for di in (0, 1):
        for dj in (0, 1):
            ci, cj = i0 + di, j0 + dj
            dy = y / cell_mm - (ci - 0.5 * cj)
            dz = z / cell_mm - _SQRT3_2 * cj
            d = dy * dy + dz * dz
            better = d < best
            best = np.where(better, d, best)
            best_i = np.where(better, ci, best_i)
            best_j = np.where(better, cj, best_j)
    return best_i, best_j


def rasterise(
    mask: HexMask, cell_mm: float, pitch_mm: float, size: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """The hexagonal mask sampled on a ``size`` × ``size`` square grid of pitch ``pitch_mm``.

    Each square pixel takes the state of the hexagonal cell holding its centre. Returns the open
    pattern (1 = open; pixels outside the mask are closed) and the support (1 = the pixel lies on
    the mask, open or closed). Pixel [k, m] is centred on ``((k - (size-1)/2) p, (m - (size-1)/2)
    p)``, k along Y and m along Z, as the square MURA pattern is.

    Raises
    ------
    ValueError
        When the grid does not hold the whole mask.
    """
    centres = (np.arange(size) - (size - 1) / 2.0) * pitch_mm
    yy, zz = np.meshgrid(centres, centres, indexing="ij")
    ci, cj = nearest_cell(yy.ravel(), zz.ravel(), cell_mm)
    lo_i, lo_j = int(mask.i.min()), int(mask.j.min())
    table = np.full((int(mask.i.max()) - lo_i + 1, int(mask.j.max()) - lo_j + 1), -1, np.int8)
    table[mask.i - lo_i, mask.j - lo_j] = mask.open.astype(np.int8)
    ki, kj = ci - lo_i, cj - lo_j
    inside = (ki >= 0) & (ki < table.shape[0]) & (kj >= 0) & (kj < table.shape[1])
    flat = np.full(ci.shape, -1, dtype=np.int8)
    flat[inside] = table[ki[inside], kj[inside]]
    state = flat.reshape(size, size)
    edge = np.concatenate([state[0], state[-1], state[:, 0], state[:, -1]])
    if np.any(edge >= 0):
        raise ValueError(f"a {size} x {size} grid of {pitch_mm} mm does not hold the whole mask")
    return (state == 1).astype(np.uint8), (state >= 0).astype(np.uint8)
