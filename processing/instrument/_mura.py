"""Modified uniformly redundant arrays (MURA, Gottesman & Fenimore 1989).

Used once, when a simulated archive's mask calibration file is written; the analysis reads the
pattern back from that file.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["cyclic_extension", "mura_pattern"]


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % k for k in range(2, int(n**0.5) + 1))


def mura_pattern(order: int) -> NDArray[np.uint8]:
    """The basic MURA pattern of a prime ``order`` (1 = open, 0 = opaque).

    Element (i, j) is closed on the first row, open on the first column (except (0, 0)), and
    otherwise open when i and j are both quadratic residues or both non-residues modulo ``order``.
    """
    if not _is_prime(order):
        raise ValueError(f"MURA order must be prime, got {order}")
    residues = np.zeros(order, dtype=bool)
    residues[(np.arange(1, order) ** 2) % order] = True
    c = np.where(residues, 1, -1)
    pattern = (np.outer(c, c) == 1).astype(np.uint8)
    pattern[0, :] = 0
    pattern[1:, 0] = 1
    return pattern


def cyclic_extension(pattern: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """Extend ``pattern`` cyclically to ``size`` × ``size`` with the basic cycle in the centre."""
    order = pattern.shape[0]
    if size < order:
        raise ValueError(f"extension size {size} smaller than the pattern order {order}")
    start = (size - order) // 2
    idx = (np.arange(size) - start) % order
    return np.ascontiguousarray(pattern[np.ix_(idx, idx)])
