"""Spectral response: effective area, energy redistribution and the low threshold.

The simulator samples events from :class:`Redistribution`; response matrices (RMF) integrate the
same model, so the products describe exactly what the detector did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import erf

__all__ = ["EffectiveArea", "EscapeLine", "LowThreshold", "Redistribution"]

FloatArray = NDArray[np.float64]
_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


@dataclass(frozen=True)
class EffectiveArea:
    """On-axis effective area through the mask, interpolated log-log between table points."""

    energy_keV: FloatArray
    area_cm2: FloatArray
    nominal_open_fraction: float

    def __call__(self, energy: FloatArray | float) -> FloatArray:
        """Effective area (cm²) at ``energy`` keV; 0 outside the table."""
        e = np.asarray(energy, dtype=float)
        area = np.exp(np.interp(np.log(e), np.log(self.energy_keV), np.log(self.area_cm2)))
        return np.where((e >= self.energy_keV[0]) & (e <= self.energy_keV[-1]), area, 0.0)

    def detector_efficiency(
        self, energy: FloatArray | float, sensitive_area_cm2: float
    ) -> FloatArray:
        """Probability that a photon reaching a crystal is detected (the area without the mask)."""
        return self(energy) / (self.nominal_open_fraction * sensitive_area_cm2)


@dataclass(frozen=True)
class EscapeLine:
    """A K-shell fluorescence escape: above the edge a fraction of events loses the line energy."""

    element: str
    edge_keV: float
    line_keV: float
    probability_at_edge: float
    efold_keV: float

    def probability(self, energy: FloatArray) -> FloatArray:
        """Escape probability at ``energy`` keV."""
        p = self.probability_at_edge * np.exp(-(energy - self.edge_keV) / self.efold_keV)
        return np.where(energy > self.edge_keV, p, 0.0)


@dataclass(frozen=True)
class LowThreshold:
    """The low-energy threshold: rises in steps with the revolution, rolls off as an erf."""

    revolutions: NDArray[np.int64]
    threshold_keV: FloatArray
    width_keV: float
    #: Events measured below this energy are not kept at all (a lower-level discriminator that
    #: cuts the telemetered energy range, JEM-X's 3 keV); None keeps the erf roll-off only (ISGRI).
    cut_keV: float | None = None

    def at(self, revolution: int) -> float:
        """Threshold energy (keV) in force during ``revolution``."""
        idx = int(np.searchsorted(self.revolutions, revolution, side="right")) - 1
        return float(self.threshold_keV[max(idx, 0)])

    def efficiency(self, measured_keV: FloatArray, revolution: int) -> FloatArray:
        """Probability that an event of measured energy passes the threshold."""
        thr = self.at(revolution)
        e = np.asarray(measured_keV)
        p = 0.5 * (1.0 + erf((e - thr) / (np.sqrt(2.0) * self.width_keV)))
        if self.cut_keV is not None:
            p = np.where(e >= self.cut_keV, p, 0.0)
        return p


@dataclass(frozen=True)
class Redistribution:
    """How a photon of true energy E becomes a measured energy.

    Components: a Gaussian core (FWHM ∝ E^fwhm_index, or a gas detector's law); a charge-loss
    tail in which the deposited energy is uniform in [E (1 - tail_max_loss), E]; fluorescence
    escape peaks at E - line (Cd/Te for ISGRI, Xe for JEM-X). Each component is then blurred by
    the Gaussian resolution at its deposited energy.
    """

    fwhm_60keV: float
    fwhm_index: float
    tail_fraction_60keV: float
    tail_fraction_index: float
    tail_fraction_max: float
    tail_max_loss: float
    escape_lines: tuple[EscapeLine, ...]
    #: A gas detector's law, FWHM / E = fwhm_relative * sqrt(1/E + 1/fwhm_relative_keV), replaces
    #: the power law in E when given (JEM-X: 0.40 and 60 keV).
    fwhm_relative: float | None = None
    fwhm_relative_keV: float = 60.0

    def sigma(self, energy: FloatArray) -> FloatArray:
        """Gaussian sigma (keV) of the resolution at ``energy`` keV."""
        e = np.maximum(np.asarray(energy, dtype=float), 1.0)
        if self.fwhm_relative is not None:
            fwhm = self.fwhm_relative * np.sqrt(e + e * e / self.fwhm_relative_keV)
            return np.asarray(fwhm * _FWHM_TO_SIGMA, dtype=float)
        return self.fwhm_60keV * (e / 60.0) ** self.fwhm_index * _FWHM_TO_SIGMA

    def tail_fraction(self, energy: FloatArray) -> FloatArray:
        """Fraction of events in the low-energy tail at ``energy`` keV."""
        f = (
            self.tail_fraction_60keV
            * (np.asarray(energy, dtype=float) / 60.0) ** self.tail_fraction_index
        )
        return np.minimum(f, self.tail_fraction_max)

    def sample(self, energy: FloatArray, rng: np.random.Generator) -> FloatArray:
        """Measured energies for photons of true ``energy`` (keV)."""
        e = np.asarray(energy, dtype=float)
        deposited = e.copy()
        u = rng.random(e.size)
        p_tail = self.tail_fraction(e)
        cumulative = p_tail.copy()
        tail = u < p_tail
        deposited[tail] = e[tail] * (1.0 - self.tail_max_loss * rng.random(int(tail.sum())))
        for line in self.escape_lines:
            p = line.probability(e)
            chosen = (u >= cumulative) & (u < cumulative + p)
            deposited[chosen] = e[chosen] - line.line_keV
            cumulative = cumulative + p
        return deposited + rng.standard_normal(e.size) * self.sigma(deposited)

    def matrix(
        self, true_edges: FloatArray, channel_edges: FloatArray, tail_points: int = 24
    ) -> FloatArray:
        """Redistribution probabilities R[i, j]: true bin i to measured channel j.

        Each true bin is represented by its log-centre energy. Probability outside the channel
        range is lost (it is counted nowhere), as in an OGIP RMF.
        """
        e = np.sqrt(true_edges[:-1] * true_edges[1:])
        lo, hi = channel_edges[:-1], channel_edges[1:]

        def gauss_block(centre: FloatArray, weight: FloatArray) -> FloatArray:
            s = self.sigma(centre)[:, None]
            c = centre[:, None]
            cdf_hi = 0.5 * (1.0 + erf((hi[None, :] - c) / (np.sqrt(2.0) * s)))
            cdf_lo = 0.5 * (1.0 + erf((lo[None, :] - c) / (np.sqrt(2.0) * s)))
            return weight[:, None] * (cdf_hi - cdf_lo)

        p_tail = self.tail_fraction(e)
        p_escape = [line.probability(e) for line in self.escape_lines]
        core = 1.0 - p_tail - np.sum(p_escape, axis=0)
        result = gauss_block(e, core)
        loss = (np.arange(tail_points) + 0.5) / tail_points * self.tail_max_loss
        for frac in loss:
            result += gauss_block(e * (1.0 - frac), p_tail / tail_points)
        for line, p in zip(self.escape_lines, p_escape, strict=True):
            result += gauss_block(np.maximum(e - line.line_keV, 1.0), p)
        return result
