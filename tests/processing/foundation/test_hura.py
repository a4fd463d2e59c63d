"""The hexagonal uniformly redundant array (HURA) generator and its rasterisation."""

from __future__ import annotations

import numpy as np
import pytest

from processing.instrument import cube_root_of_unity, hura, nearest_cell, rasterise


def _open_by_label(order: int, residue_power: int) -> tuple[np.ndarray, int]:
    mask = hura(order, residue_power)
    by_label = np.zeros(order, dtype=float)
    by_label[mask.label] = mask.open
    return by_label, mask.r


@pytest.mark.parametrize(("order", "power"), [(7, 2), (19, 2), (43, 2), (37, 4)])
def test_autocorrelation_on_the_hexagonal_lattice_is_two_valued(order: int, power: int) -> None:
    """The defining property: over one period of the hexagonal lattice, the cyclic
    autocorrelation is K at the period's lattice vectors and one constant at every other shift."""
    by_label, r = _open_by_label(order, power)
    # The lattice on an order x order torus in lattice coordinates (i, j): it holds `order`
    # periods, each shift of the torus moves every period alike.
    i, j = np.meshgrid(np.arange(order), np.arange(order), indexing="ij")
    a = by_label[(i + r * j) % order]
    corr = np.rint(np.real(np.fft.ifft2(np.abs(np.fft.fft2(a)) ** 2))).astype(int)
    k = int(by_label.sum())
    assert k == (order - 1) // power
    lam = k * (k - 1) // (order - 1)
    assert k * (k - 1) == lam * (order - 1)  # a cyclic difference set
    period = (i + r * j) % order == 0
    assert np.all(corr[period] == k * order)
    assert np.all(corr[~period] == lam * order)


def test_jemx_order_is_a_25_percent_uniformly_redundant_array() -> None:
    """JEM-X's 22 501 cells: biquadratic residues of 22 501 = 4 * 75^2 + 1 (prime, = 1 mod 3)."""
    mask = hura(22501, 4)
    assert mask.i.size == 22501
    assert np.array_equal(np.sort(mask.label), np.arange(22501))  # one cell per label
    assert int(mask.open.sum()) == 5625
    by_label = np.zeros(22501)
    by_label[mask.label] = mask.open
    corr = np.rint(np.real(np.fft.ifft(np.abs(np.fft.fft(by_label)) ** 2))).astype(int)
    assert corr[0] == 5625
    assert set(np.unique(corr[1:])) == {1406}  # (v - 5) / 16
    # The period fills a hexagon of 22 501 cells: circumradius sqrt(v / 3) pitches.
    assert mask.circumradius_cells == pytest.approx(np.sqrt(22501 / 3), rel=0.01)


@pytest.mark.parametrize(("order", "power"), [(19, 2), (37, 4), (22501, 4)])
def test_pattern_is_invariant_under_a_120_degree_rotation(order: int, power: int) -> None:
    """A 120° rotation of the lattice, (i, j) -> (-j, i - j), multiplies each label by r, a
    residue: the open cells map onto open cells (the hexagonal symmetry of a HURA)."""
    mask = hura(order, power)
    r = mask.r
    assert (r * r + r + 1) % order == 0
    rotated = (-mask.j + r * (mask.i - mask.j)) % order
    np.testing.assert_array_equal(rotated, (r * mask.label) % order)
    by_label = np.zeros(order, dtype=np.uint8)
    by_label[mask.label] = mask.open
    np.testing.assert_array_equal(by_label[rotated], mask.open)


def test_orders_without_a_hura_are_refused() -> None:
    with pytest.raises(ValueError, match="prime"):
        cube_root_of_unity(23)  # 23 = 2 (mod 3): no cube root of unity
    with pytest.raises(ValueError, match="prime"):
        hura(49)
    with pytest.raises(ValueError, match="divide"):
        hura(19, 4)  # 4 does not divide 18


def test_nearest_cell_is_the_nearest_lattice_point() -> None:
    rng = np.random.default_rng(3)
    y, z = rng.uniform(-20, 20, 2000), rng.uniform(-20, 20, 2000)
    ci, cj = nearest_cell(y, z, 3.3)
    span = np.arange(-12, 13)
    gi, gj = (g.ravel() for g in np.meshgrid(span, span, indexing="ij"))
    gy, gz = 3.3 * (gi - 0.5 * gj), 3.3 * np.sqrt(3) / 2 * gj
    d2 = (y[:, None] - gy[None, :]) ** 2 + (z[:, None] - gz[None, :]) ** 2
    best = np.argmin(d2, axis=1)
    np.testing.assert_array_equal(ci, gi[best])
    np.testing.assert_array_equal(cj, gj[best])


def test_rasterisation_samples_each_hexagonal_cell() -> None:
    mask = hura(37, 4)
    cell, pitch, size = 3.3, 0.25, 120
    pattern, support = rasterise(mask, cell, pitch, size)
    centres = (np.arange(size) - (size - 1) / 2) * pitch
    yy, zz = (g.ravel() for g in np.meshgrid(centres, centres, indexing="ij"))
    cy, cz = mask.positions(cell)
    d2 = (yy[:, None] - cy[None, :]) ** 2 + (zz[:, None] - cz[None, :]) ** 2
    nearest = np.argmin(d2, axis=1)
    # A pixel is on the mask when the nearest cell centre of the whole lattice is one of the
    # mask's cells: then it lies inside that cell's hexagon (at most the cell's circumradius).
    on = np.sqrt(d2[np.arange(nearest.size), nearest]) <= cell / np.sqrt(3) + 1e-9
    on_mask = support.ravel() > 0
    assert np.all(on[on_mask])
    np.testing.assert_array_equal(pattern.ravel()[on_mask], mask.open[nearest[on_mask]])
    assert np.all(pattern[support == 0] == 0)
    # Area: 37 hexagons of pitch 3.3 mm (area sqrt(3)/2 * pitch^2), to a pixel row around them.
    hexagons = 37 * np.sqrt(3) / 2 * cell**2
    assert support.sum() * pitch**2 == pytest.approx(hexagons, rel=0.03)
    assert pattern.sum() / support.sum() == pytest.approx(mask.open_fraction, abs=0.02)


def test_rasterisation_needs_a_grid_holding_the_mask() -> None:
    with pytest.raises(ValueError, match="does not hold"):
        rasterise(hura(37, 4), 3.3, 0.25, 60)
