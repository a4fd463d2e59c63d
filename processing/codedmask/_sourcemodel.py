"""Source models: a source's shadowgram (exact pixel illumination of the thick mask), its PSF in
the decoded image, sub-pixel peaks, and positions refined where the model is exact (the
shadowgram domain, by Gauss-Newton steps on the joint fit).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import CubicSpline

from processing.codedmask._decode import Decoder
from processing.codedmask._pif import exact_pixel_illumination
from processing.codedmask._shadowfit import chi2 as _chi2
from processing.codedmask._shadowfit import least_squares as _least_squares
from processing.codedmask._sources import (
    DetectedSource,
    FloatArray,
)
from processing.instrument import Attitude, Instrument

__all__ = [
    "ShadowgramBand",
    "SourceModeller",
    "add_sources",
    "fit_background",
    "peak_amplitude",
    "psf_at",
]

#: Gauss-Newton iterations of a group's positions, and the finite-difference step (pixels).
GROUP_ITERATIONS = 5
GROUP_STEP_PIX = 0.1
#: Bright sources coded less than this get the thorough position search of
#: :func:`_refine_in_shadowgram`: a grid of (2·EDGE_GRID_HALF + 1)² points EDGE_GRID_STEP_PIX apart.
EDGE_GRID_CODED = 0.5
EDGE_GRID_HALF = 2
EDGE_GRID_STEP_PIX = 0.4
#: Sub-pixel phases at which the PSF is computed from the decoded model.
PSF_PHASES = np.linspace(-0.5, 0.5, 5)
#: Phases of the interpolated PSF table (bilinear interpolation in it is then exact to ~1e-4).
PSF_TABLE_PHASES = np.linspace(-0.5, 0.5, 17)
#: Half side (sky pixels) of the tabulated PSF patches.
PSF_PATCH_RADIUS = 2


@dataclass
class ShadowgramBand:
    """One band of one ScW: counts, efficiency, exposure (the inputs of decoding)."""

    counts: FloatArray
    efficiency: FloatArray  # live fraction of each pixel (dead time included), 0 where unused
    ontime_s: float

    @property
    def used(self) -> NDArray[np.bool_]:
        return self.efficiency > 0

    @property
    def rate(self) -> FloatArray:
        """D/(E·T): counts/s per pixel corrected for efficiency."""
        e = np.where(self.used, self.efficiency, 1.0) * self.ontime_s
        return np.where(self.used, self.counts / e, 0.0)

    @property
    def variance(self) -> FloatArray:
        """σ² = D/(E·T)² of the corrected rate, from the raw counts."""
        e = np.where(self.used, self.efficiency, 1.0) * self.ontime_s
        return np.where(self.used, self.counts / e**2, 0.0)


def fit_background(
    rate: FloatArray, template: FloatArray, module: NDArray[np.integer], used: NDArray[np.bool_]
) -> FloatArray:
    """Per-module normalisation β_m of the background template, least squares; returns β·B."""
    sel = used & (module >= 0) & (template > 0)
    m = np.where(sel, module, 0).astype(np.int64).ravel()
    n_mod = int(module.max()) + 1
    num = np.bincount(m, weights=(rate * template * sel).ravel(), minlength=n_mod)
    den = np.bincount(m, weights=(template * template * sel).ravel(), minlength=n_mod)
    beta = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return np.where(sel, beta[np.where(module >= 0, module, 0)] * template, 0.0)


class SourceModeller:
    """Noiseless source models: shadowgrams per unit on-axis-equivalent rate, and their images.

    A source of on-axis-equivalent rate F (counts/s through the mask over the working detector
    when on axis) at tangents (ty, tz) gives the corrected rate F·cosθ·PIF(ty, tz)/ΣPIF(0, 0):
    the PIF carries the mask pattern, the partial coding and the thick-mask vignetting.
    """

    def __init__(self, instrument: Instrument, decoder: Decoder) -> None:
        self.instrument = instrument
        self.decoder = decoder
        self._models: dict[tuple[float, float], FloatArray] = {}
        self.on_axis_total = float(self._pif(0.0, 0.0).sum())
        self.on_axis_peak = float(self.image(0.0, 0.0)[decoder.centre_pixel])

    def _pif(self, ty: float, tz: float) -> FloatArray:
        det = self.instrument.detector
        pif = exact_pixel_illumination(self.instrument.mask, det, ty, tz)
        return np.asarray(pif, dtype=np.float64) * (self.decoder.weights > 0)

    def shadowgram(self, ty: float, tz: float) -> FloatArray:
        """Corrected-rate model (counts/s per pixel) of a unit on-axis-equivalent source.

        The last models are kept: the bands of a ScW model their sources at the same positions.
        """
        key = (ty, tz)
        cached = self._models.get(key)
        if cached is not None:
            return cached
        cos = 1.0 / np.sqrt(1.0 + ty * ty + tz * tz)
        model = self._pif(ty, tz) * (cos / self.on_axis_total)
        model.setflags(write=False)
        if len(self._models) >= 64:
            self._models.pop(next(iter(self._models)))
        self._models[key] = model
        return model

    def forget_models(self) -> None:
        """Drop the kept source models (benchmarks time a cold ScW with it)."""
        self._models.clear()

    def image(self, ty: float, tz: float) -> FloatArray:
        """Decoded sky image of a unit source."""
        return self.decoder.decode_image(self.shadowgram(ty, tz))

    @cached_property
    def psf_sigma_pix(self) -> float:
        """Gaussian σ (sky pixels) of the on-axis peak, from the curvature of its logarithm."""
        img = self.image(0.0, 0.0)
        a, b = self.decoder.centre_pixel
        sig2 = []
        for lo, hi in ((img[a - 1, b], img[a + 1, b]), (img[a, b - 1], img[a, b + 1])):
            den = np.log(lo) - 2.0 * np.log(img[a, b]) + np.log(hi)
            sig2.append(-1.0 / den)
        return float(np.sqrt(np.mean(sig2)))

    @cached_property
    def psf_patches(self) -> FloatArray:
        """5×5 peak of a unit on-axis source, per sub-pixel phase (grid PSF_TABLE_PHASES²).

        ``patches[i, j]`` is centred on the pixel nearest to a source offset by
        (PSF_TABLE_PHASES[i], PSF_TABLE_PHASES[j]) pixels, in units of the on-axis peak. The
        decoded model is computed at the PSF_PHASES and interpolated (cubic splines) onto the
        finer table, which :func:`psf_at` interpolates bilinearly. Sky images carry each source
        as its flux times this patch, and photometry divides by the same patch, so a flux
        measured in any image (mosaics) is the flux fitted in the ScW.
        """
        dec = self.decoder
        a0, b0 = dec.centre_pixel
        r = PSF_PATCH_RADIUS
        n = PSF_PHASES.size
        coarse = np.zeros((n, n, 2 * r + 1, 2 * r + 1))
        for i, pa in enumerate(PSF_PHASES):
            for j, pb in enumerate(PSF_PHASES):
                img = self.image(float(pa * dec.pixel_tan), float(pb * dec.pixel_tan))
                coarse[i, j] = img[a0 - r : a0 + r + 1, b0 - r : b0 + r + 1] / self.on_axis_peak
        along_a = CubicSpline(PSF_PHASES, coarse, axis=0)(PSF_TABLE_PHASES)
        return np.asarray(CubicSpline(PSF_PHASES, along_a, axis=1)(PSF_TABLE_PHASES))


@dataclass(frozen=True, eq=False)
class SearchFrame:
    """What stays fixed while one band of one ScW is searched: the source models, the sky grid,
    the attitude, the shadowgram's variance, the background template and the pixels used."""

    modeller: SourceModeller
    decoder: Decoder
    attitude: Attitude
    variance: FloatArray
    template: FloatArray
    used: NDArray[np.bool_]

    @property
    def module(self) -> NDArray[np.integer]:
        """Module index of each detector pixel (the background is fitted per module)."""
        return self.modeller.instrument.detector.module

    @property
    def period_tan(self) -> float:
        """The mask's basic-pattern period (ghost spacing), as a tangent."""
        return float(self.modeller.instrument.mask.ghost_period_tan)

    @property
    def sigma_tan(self) -> float:
        """The PSF's Gaussian width, as a tangent."""
        return float(self.modeller.psf_sigma_pix * self.decoder.pixel_tan)


