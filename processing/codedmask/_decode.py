"""Balanced cross-correlation decoding of coded-mask shadowgrams (Goldwurm et al. 2003).

The mask is resampled by area overlap onto a grid with the detector pitch, giving the fractional
decoding arrays G⁺ = M_r (open area) and G⁻ = In_r − M_r (closed area inside the mask). Sky images
are correlations of these arrays with the weighted shadowgram, computed with FFTs zero-padded to
at least N_G + N_D − 1 per axis so that no cyclic wrap folds false ghosts into the image.

Sky grid: sky pixel (a, b) holds the direction with tangents ty = (a − a0)·δ, tz = (b − b0)·δ,
δ = pitch / focal length, so the image is exactly gnomonic about the pointing axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray
from scipy import fft as sfft

from processing.instrument import Instrument

__all__ = ["Decoder", "SkyImage", "resample_mask"]

FloatArray = NDArray[np.float64]


def _overlap_1d(n_cells: int, centre: float, pitch: float, edges: FloatArray) -> FloatArray:
    """Overlap (in cell widths) of every cell with every mask element [edges[k], edges[k+1]]."""
    lo = (np.arange(n_cells) - centre - 0.5) * pitch
    hi = lo + pitch
    a = np.maximum(lo[:, None], edges[None, :-1])
    b = np.minimum(hi[:, None], edges[None, 1:])
    return np.clip(b - a, 0.0, None) / pitch


def resample_mask(
    pattern: NDArray[np.uint8],
    element_mm: float,
    pitch_mm: float,
    n_cells: int | tuple[int, int],
    centre: float | tuple[float, float],
) -> tuple[FloatArray, FloatArray]:
    """Open fraction M_r and inside-mask fraction In_r of cells of side ``pitch_mm``.

    Cell m covers ((m − centre) ± 0.5)·pitch along each axis; the mask is centred on 0.
    ``n_cells`` and ``centre`` are per axis (Y, Z) or shared; the pattern may be rectangular.
    The overlap is separable, so the 2-D areas are products of 1-D overlap matrices.
    """
    cells = (n_cells, n_cells) if isinstance(n_cells, int) else n_cells
    centres = (centre, centre) if isinstance(centre, (int, float)) else centre
    o = []
    for axis in (0, 1):
        size = pattern.shape[axis]
        edges = (np.arange(size + 1) - 0.5 * size) * element_mm
        o.append(_overlap_1d(cells[axis], centres[axis], pitch_mm, edges))  # (cells, elements)
    m_r = o[0] @ pattern.astype(float) @ o[1].T
    return m_r, np.outer(o[0].sum(axis=1), o[1].sum(axis=1))


def _cell_grid(half_width_mm: float, pitch_mm: float, n_pixels: int) -> tuple[int, float]:
    """Number of resampled-mask cells along one axis and the index of the mask centre.

    Cells are aligned with the detector pixels (shift = whole pixels): pixel i sits at
    (i − (n − 1)/2)·pitch and cell m at (m − c)·pitch, so c − (n − 1)/2 must be an integer:
    half-integer c for an even pixel count, integer c for an odd one.
    """
    half_cells = int(np.ceil(half_width_mm / pitch_mm)) + 1
    if n_pixels % 2 == 0:
        return 2 * half_cells, half_cells - 0.5
    return 2 * half_cells + 1, float(half_cells)


@dataclass(frozen=True)
class SkyImage:
    """One decoded band: balanced image, variance and coded-fraction map on the sky grid."""

    image: FloatArray  # counts/s (shadowgram units), not yet normalised to a source flux
    variance: FloatArray
    coded: FloatArray  # fraction of the working detector seeing the mask from each sky pixel

    def significance(self, floor: float = 0.1) -> FloatArray:
        """S/√V where the coded fraction exceeds ``floor``; 0 elsewhere."""
        ok = (self.coded > floor) & (self.variance > 0)
        out = np.zeros_like(self.image)
        out[ok] = self.image[ok] / np.sqrt(self.variance[ok])
        return out


class Decoder:
    """Decoding arrays, their FFTs and the sky grid of one instrument and weight map.

    Parameters
    ----------
    instrument
        The instrument model (mask, detector geometry).
    weights
        W on the detector grid (1 for pixels used, 0 for gaps, dead and noisy pixels); the
        live map by default.
    """

    def __init__(self, instrument: Instrument, weights: NDArray[np.floating] | None = None) -> None:
        det, mask = instrument.detector, instrument.mask
        self.instrument = instrument
        self.det_shape = det.shape
        ny, nz = det.shape
        pitch = det.pitch_mm
        half = 0.5 * np.asarray(mask.pattern.shape, dtype=float) * mask.element_mm
        (cells_y, centre_y), (cells_z, centre_z) = (
            _cell_grid(float(half[0]), pitch, ny),
            _cell_grid(float(half[1]), pitch, nz),
        )
        #: Resampled-mask cells per axis (Y, Z).
        self.n_cells = (cells_y, cells_z)
        self.offset = (round(centre_y - (ny - 1) / 2.0), round(centre_z - (nz - 1) / 2.0))
        m_r, in_r = resample_mask(
            mask.pattern, mask.element_mm, pitch, self.n_cells, (centre_y, centre_z)
        )
        self.g_plus = m_r
        self.g_minus = in_r - m_r
        self.shape = (cells_y + ny - 1, cells_z + nz - 1)  # full-overlap sky grid
        self.fft_shape = tuple(sfft.next_fast_len(n, real=True) for n in self.shape)
        # Sky pixel of the pointing axis (ty = tz = 0): correlation lag k = offset.
        self.centre_pixel = (self.offset[0] + ny - 1, self.offset[1] + nz - 1)
        self.pixel_tan = pitch / mask.focal_mm
        w = det.live.astype(float) if weights is None else np.asarray(weights, dtype=float)
        self.weights = w
        g_p, g_m = self.g_plus, self.g_minus
        self._fg = {
            "p": self._fft(g_p),
            "m": self._fft(g_m),
            "pp": self._fft(g_p * g_p),
            "mm": self._fft(g_m * g_m),
            "pm": self._fft(g_p * g_m),
            "in": self._fft(in_r),
        }
        self.n_plus = self._correlate("p", w)
        self.n_minus = self._correlate("m", w)
        self.coded = self._correlate("in", w) / max(w.sum(), 1.0)
        tiny = 1e-3 * w.sum()
        self.valid = (self.n_plus > tiny) & (self.n_minus > tiny)

    def _fft(self, array: FloatArray) -> NDArray[np.complex128]:
        return np.asarray(sfft.rfft2(array, s=self.fft_shape, workers=1))

    def _correlate(self, key: str, detector_map: FloatArray) -> FloatArray:
        """c[a, b] = Σ_ij G[i + k_a, j + k_b] X[i, j] with lag k = (a, b) − (N_D − 1)."""
        return self._correlate_spectrum(key, self._spectrum(detector_map))

    def _spectrum(self, detector_map: FloatArray) -> NDArray[np.complex128]:
        """The conjugate FFT of a detector map: computed once, correlated with several G."""
        return np.conj(self._fft(detector_map))

    def _correlate_spectrum(self, key: str, spectrum: NDArray[np.complex128]) -> FloatArray:
        """:meth:`_correlate` of the map whose :meth:`_spectrum` is given."""
        full = sfft.irfft2(self._fg[key] * spectrum, s=self.fft_shape, workers=1)
        ny, nz = self.det_shape
        # Negative lags wrapped to the end of the padded array: roll them to the front.
        rows = np.r_[self.fft_shape[0] - (ny - 1) : self.fft_shape[0], 0 : self.n_cells[0]]
        cols = np.r_[self.fft_shape[1] - (nz - 1) : self.fft_shape[1], 0 : self.n_cells[1]]
        return np.asarray(full[np.ix_(rows, cols)])

    def decode(self, rate: FloatArray, variance: FloatArray) -> SkyImage:
        """Balanced sky image and its variance (cross term included) of one band.

        ``rate`` is the efficiency- and background-corrected shadowgram; ``variance`` its
        per-pixel variance from the raw counts (σ² = D/E²).
        """
        w = self.weights
        ok = self.valid
        n_p = np.where(ok, self.n_plus, 1.0)
        n_m = np.where(ok, self.n_minus, 1.0)
        spectrum = self._spectrum(w * rate)
        c_p = self._correlate_spectrum("p", spectrum)
        c_m = self._correlate_spectrum("m", spectrum)
        image = np.where(ok, c_p / n_p - c_m / n_m, 0.0)
        wv = self._spectrum(w * w * variance)  # W σ² with W entering both correlated sums
        var = (
            self._correlate_spectrum("pp", wv) / n_p**2
            + self._correlate_spectrum("mm", wv) / n_m**2
            - 2.0 * self._correlate_spectrum("pm", wv) / (n_p * n_m)
        )
        var = np.where(ok, np.clip(var, 0.0, None), 0.0)
        return SkyImage(image=image, variance=var, coded=np.where(ok, self.coded, 0.0))

    def decode_image(self, rate: FloatArray) -> FloatArray:
        """Balanced sky image only (for noiseless source models)."""
        ok = self.valid
        spectrum = self._spectrum(self.weights * rate)
        c_p = self._correlate_spectrum("p", spectrum)
        c_m = self._correlate_spectrum("m", spectrum)
        return np.where(
            ok, c_p / np.where(ok, self.n_plus, 1) - c_m / np.where(ok, self.n_minus, 1), 0.0
        )

    # Sky grid -----------------------------------------------------------------------------

    def pixel_to_tangent(
        self, a: FloatArray | float, b: FloatArray | float
    ) -> tuple[FloatArray, FloatArray]:
        """Direction tangents (ty, tz) of (fractional) sky pixel indices (row a, column b)."""
        a0, b0 = self.centre_pixel
        return (
            (np.asarray(a, dtype=float) - a0) * self.pixel_tan,
            (np.asarray(b, dtype=float) - b0) * self.pixel_tan,
        )

    def tangent_to_pixel(
        self, ty: FloatArray | float, tz: FloatArray | float
    ) -> tuple[FloatArray, FloatArray]:
        """Fractional sky pixel indices (row, column) of direction tangents."""
        a0, b0 = self.centre_pixel
        return (
            np.asarray(ty, dtype=float) / self.pixel_tan + a0,
            np.asarray(tz, dtype=float) / self.pixel_tan + b0,
        )

    @cached_property
    def off_axis_tan(self) -> FloatArray:
        """tan(off-axis angle) of every sky pixel."""
        a = np.arange(self.shape[0], dtype=float)[:, None]
        b = np.arange(self.shape[1], dtype=float)[None, :]
        ty, tz = self.pixel_to_tangent(a, b)
        return np.asarray(np.hypot(ty, tz))
