"""Binning events into the fine channel cube: the channel lookup is a binary search's result."""

from __future__ import annotations

import numpy as np
import pytest

from processing.codedmask._bin import channel_index
from processing.isgri import DEFAULT_CHANNEL_EDGES, bin_events


def _energies(rng: np.random.Generator, edges: np.ndarray) -> np.ndarray:
    """Random energies over and beyond the grid, every edge itself, and its float neighbours."""
    spread = rng.uniform(edges[0] - 5.0, edges[-1] + 5.0, 200_000)
    exact = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf)])
    as32 = edges.astype(np.float32)
    near32 = np.concatenate([as32, np.nextafter(as32, np.float32(-np.inf))])
    return np.concatenate([spread, exact, near32.astype(np.float64), [-np.inf, np.inf]])


@pytest.mark.parametrize(
    "edges",
    [
        DEFAULT_CHANNEL_EDGES,
        np.arange(20.0, 80.0 + 1e-9, 0.1),  # decimal steps: not exact in binary
        np.array([15.0, 17.5, 20.0, 40.0, 45.0, 100.0]),  # regular grid of 2.5 keV
        np.array([15.0, 16.3, 21.7, 40.01, 100.0]),  # no common grid: binary search
    ],
    ids=["default", "decimal", "coarse-grid", "irregular"],
)
def test_channel_lookup_matches_a_binary_search(edges: np.ndarray) -> None:
    rng = np.random.default_rng(7)
    energy = _energies(rng, edges)
    expected = np.searchsorted(edges, energy, side="right") - 1
    np.testing.assert_array_equal(channel_index(edges, energy), expected)
    as32 = energy.astype(np.float32)
    expected32 = np.searchsorted(edges, as32, side="right") - 1
    np.testing.assert_array_equal(channel_index(edges, as32), expected32)


def test_bin_events_counts_each_good_event_in_its_channel_and_pixel() -> None:
    rng = np.random.default_rng(3)
    n = 50_000
    energy = rng.uniform(10.0, 1100.0, n).astype(np.float32)
    dety = rng.integers(0, 130, n).astype(np.int16)
    detz = rng.integers(0, 134, n).astype(np.int16)
    good = rng.random(n) < 0.9
    energy[:3] = np.nan
    cube = bin_events(np.zeros(n), energy, dety, detz, good, DEFAULT_CHANNEL_EDGES)
    expected = np.zeros(cube.shape, dtype=np.int64)
    chan = np.searchsorted(DEFAULT_CHANNEL_EDGES, energy.astype(np.float64), side="right") - 1
    keep = good & (chan >= 0) & (chan < cube.shape[0]) & np.isfinite(energy)
    np.add.at(expected, (chan[keep], dety[keep], detz[keep]), 1)
    np.testing.assert_array_equal(cube, expected)
    assert cube.sum() == keep.sum() > 0.5 * n