def psf_at(patches: FloatArray, pa: float, pb: float) -> FloatArray:
    """PSF patch at sub-pixel phase (pa, pb) ∈ [−0.5, 0.5]², bilinear in the tabulated phases."""
    n = patches.shape[0]
    x = (min(max(pa, -0.5), 0.5) + 0.5) * (n - 1)
    y = (min(max(pb, -0.5), 0.5) + 0.5) * (n - 1)
    i, j = min(int(x), n - 2), min(int(y), n - 2)
    u, v = x - i, y - j
    return np.asarray(
        (1 - u) * (1 - v) * patches[i, j]
        + u * (1 - v) * patches[i + 1, j]
        + (1 - u) * v * patches[i, j + 1]
        + u * v * patches[i + 1, j + 1]
    )


def add_sources(
    image: FloatArray, sources: list[DetectedSource], decoder: Decoder, patches: FloatArray
) -> FloatArray:
    """``image`` (intensity units) plus each source's flux times its PSF patch at its position.

    The inverse of :func:`peak_amplitude`: photometry of the result at a source's position
    returns its flux (plus whatever the image held there).
    """
    out = np.array(image, dtype=float, copy=True)
    r = (patches.shape[-1] - 1) // 2
    ny, nz = out.shape
    for s in sources:
        fa, fb = (float(v) for v in decoder.tangent_to_pixel(s.ty, s.tz))
        ia, ib = round(fa), round(fb)
        patch = s.flux * psf_at(patches, fa - ia, fb - ib)
        a_lo, a_hi = max(ia - r, 0), min(ia + r + 1, ny)
        b_lo, b_hi = max(ib - r, 0), min(ib + r + 1, nz)
        if a_lo >= a_hi or b_lo >= b_hi:
            continue
        out[a_lo:a_hi, b_lo:b_hi] += patch[
            a_lo - (ia - r) : a_hi - (ia - r), b_lo - (ib - r) : b_hi - (ib - r)
        ]
    return out


def peak_amplitude(
    intensity: NDArray[np.floating],
    variance: NDArray[np.floating],
    patches: FloatArray,
    fa: float,
    fb: float,
) -> tuple[float, float] | None:
    """Flux of a point source at fractional pixel (fa, fb) and its variance, from one image.

    The value of the nearest pixel over the PSF's value there at this sub-pixel phase (exact
    for a source added by :func:`add_sources`; its variance is that pixel's). ``None`` outside
    the image or where the variance is not positive.
    """
    ia, ib = round(fa), round(fb)
    ny, nz = intensity.shape
    if not (0 <= ia < ny and 0 <= ib < nz) or not variance[ia, ib] > 0:
        return None
    r = (patches.shape[-1] - 1) // 2
    centre = float(psf_at(patches, fa - ia, fb - ib)[r, r])
    return float(intensity[ia, ib]) / centre, float(variance[ia, ib]) / centre**2


def _peak_offsets(patch: FloatArray) -> tuple[float, float]:
    """Sub-pixel offsets of the centre of a 3×3 patch by a Gaussian (log-parabola) or parabola
    fit through 3 points per axis."""

    def axis(lo: float, mid: float, hi: float) -> float:
        if lo > 0 and mid > 0 and hi > 0:
            lo, mid, hi = np.log(lo), np.log(mid), np.log(hi)
        den = lo - 2.0 * mid + hi
        if den >= 0:
            return 0.0
        return float(np.clip(0.5 * (lo - hi) / den, -0.5, 0.5))

    return axis(patch[0, 1], patch[1, 1], patch[2, 1]), axis(patch[1, 0], patch[1, 1], patch[1, 2])


def _refine(values: FloatArray, a: int, b: int) -> tuple[float, float]:
    """Sub-pixel peak near pixel (a, b) (:func:`_peak_offsets`); a border pixel stays put."""
    ny, nz = values.shape
    if not (0 < a < ny - 1 and 0 < b < nz - 1):
        return float(a), float(b)
    da, db = _peak_offsets(values[a - 1 : a + 2, b - 1 : b + 2])
    return a + da, b + db


def _refine_where(
    values: FloatArray, mask: NDArray[np.bool_], a: int, b: int
) -> tuple[float, float]:
    """``_refine(np.where(mask, values, 0), a, b)``, masking only the 3×3 patch it reads."""
    ny, nz = values.shape
    if not (0 < a < ny - 1 and 0 < b < nz - 1):
        return float(a), float(b)
    window = (slice(a - 1, a + 2), slice(b - 1, b + 2))
    da, db = _peak_offsets(np.where(mask[window], values[window], 0.0))
    return a + da, b + db


def _fit_shadowgram(
    residual: FloatArray,
    variance: FloatArray,
    model: FloatArray,
    template: FloatArray,
    module: NDArray[np.integer],
    used: NDArray[np.bool_],
) -> tuple[float, float, FloatArray]:
    """Joint least-squares fit of a source model and the per-module background template.

    Returns the flux, its error and the background map.
    """
    flux, err, background = _least_squares([model], residual, variance, template, module, used)
    return float(flux[0]), float(err[0]), background


def _gauss_newton(
    modeller: SourceModeller,
    data: FloatArray,
    start: FloatArray,
    template: FloatArray,
    used: NDArray[np.bool_],
    pixel_tan: float,
    iterations: int = GROUP_ITERATIONS,
    free: list[bool] | None = None,
) -> FloatArray:
    """Positions (n × 2 tangents) of sources minimising the residual of their joint fit.

    Gauss-Newton: the fluxes, position shifts and per-module background are solved together by
    linear least squares on the current residual, the position derivative of each model taken
    by central differences; shifts are capped at half a pixel per step. Sources not ``free``
    keep their positions (their fluxes are fitted).
    """
    module = modeller.instrument.detector.module
    pos = np.array(start, dtype=float)
    n = len(pos)
    moving = [k for k in range(n) if free is None or free[k]]
    h = GROUP_STEP_PIX * pixel_tan
    ones = np.ones_like(data)  # errors are not needed here
    for _ in range(iterations):
        cols = [modeller.shadowgram(float(p[0]), float(p[1])) for p in pos]
        flux, _, background = _least_squares(cols, data, ones, template, module, used)
        r = data - np.tensordot(flux, np.asarray(cols), axes=1) - background
        derivs = []
        for k in moving:
            for axis in (0, 1):
                plus, minus = pos[k].copy(), pos[k].copy()
                plus[axis] += h
                minus[axis] -= h
                up = modeller.shadowgram(float(plus[0]), float(plus[1]))
                down = modeller.shadowgram(float(minus[0]), float(minus[1]))
                derivs.append(flux[k] * (up - down) / (2.0 * h))
        coef, _, _ = _least_squares(cols + derivs, r, ones, template, module, used)
        step = np.clip(coef[n:].reshape(-1, 2), -0.5 * pixel_tan, 0.5 * pixel_tan)
        pos[moving] += step
        if np.max(np.abs(step)) < 0.02 * pixel_tan:
            break
    return pos


def _refine_in_shadowgram(
    modeller: SourceModeller,
    residual: FloatArray,
    template: FloatArray,
    used: NDArray[np.bool_],
    ty: float,
    tz: float,
    pixel_tan: float,
    thorough: bool = False,
) -> tuple[float, float]:
    """Position of a source minimising the shadowgram residual (within 1.5 pixels of the
    image-domain one: a faint source's fit must not wander off to another peak).

    ``thorough`` (bright sources in the outer partially coded field, whose shadow falls on a
    few detector rows): the residual then has local minima about half a pixel apart, where a
    row of crystals enters or leaves the shadow, and the image-domain peak, truncated by the
    edge of the field, may start the descent in the wrong one. The residual is also evaluated
    on a grid around the solution and the descent restarted from a better grid point.
    """
    start = np.array([[ty, tz]])
    pos = _gauss_newton(modeller, residual, start, template, used, pixel_tan)
    if np.hypot(*(pos[0] - start[0])) > 1.5 * pixel_tan:
        pos = start
    if not thorough:
        return float(pos[0, 0]), float(pos[0, 1])

    def power(positions: FloatArray) -> float:  # what _gauss_newton minimises (unweighted)
        models = [modeller.shadowgram(float(p[0]), float(p[1])) for p in positions]
        return _chi2(models, residual, np.ones_like(residual), template, module, used)

    module = modeller.instrument.detector.module
    best = power(pos)
    step = EDGE_GRID_STEP_PIX * pixel_tan
    grid = [
        pos + step * np.array([[i, j]])
        for i in range(-EDGE_GRID_HALF, EDGE_GRID_HALF + 1)
        for j in range(-EDGE_GRID_HALF, EDGE_GRID_HALF + 1)
        if i or j
    ]
    powers = [power(g) for g in grid]
    k = int(np.argmin(powers))
    if powers[k] < best:
        again = _gauss_newton(modeller, residual, grid[k], template, used, pixel_tan)
        if power(again) < best:
            pos = again
    return float(pos[0, 0]), float(pos[0, 1])
