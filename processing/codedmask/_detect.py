"""Source search and iterative cleaning of decoded sky images, brightest first.

Each accepted source is modelled in the shadowgram domain (its pixel illumination fraction with
the thick mask, the cosine of the off-axis angle) and subtracted from the corrected shadowgram,
which removes its peak, its sidelobes and its ghosts together; the shadowgram is then decoded
again. The variance stays that of the original counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import CubicSpline

from processing.codedmask._decode import Decoder, SkyImage
from processing.codedmask._pif import exact_pixel_illumination
from processing.codedmask._shadowfit import chi2 as _chi2
from processing.codedmask._shadowfit import flux_alone
from processing.codedmask._shadowfit import least_squares as _least_squares
from processing.codedmask._shadowfit import weighted_alone as _alone
from processing.instrument import Attitude, Instrument

__all__ = [
    "CatalogEntry",
    "DetectedSource",
    "ShadowgramBand",
    "SourceModeller",
    "add_sources",
    "clean_band",
    "detection_significance",
    "fit_background",
    "peak_amplitude",
    "psf_at",
    "r90_arcmin",
    "source_name",
]

FloatArray = NDArray[np.float64]
#: A new candidate is identified with a catalog source up to max(1.5 r90, 0.2°) away (so
#: judged at threshold_catalog); candidates this close to one are never passed over unfitted.
CATALOG_REACH_DEG = 0.3
#: Sources closer than this (sky pixels; the PSF is 12′ ≈ 2.4 pixels FWHM) are refined together.
GROUP_RADIUS_PIX = 4.0
#: Gauss-Newton iterations of a group's positions, and the finite-difference step (pixels).
GROUP_ITERATIONS = 5
GROUP_STEP_PIX = 0.1
#: Group members brighter than this many times the newest one keep their positions.
GROUP_FREE_RATIO = 10.0
#: Before the search ends, every source between BLEND_SPLIT_MIN_SNR (two members at the
#: threshold, fitted as one, come out at ~√2 times it) and BRIGHT_SNR is looked at as a
#: possible blend of two: a pair closer than ~1.5 PSF widths, fitted as one source between
#: them, leaves no residual peak a candidate could come from, only a quadrupole (positive on
#: either side along the pair's axis, negative across). Where the residual's second moment
#: along its major axis, within BLEND_SPLIT_REACH_PIX, exceeds BLEND_SPLIT_QUADRUPOLE times
#: its noise, a partner is started BLEND_SPLIT_START_PIX away on the brighter side.
BLEND_SPLIT_MIN_SNR = 7.0
BLEND_SPLIT_QUADRUPOLE = 2.0
BLEND_SPLIT_REACH_PIX = 2.5
BLEND_SPLIT_START_PIX = 1.2
#: A split whose members end closer than this (sky pixels, ~6′: docs/imaging.md, "Limits")
#: is not kept: below it two sources are one, and a fit of three on two sources that the
#: search had already found as two would pass the threshold (their flux is large enough to
#: share).
BLEND_SPLIT_MIN_SEP_PIX = 1.2
#: Fractional error of a source's model (mostly its fitted position): its residual, at the
#: source and at its ghosts, counts as a systematic error of anything found there.
MODEL_ERROR = 0.005
#: Above this significance a source's position is refined in the shadowgram domain; so is a
#: candidate's whose F/σ comes within REFINE_MARGIN of what its threshold needs (√(S² + 2)),
#: where the refined fit decides the detection. The refinement raised F/σ by at most 0.62
#: (99 % below 0.48) in 613 refinements on random skies; a candidate further below cannot pass
#: and is not refined (nor compared with its ghost positions).
BRIGHT_SNR = 50.0
REFINE_MARGIN = 0.8
#: Bright sources coded less than this get the thorough position search of
#: :func:`_refine_in_shadowgram`: a grid of (2·EDGE_GRID_HALF + 1)² points EDGE_GRID_STEP_PIX apart.
EDGE_GRID_CODED = 0.5
EDGE_GRID_HALF = 2
EDGE_GRID_STEP_PIX = 0.4
#: Peaks this far below the new-source threshold are fitted: the threshold applies to the fitted
#: significance (a source between pixels peaks lower in its pixel than its fitted value).
CANDIDATE_MARGIN = 1.5
#: Radius (sky pixels) around a rejected candidate that the search skips afterwards.
REJECT_RADIUS_PIX = 2.0
#: Candidates rejected per band before the search stops (noise peaks near the threshold).
MAX_REJECTED = 100
#: Below this peak significance a new peak is compared with its ghost-conjugate positions (one
#: basic-pattern period away): noise can make a ghost outshine a faint source.
GHOST_CHECK_SNR = 50.0
#: Margin by which a ghost-conjugate position must beat a source's own to take it (and below
#: which a catalog source at either place decides), in σ of the difference of their
#: significances (see :func:`_lead`). 0.5 equals the earlier margin of 1σ of the joint fit's
#: significances, whose difference has σ ≈ 2 for a source and its ghost.
GHOST_AMBIGUITY = 0.5
#: A new source that the data cannot tell from one of its ghosts is not claimed unless it
#: passes its threshold by this margin (its signal stays in the residual for the mosaic).
GHOST_DOUBT_MARGIN = 2.0
#: New sources below this significance get the final ghost check (above it a source and its
#: ghosts differ by far more than the noise, or anything a fainter source adds).
GHOST_SETTLE_SNR = 30.0
#: A conjugate position is a candidate when its significance reaches this fraction of the peak.
GHOST_CHECK_FRACTION = 0.6
#: Peaks where the coded fraction is below the reporting floor but above EDGE_CODED are
#: cleaned (not reported) from this significance on.
EDGE_CODED = 0.01
EDGE_SNR = 10.0
#: Position parameters fitted with every source (see :func:`detection_significance`).
POSITION_DOF = 2
#: Sub-pixel phases at which the PSF is computed from the decoded model.
PSF_PHASES = np.linspace(-0.5, 0.5, 5)
#: Phases of the interpolated PSF table (bilinear interpolation in it is then exact to ~1e-4).
PSF_TABLE_PHASES = np.linspace(-0.5, 0.5, 17)
#: Half side (sky pixels) of the tabulated PSF patches.
PSF_PATCH_RADIUS = 2


def _position_fitted(snr: float) -> float:
    return float(np.sign(snr) * np.sqrt(max(snr * snr - POSITION_DOF, 0.0)))


def detection_significance(flux: float, error: float) -> float:
    """Significance of a source whose position was fitted: sign(F)·√((F/σ)² − 2).

    Fitting the position (two parameters) maximises F/σ over the noise around the source, which
    adds about χ²₂ (mean 2) to its square; the corrected value is distributed like the
    significance at the true position, N(S, 1), which is what a threshold must compare (without
    it, sources just below the threshold are detected too often, and noise peaks too).
    """
    if not (np.isfinite(error) and error > 0):
        return 0.0
    return _position_fitted(flux / error)


def _worth_refining(flux: float, error: float, threshold: float) -> bool:
    """Whether a fit of F/σ at an unrefined position may pass ``threshold`` once refined (or
    is bright enough to be refined anyway)."""
    needed = np.sqrt(threshold * threshold + POSITION_DOF) - REFINE_MARGIN
    return bool(flux > 0 and flux / error > min(BRIGHT_SNR, needed))


def r90_arcmin(significance: FloatArray | float) -> FloatArray:
    """90 % point-source location error (arcmin) for a significance S: 22.1·S^−0.95 + 0.16."""
    s = np.maximum(np.asarray(significance, dtype=float), 1.0)
    return np.asarray(22.1 * s**-0.95 + 0.16)


def source_name(ra: float, dec: float) -> str:
    """IAU-style name of a position: ``J0534.5+2201`` (RA h, min to 0.1; Dec deg, arcmin)."""
    ra_h = (ra % 360.0) / 15.0
    h = int(ra_h)
    m = (ra_h - h) * 60.0
    m_t = int(np.floor(m * 10.0 + 1e-6)) / 10.0
    sign = "+" if dec >= 0 else "-"
    ad = abs(dec)
    d = int(ad)
    am = int(np.floor((ad - d) * 60.0 + 1e-6))
    return f"J{h:02d}{m_t:04.1f}{sign}{d:02d}{am:02d}"


@dataclass(frozen=True)
class CatalogEntry:
    """A known source (reference or user catalog)."""

    name: str
    ra: float
    dec: float


@dataclass
class DetectedSource:
    """A source found in one band of one sky image."""

    name: str
    ra: float
    dec: float
    ty: float
    tz: float
    flux: float  # counts/s on-axis equivalent
    flux_error: float
    significance: float
    peak_significance: float
    coded_fraction: float
    offaxis_deg: float
    r90_arcmin: float
    catalog: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def catalog_flux(self) -> float:
        """The flux to publish: the fitted one less the bias of fitting the position.

        Maximised over two position parameters, F² exceeds the square of the flux at the true
        position by ~2σ² (the same excess as the significance's, :func:`detection_significance`);
        this is sign(F)·√(F² − 2σ²), i.e. significance × σ. Negligible above ~20σ.
        """
        return self.significance * self.flux_error if self.flux_error > 0 else self.flux


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


def _fit_candidate(
    found: list[DetectedSource],
    models: list[FloatArray],
    residual: FloatArray,
    variance: FloatArray,
    model: FloatArray,
    template: FloatArray,
    module: NDArray[np.integer],
    used: NDArray[np.bool_],
    site: tuple[float, float],
    period_tan: float,
    pixel_tan: float,
) -> tuple[float, float, FloatArray]:
    """Flux, error and background of a candidate source at ``site`` (tangents) with model
    ``model``, on the residual of the sources found so far.

    A candidate one mask period from a found source shares most of its shadow with it: fitted
    alone before it, that source took the candidate's flux too, and the residual keeps almost
    none. The two are then fitted together (that source's model added back), as in the joint
    fit that follows an accepted candidate.
    """
    conj = [
        k
        for k, s in enumerate(found)
        if _one_period_apart(s.ty - site[0], s.tz - site[1], period_tan, pixel_tan)
    ]
    if not conj:
        return _fit_shadowgram(residual, variance, model, template, module, used)
    data = residual + sum(found[k].flux * models[k] for k in conj)
    flux, err, background = _least_squares(
        [*(models[k] for k in conj), model], data, variance, template, module, used
    )
    return float(flux[-1]), float(err[-1]), background


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


def _clip_pixel(fa: float, fb: float, shape: tuple[int, ...]) -> tuple[int, int]:
    """The image pixel nearest to (fa, fb)."""
    return min(max(round(fa), 0), shape[0] - 1), min(max(round(fb), 0), shape[1] - 1)


def _ghost_conjugates(sig: FloatArray, a: int, b: int, period_pix: float) -> list[tuple[int, int]]:
    """Local maxima one basic-pattern period from (a, b) whose significance could make them the
    true source of which (a, b) is a ghost."""
    out: list[tuple[int, int]] = []
    floor = GHOST_CHECK_FRACTION * float(sig[a, b])
    ny, nz = sig.shape
    for i in (-1, 0, 1):
        for j in (-1, 0, 1):
            if i == 0 and j == 0:
                continue
            ca, cb = round(a + i * period_pix), round(b + j * period_pix)
            if not (1 <= ca < ny - 1 and 1 <= cb < nz - 1):
                continue
            win = sig[ca - 1 : ca + 2, cb - 1 : cb + 2]
            k = np.unravel_index(int(np.argmax(win)), win.shape)
            if float(win[k]) >= floor:
                out.append((ca - 1 + int(k[0]), cb - 1 + int(k[1])))
    return out


def clean_band(
    decoder: Decoder,
    modeller: SourceModeller,
    band: ShadowgramBand,
    attitude: Attitude,
    catalog: list[CatalogEntry],
    *,
    template: FloatArray,
    threshold_catalog: float = 4.0,
    threshold_new: float = 5.0,
    coded_floor: float = 0.1,
    max_sources: int = 40,
    check: Any = None,
    refined: list[tuple[float, float]] | None = None,
) -> tuple[SkyImage, SkyImage, list[DetectedSource], FloatArray]:
    """Decode one band, then find and clean sources brightest first.

    Returns the original sky image (background subtracted), the cleaned image (the residual
    after removing every source's full model: peaks, sidelobes and ghosts), the sources in
    order of detection, and the fitted background map.
    """
    det = modeller.instrument.detector
    refined = [] if refined is None else refined
    used = band.used & (decoder.weights > 0)
    rate0 = band.rate
    var = band.variance
    residual = rate0.copy()
    background = fit_background(residual, template, det.module, used)
    first = decoder.decode(rate0 - background, var)
    ok = (first.coded > coded_floor) & (first.variance > 0)
    # Bright sources just outside the reported field (coded below the floor) still cast a
    # shadow on part of the detector: they are searched down to EDGE_CODED and cleaned (not
    # reported), or their shadow would leave stripes of spurious peaks across the image.
    searchable = (first.coded > min(EDGE_CODED, coded_floor)) & (first.variance > 0)

    # Catalog sources in the field, as sky pixels.
    cat_pix: list[tuple[CatalogEntry, float, float]] = []
    # Every catalog source in front, as sky pixels (a candidate near one is judged at
    # threshold_catalog when it is identified with it).
    cat_front: list[tuple[str, float, float]] = []
    if catalog:
        ty, tz, front = attitude.to_tangents(
            np.array([c.ra for c in catalog]), np.array([c.dec for c in catalog])
        )
        pa, pb = decoder.tangent_to_pixel(ty, tz)
        for c, f, a, b in zip(catalog, front, pa, pb, strict=True):
            ia, ib = round(float(a)), round(float(b))
            if f:
                cat_front.append((c.name, float(a), float(b)))
            if f and 0 <= ia < ok.shape[0] and 0 <= ib < ok.shape[1] and ok[ia, ib]:
                cat_pix.append((c, float(a), float(b)))
    catalog_reach_pix = np.tan(np.radians(CATALOG_REACH_DEG)) / decoder.pixel_tan
    front_names = [name for name, _, _ in cat_front]
    front_a = np.array([ca for _, ca, _ in cat_front])
    front_b = np.array([cb for _, _, cb in cat_front])

    def lowest_threshold(a: int, b: int) -> float:
        """The threshold a candidate at pixel (a, b) may be judged at."""
        close = np.flatnonzero(np.hypot(front_a - a, front_b - b) < catalog_reach_pix)
        near = any(front_names[k] not in taken for k in close)
        return min(threshold_catalog, threshold_new) if near else threshold_new

    found: list[DetectedSource] = []
    models: list[FloatArray] = []
    taken: set[str] = set()
    judged: list[tuple[int, int]] = []  # ghost conjugates judged in a peak's place, and failed
    image = first.image
    rows = np.arange(image.shape[0])[:, None]
    cols = np.arange(image.shape[1])[None, :]
    rejected = np.zeros(image.shape, dtype=bool)
    n_rejected = 0

    def reject(*pixels: tuple[int, int]) -> bool:
        """Skip the pixels around a rejected candidate; True when too many were rejected."""
        nonlocal n_rejected
        n_rejected += 1
        r = int(np.ceil(REJECT_RADIUS_PIX))
        ny, nz = image.shape[0], image.shape[1]
        for pa, pb in set(pixels):
            a_lo, a_hi = max(pa - r, 0), min(pa + r + 1, ny)
            b_lo, b_hi = max(pb - r, 0), min(pb + r + 1, nz)
            near = (rows[a_lo:a_hi] - pa) ** 2 + (cols[:, b_lo:b_hi] - pb) ** 2
            disc = near <= REJECT_RADIUS_PIX**2
            rejected[a_lo:a_hi, b_lo:b_hi] |= disc
            if sig is not None:
                sig[a_lo:a_hi, b_lo:b_hi][disc] = -np.inf
        return n_rejected > MAX_REJECTED

    period_tan = modeller.instrument.mask.ghost_period_tan
    period_pix = period_tan / decoder.pixel_tan
    sigma_tan = modeller.psf_sigma_pix * decoder.pixel_tan

    def fit_candidate(model: FloatArray, ty: float, tz: float) -> tuple[float, float, FloatArray]:
        """A candidate's flux, error and background on the present residual (with the found
        sources one mask period away refitted with it: :func:`_fit_candidate`)."""
        return _fit_candidate(
            found,
            models,
            residual,
            var,
            model,
            template,
            det.module,
            used,
            (ty, tz),
            period_tan,
            decoder.pixel_tan,
        )

    # The search map, recomputed only when a source is added (rejected candidates change
    # neither the image nor the model-error noise); ``sig`` is it without the rejected pixels,
    # which :func:`reject` blanks as it rejects them.
    sig_all: FloatArray | None = None
    sig: FloatArray | None = None
    # The sources' models at the last joint refit, and the background it fitted.
    refit_models: list[FloatArray] = []
    refit_background = background
    tried_splits: set[str] = set()  # names of the sources tried as blends of two
    pending: list[tuple[int, int]] = []  # runners-up to judge next (see below)
    while len(found) < max_sources:
        if check is not None:
            check()
        if sig_all is None:  # the found sources or the image changed
            noise = np.sqrt(
                first.variance + _systematic_map(found, first.image, decoder, sigma_tan)
            )
            sig_all = np.where(searchable, image / np.where(searchable, noise, 1.0), -np.inf)
            sig_all = np.where(ok | (sig_all >= EDGE_SNR), sig_all, -np.inf)
            sig = np.where(rejected, -np.inf, sig_all)
        assert sig is not None
        a, b = np.unravel_index(int(np.argmax(sig)), sig.shape)
        peak = float(sig[a, b])
        searched = (int(a), int(b))
        entry: CatalogEntry | None = None
        rival: tuple[int, int] | None = None
        if pending:
            # The runner-up of a source-or-ghost comparison whose winner failed its fit: the
            # data could hardly tell them apart, so it is judged on its own fit (its peak may
            # lie below the search floor, the winner's having taken the lead).
            a, b = searched = pending.pop()
            peak = float(sig_all[a, b])
        elif peak < threshold_new - CANDIDATE_MARGIN:
            # Below the threshold for new sources: try the catalog sources still not taken.
            best = None
            for c, ca, cb in cat_pix:
                if c.name in taken:
                    continue
                ia, ib = round(ca), round(cb)
                win = sig[max(ia - 1, 0) : ia + 2, max(ib - 1, 0) : ib + 2]
                j = np.unravel_index(int(np.argmax(win)), win.shape)
                val = float(win[j])
                if val >= threshold_catalog and (best is None or val > best[0]):
                    best = (val, max(ia - 1, 0) + int(j[0]), max(ib - 1, 0) + int(j[1]), c)
            if best is None:
                # Nothing left to search: the sources that may be blends of two are tried.
                split = _split_blends(
                    modeller,
                    decoder,
                    attitude,
                    found,
                    models,
                    residual,
                    var,
                    template,
                    used,
                    image,
                    first.variance,
                    first.coded,
                    tried_splits,
                    threshold_new,
                    period_tan,
                    sigma_tan,
                )
                if split is None:
                    break
                found, models = split
                residual, background = _joint_refit(
                    found, models, rate0, var, template, det.module, used
                )
                refit_models, refit_background = list(models), background
                image = decoder.decode_image(residual - background)
                sig_all = None
                continue
            peak, a, b, entry = best[0], best[1], best[2], best[3]
        elif peak < GHOST_CHECK_SNR and _hopeless(
            modeller,
            decoder,
            found,
            residual,
            var,
            template,
            used,
            searchable,
            image,
            int(a),
            int(b),
            lowest_threshold(int(a), int(b)),
        ):
            # A candidate that its own fit leaves far below the threshold, away from any found
            # source, is passed over before its ghost conjugates are compared: were it the ghost
            # of a source that would pass, that source's own peak (not rejected here) would
            # come up as a candidate in its turn.
            if reject(searched):
                break
            continue
        elif peak < GHOST_CHECK_SNR:
            # A faint peak may be the ghost of a source one mask period away: keep whichever
            # position's model is fitted most significantly. Rejected pixels still compete: a
            # source left ambiguous with one of its ghosts must not lose to the next ghost.
            conjugates = _ghost_conjugates(sig_all, int(a), int(b), period_pix)
            pixels = [(int(a), int(b)), *(p for p in conjugates if not _close_to(p, judged))]
            sites = [decoder.pixel_to_tangent(*p) for p in pixels]
            (a, b), rival = _most_significant(
                modeller,
                decoder,
                residual,
                var,
                template,
                det.module,
                used,
                image,
                ok,
                pixels,
                [(found[k].flux, models[k]) for k in _near(found, sites, decoder)],
            )
            if rival is not None:
                # A source or its ghost, the data can hardly tell: a catalog source at either
                # place decides (the final ghost check judges the others).
                at = [_catalog_at(catalog, attitude, decoder, p, taken) for p in ((a, b), rival)]
                if at[0] is None and at[1] is not None:
                    a, b = rival
            peak = float(sig[a, b])
        fa, fb = _refine_where(image, searchable, int(a), int(b))
        ty_s, tz_s = decoder.pixel_to_tangent(fa, fb)
        ty_f, tz_f = float(ty_s), float(tz_s)
        model_rate = modeller.shadowgram(ty_f, tz_f)
        flux, err, background = fit_candidate(model_rate, ty_f, tz_f)
        needed = threshold_catalog if entry is not None else threshold_new
        if _worth_refining(flux, err, needed):
            # The position is refined where the model is exact, in the shadowgram domain: for
            # a bright source the residual of its removal is ∝ the model error; near the
            # threshold the image-domain position loses a few tenths of σ, which decides.
            # Once per ScW: the position is the same in every band (``refined`` carries it).
            known = [
                p for p in refined if np.hypot(p[0] - ty_f, p[1] - tz_f) < 0.5 * decoder.pixel_tan
            ]
            if known:
                ty_f, tz_f = known[0]
            else:
                ia, ib = _clip_pixel(fa, fb, ok.shape)
                ty_f, tz_f = _refine_in_shadowgram(
                    modeller,
                    residual,
                    template,
                    used,
                    ty_f,
                    tz_f,
                    decoder.pixel_tan,
                    thorough=flux / err >= BRIGHT_SNR and first.coded[ia, ib] < EDGE_GRID_CODED,
                )
                refined.append((ty_f, tz_f))
            model_rate = modeller.shadowgram(ty_f, tz_f)
            flux, err, background = fit_candidate(model_rate, ty_f, tz_f)
            fa, fb = (float(v) for v in decoder.tangent_to_pixel(ty_f, tz_f))
        ra, dec = attitude.to_sky(ty_f, tz_f)
        ra_f, dec_f = float(ra), float(dec)
        snr = detection_significance(flux, err)
        r90 = float(r90_arcmin(snr))
        if entry is None:
            entry = _match(catalog, ra_f, dec_f, max(r90 / 60.0 * 1.5, 0.2), taken)
        sys_err = _model_systematic(found, ty_f, tz_f, period_tan, sigma_tan)
        decisive = detection_significance(flux, float(np.hypot(err, sys_err)))
        needed = threshold_catalog if entry is not None else threshold_new
        name = entry.name if entry is not None else source_name(ra_f, dec_f)
        candidate = DetectedSource(
            name=name,
            ra=ra_f,
            dec=dec_f,
            ty=ty_f,
            tz=tz_f,
            flux=flux,
            flux_error=err,
            significance=snr,
            peak_significance=peak,
            coded_fraction=float(first.coded[_clip_pixel(fa, fb, ok.shape)]),
            offaxis_deg=float(np.degrees(np.arctan(np.hypot(ty_f, tz_f)))),
            r90_arcmin=r90,
            catalog=entry is not None,
        )
        # Sources whose models overlap the candidate's: close ones (a blend) and those one mask
        # period away (they share most of the shadow).
        group = [
            k
            for k, other in enumerate(found)
            if np.hypot(other.ty - ty_f, other.tz - tz_f) < GROUP_RADIUS_PIX * decoder.pixel_tan
            or _one_period_apart(other.ty - ty_f, other.tz - tz_f, period_tan, decoder.pixel_tan)
        ]
        if decisive >= needed:
            found.append(candidate)
            models.append(model_rate)
            residual = residual - flux * model_rate
            if group:
                # Overlapping peaks: the first was placed and fitted on the blend of both. Their
                # positions and fluxes are refined together where the model is exact.
                _refine_group(
                    modeller,
                    decoder,
                    attitude,
                    found,
                    models,
                    [*group, len(found) - 1],
                    residual,
                    var,
                    template,
                    used,
                )
        else:
            # Below its threshold alone; next to a source found before, it may be the fainter
            # member of a blend that source was first fitted on (two sources ~10' apart). Both
            # are then refined together, and the candidate judged on that joint fit.
            trial = None
            blended = [k for k in group if found[k].flux <= GROUP_FREE_RATIO * flux]
            if blended and flux > 0:
                trial = _resolve_blend(
                    modeller,
                    decoder,
                    attitude,
                    found,
                    models,
                    group,
                    candidate,
                    model_rate,
                    residual,
                    var,
                    template,
                    used,
                    needed,
                    period_tan,
                    sigma_tan,
                )
            if trial is None:
                if rival is not None and rival not in (searched, (int(a), int(b))):
                    pending.append(rival)
                # The fit decides (candidates come from peaks down to CANDIDATE_MARGIN below
                # the threshold): below its threshold nothing is reported or subtracted. When
                # a ghost conjugate of the peak was judged in its place, the peak itself is
                # judged next (they tie near the limit, and a site near a found source carries
                # its model error): only the conjugate is passed over.
                if (int(a), int(b)) != searched:
                    judged.append((int(a), int(b)))
                    if reject((int(a), int(b))):
                        break
                    continue
                if reject((int(a), int(b)), searched):
                    break
                continue
            found, models = trial
        if entry is not None:
            taken.add(entry.name)
        # Remove every source found so far (peaks, sidelobes, ghosts) in the shadowgram domain,
        # with fluxes fitted together: shadows of different sources correlate by up to ~0.3,
        # so a source fitted before a brighter one was found is biased until refitted.
        residual, background = _joint_refit(found, models, rate0, var, template, det.module, used)
        refit_models, refit_background = list(models), background
        image = decoder.decode_image(residual - background)
        sig_all = None
    if found:
        found, models = _settle_ghosts(
            modeller,
            decoder,
            attitude,
            found,
            models,
            rate0,
            var,
            template,
            used,
            ok,
            threshold_new,
        )
        if len(models) == len(refit_models) and all(
            m is r for m, r in zip(models, refit_models, strict=True)
        ):
            # The ghosts settled as found: the last joint refit (the same models in the same
            # order, hence the same fluxes), its residual and image stand.
            background = refit_background
        else:
            residual, background = _joint_refit(
                found, models, rate0, var, template, det.module, used
            )
            image = decoder.decode_image(residual - background)
    # A peak that passed on its own but falls below its threshold once its neighbours are
    # fitted with it is not reported (its model was subtracted all the same); nor is a source
    # outside the reported field.
    found = [
        s
        for s in found
        if s.significance >= (threshold_catalog if s.catalog else threshold_new)
        and s.coded_fraction > coded_floor
    ]
    cleaned = SkyImage(image=image, variance=first.variance, coded=first.coded)
    return first, cleaned, found, background


def _hopeless(
    modeller: SourceModeller,
    decoder: Decoder,
    found: list[DetectedSource],
    residual: FloatArray,
    variance: FloatArray,
    template: FloatArray,
    used: NDArray[np.bool_],
    searchable: NDArray[np.bool_],
    image: FloatArray,
    a: int,
    b: int,
    threshold: float,
) -> bool:
    """Whether the candidate peak at pixel (a, b) cannot pass ``threshold``: its model fitted at
    the peak's sub-pixel position stays below the margin from which positions are refined
    (REFINE_MARGIN), and no found source is near enough to be its blend partner."""
    fa, fb = _refine_where(image, searchable, a, b)
    ty, tz = (float(v) for v in decoder.pixel_to_tangent(fa, fb))
    if _near(found, [(ty, tz)], decoder):
        return False
    module = modeller.instrument.detector.module
    flux, err = flux_alone(modeller.shadowgram(ty, tz), residual, variance, template, module, used)
    return not _worth_refining(flux, err, threshold)


def _refine_group(
    modeller: SourceModeller,
    decoder: Decoder,
    attitude: Attitude,
    found: list[DetectedSource],
    models: list[FloatArray],
    group: list[int],
    residual: FloatArray,
    variance: FloatArray,
    template: FloatArray,
    used: NDArray[np.bool_],
) -> None:
    """Refine the positions and fluxes of overlapping sources together.

    ``residual`` is the rate with every source found so far removed. The group's models are
    added back to it and their positions found by
    Gauss-Newton steps on the joint fit (fluxes, positions and the background together; the
    position derivatives of each model by finite differences), then the final models are
    fitted together with the background. Updates ``found`` and ``models`` in place.
    """
    module = modeller.instrument.detector.module
    data = residual + sum(found[k].flux * models[k] for k in group)
    start = np.array([[found[k].ty, found[k].tz] for k in group])
    # A source far brighter than the newcomer keeps its position: the blend hardly moved it,
    # and its own fit (in the shadowgram, with fine rays when bright) is the better one.
    newest = abs(found[group[-1]].flux)
    free = [found[k].flux <= GROUP_FREE_RATIO * newest for k in group]
    pos = _gauss_newton(modeller, data, start, template, used, decoder.pixel_tan, free=free)
    n = len(group)
    # Two sources merged into one place, or run away, are not resolved: keep where they were.
    gaps = [np.hypot(*(pos[i] - pos[j])) for i in range(n) for j in range(i)]
    if min(gaps) < 0.5 * decoder.pixel_tan or np.max(np.abs(pos - start)) > 3 * decoder.pixel_tan:
        pos = start
    cols = []
    for ty, tz in pos:
        cols.append(modeller.shadowgram(float(ty), float(tz)))
    flux, err, _ = _least_squares(cols, data, variance, template, module, used)
    for i, k in enumerate(group):
        ty, tz = pos[i]
        ra, dec = attitude.to_sky(ty, tz)
        src = found[k]
        src.ty, src.tz = float(ty), float(tz)
        src.ra, src.dec = float(ra), float(dec)
        src.offaxis_deg = float(np.degrees(np.arctan(np.hypot(ty, tz))))
        src.flux, src.flux_error = float(flux[i]), float(err[i])
        src.significance = detection_significance(src.flux, src.flux_error)
        src.r90_arcmin = float(r90_arcmin(src.significance))
        models[k] = cols[i]


def _resolve_blend(
    modeller: SourceModeller,
    decoder: Decoder,
    attitude: Attitude,
    found: list[DetectedSource],
    models: list[FloatArray],
    group: list[int],
    candidate: DetectedSource,
    model_rate: FloatArray,
    residual: FloatArray,
    variance: FloatArray,
    template: FloatArray,
    used: NDArray[np.bool_],
    needed: float,
    period_tan: float,
    sigma_tan: float,
) -> tuple[list[DetectedSource], list[FloatArray]] | None:
    """The sources with ``candidate`` added, when their joint refinement makes it pass.

    A source found first on the blend of two close ones sits between them with most of their
    flux, and the fainter one's leftover alone falls below the threshold. Refined together
    (:func:`_refine_group`), each gets its own position and flux; the candidate is kept when
    its joint significance, with the model error of the others, passes ``needed``. Works on
    copies: ``None`` leaves everything as it was.
    """
    trial = [replace(s) for s in found] + [replace(candidate)]
    trial_models = [*models, model_rate]
    _refine_group(
        modeller,
        decoder,
        attitude,
        trial,
        trial_models,
        [*group, len(trial) - 1],
        residual - candidate.flux * model_rate,
        variance,
        template,
        used,
    )
    new = trial[-1]
    sys_err = _model_systematic(trial[:-1], new.ty, new.tz, period_tan, sigma_tan)
    if (
        not new.flux > 0
        or detection_significance(new.flux, float(np.hypot(new.flux_error, sys_err))) < needed
    ):
        return None
    return trial, trial_models


def _split_blends(
    modeller: SourceModeller,
    decoder: Decoder,
    attitude: Attitude,
    found: list[DetectedSource],
    models: list[FloatArray],
    residual: FloatArray,
    variance: FloatArray,
    template: FloatArray,
    used: NDArray[np.bool_],
    image: FloatArray,
    image_variance: FloatArray,
    coded: FloatArray,
    tried: set[str],
    threshold: float,
    period_tan: float,
    sigma_tan: float,
) -> tuple[list[DetectedSource], list[FloatArray]] | None:
    """The sources with a blend partner added, for the first source not yet ``tried`` that
    turns out to be two; ``None`` when none does.

    Two sources closer than ~1.5 PSF widths are fitted first as one between them, and what
    the fit leaves in the residual ``image`` is a quadrupole along their axis, too faint to be
    searched. Each source of BLEND_SPLIT_MIN_SNR to BRIGHT_SNR with no found neighbour
    within GROUP_RADIUS_PIX whose residual has one (:func:`_blend_axis`) is tried once: a
    partner is started on the brighter side of the axis, the two refined together
    (:func:`_resolve_blend`), and the partner kept when its joint significance, with the model
    error of the others, passes ``threshold`` and the two end BLEND_SPLIT_MIN_SEP_PIX apart.
    """
    module = modeller.instrument.detector.module
    ny, nz = image.shape
    for src in sorted(found, key=lambda s: -s.significance):
        if src.name in tried or not BLEND_SPLIT_MIN_SNR <= src.significance < BRIGHT_SNR:
            continue
        tried.add(src.name)
        if len(_near(found, [(src.ty, src.tz)], decoder)) > 1:
            continue  # already one of a group found as such
        fa, fb = (float(v) for v in decoder.tangent_to_pixel(src.ty, src.tz))
        axis = _blend_axis(image, image_variance, fa, fb)
        if axis is None:
            continue
        side = []
        for sign in (1.0, -1.0):
            pa, pb = (
                fa + sign * BLEND_SPLIT_START_PIX * axis[0],
                fb + sign * BLEND_SPLIT_START_PIX * axis[1],
            )
            ia, ib = round(pa), round(pb)
            if 0 <= ia < ny and 0 <= ib < nz:
                side.append((float(image[ia, ib]), pa, pb, ia, ib))
        if not side:
            continue
        lobe, pa, pb, ia, ib = max(side)
        ty, tz = (float(v) for v in decoder.pixel_to_tangent(pa, pb))
        model = modeller.shadowgram(ty, tz)
        flux, err = flux_alone(model, residual, variance, template, module, used)
        if not flux > 0:
            continue
        ra, dec = (float(v) for v in attitude.to_sky(ty, tz))
        snr = detection_significance(flux, err)
        partner = DetectedSource(
            name=source_name(ra, dec),
            ra=ra,
            dec=dec,
            ty=ty,
            tz=tz,
            flux=flux,
            flux_error=err,
            significance=snr,
            peak_significance=lobe / float(np.sqrt(image_variance[ia, ib])),
            coded_fraction=float(coded[ia, ib]),
            offaxis_deg=float(np.degrees(np.arctan(np.hypot(ty, tz)))),
            r90_arcmin=float(r90_arcmin(snr)),
            catalog=False,
        )
        group = [
            k
            for k, other in enumerate(found)
            if np.hypot(other.ty - ty, other.tz - tz) < GROUP_RADIUS_PIX * decoder.pixel_tan
        ]
        trial = _resolve_blend(
            modeller,
            decoder,
            attitude,
            found,
            models,
            group,
            partner,
            model,
            residual,
            variance,
            template,
            used,
            threshold,
            period_tan,
            sigma_tan,
        )
        if trial is not None:
            new, old = trial[0][-1], trial[0][found.index(src)]
            gap = np.hypot(new.ty - old.ty, new.tz - old.tz) / decoder.pixel_tan
            if gap < BLEND_SPLIT_MIN_SEP_PIX:
                continue
            new_ra, new_dec = attitude.to_sky(new.ty, new.tz)
            new.name = source_name(float(new_ra), float(new_dec))
            tried.update(s.name for s in trial[0])
            return trial
    return None


def _blend_axis(
    image: FloatArray, variance: FloatArray, fa: float, fb: float
) -> tuple[float, float] | None:
    """The unit axis (pixels) along which the residual ``image`` around (fa, fb) holds a
    significant quadrupole, or ``None``.

    The residual of a blend fitted as one source is, about the fitted position, the members'
    offsets squared times their fluxes along the pair's axis, and nothing across it: the
    second moment of the residual within BLEND_SPLIT_REACH_PIX is positive along the axis.
    Its excess over the moment across the axis is compared with its noise (from the pixel
    variances, neighbouring pixels taken as independent).
    """
    r = int(np.ceil(BLEND_SPLIT_REACH_PIX))
    ny, nz = image.shape
    ia, ib = round(fa), round(fb)
    a_lo, a_hi = max(ia - r, 0), min(ia + r + 1, ny)
    b_lo, b_hi = max(ib - r, 0), min(ib + r + 1, nz)
    da, db = np.meshgrid(np.arange(a_lo, a_hi) - fa, np.arange(b_lo, b_hi) - fb, indexing="ij")
    inside = np.hypot(da, db) <= BLEND_SPLIT_REACH_PIX
    values = image[a_lo:a_hi, b_lo:b_hi][inside]
    var = variance[a_lo:a_hi, b_lo:b_hi][inside]
    x, y = da[inside], db[inside]
    q = np.array([[values @ (x * x), values @ (x * y)], [values @ (x * y), values @ (y * y)]])
    eigen, vectors = np.linalg.eigh(q)
    axis = vectors[:, 1]
    along = x * axis[0] + y * axis[1]
    across = y * axis[0] - x * axis[1]
    weights = along**2 - across**2  # the excess of the moment along over across
    noise = float(np.sqrt(var @ weights**2))
    if not noise > 0 or (eigen[1] - eigen[0]) < BLEND_SPLIT_QUADRUPOLE * noise:
        return None
    return float(axis[0]), float(axis[1])


def _model_systematic(
    found: list[DetectedSource], ty: float, tz: float, period_tan: float, sigma_tan: float
) -> float:
    """Systematic flux error at (ty, tz) from the model errors of the sources already found.

    Each source leaves MODEL_ERROR of its flux, shaped like the PSF, around its position and
    its eight ghost positions (one mask period away); a faint peak there may be that residual.
    """
    total = 0.0
    for s in found:
        dy = np.abs(ty - s.ty + np.array([-1.0, 0.0, 1.0])[:, None] * period_tan)
        dz = np.abs(tz - s.tz + np.array([-1.0, 0.0, 1.0])[None, :] * period_tan)
        d2 = float(np.min(dy**2 + dz**2))
        total += (MODEL_ERROR * s.flux * np.exp(-d2 / (2.0 * sigma_tan**2))) ** 2
    return float(np.sqrt(total))


def _systematic_map(
    found: list[DetectedSource], image: FloatArray, decoder: Decoder, sigma_tan: float
) -> FloatArray:
    """Variance map (image units) of the found sources' model errors: see _model_systematic.

    A source's amplitude is the first image's value at its position; its residual is spread
    like the PSF around it and around its eight ghost positions.
    """
    out = np.zeros_like(image)
    if not found:
        return out
    period = decoder.instrument.mask.ghost_period_tan / decoder.pixel_tan
    sigma = sigma_tan / decoder.pixel_tan
    r = int(np.ceil(4 * sigma))
    ny, nz = image.shape
    for s in found:
        fa, fb = (float(v) for v in decoder.tangent_to_pixel(s.ty, s.tz))
        ia, ib = round(fa), round(fb)
        if not (0 <= ia < ny and 0 <= ib < nz):
            continue
        amp = MODEL_ERROR * max(float(image[ia, ib]), 0.0)
        for ka in (-1, 0, 1):
            for kb in (-1, 0, 1):
                ca, cb = fa + ka * period, fb + kb * period
                a_lo, a_hi = max(int(ca) - r, 0), min(int(ca) + r + 2, ny)
                b_lo, b_hi = max(int(cb) - r, 0), min(int(cb) + r + 2, nz)
                if a_lo >= a_hi or b_lo >= b_hi:
                    continue
                da = np.arange(a_lo, a_hi)[:, None] - ca
                db = np.arange(b_lo, b_hi)[None, :] - cb
                blob = amp * np.exp(-(da**2 + db**2) / (2.0 * sigma**2))
                out[a_lo:a_hi, b_lo:b_hi] += blob**2
    return out


def _pairwise(
    data: FloatArray,
    variance: FloatArray,
    template: FloatArray,
    module: NDArray[np.integer],
    used: NDArray[np.bool_],
    mine: FloatArray,
    other: FloatArray,
    context: Sequence[FloatArray] = (),
) -> tuple[float, float]:
    """Significances of two source models fitted together (with the background and the
    ``context`` sources, whose fluxes are refitted with them).

    Where both positions are coded the two models coincide (a ghost repeats the true shadow);
    fitted together, each one's flux comes from the pixels only it explains. This compares
    the positions through what differs between them, whatever else the data hold (unmodelled
    sources, a bright source's uneven variance) in the pixels they share. The background is
    refitted: a level that unmodelled sources leave would otherwise favour whichever
    position lights more of the detector. So are sources near either position or near their
    ghosts (``context``): a neighbour fitted without this source took part of its flux.
    """
    cols = [mine, other, *context]
    flux, err, _ = _least_squares(cols, data, variance, template, module, used)
    snr = np.where(err > 0, flux / np.where(err > 0, err, 1.0), -np.inf)
    return float(snr[0]), float(snr[1])


def _lead(a: tuple[float, FloatArray], b: tuple[float, FloatArray]) -> float:
    """How far the alone-significance of ``b`` leads that of ``a``, in σ of their difference:
    two models of correlation ρ give significances whose difference has σ = √(2(1 − ρ)),
    small for a source and a ghost that share most of their shadow."""
    rho = float(a[1] @ b[1])
    return (b[0] - a[0]) / np.sqrt(max(2.0 * (1.0 - rho), 1e-6))


def _most_significant(
    modeller: SourceModeller,
    decoder: Decoder,
    residual: FloatArray,
    variance: FloatArray,
    template: FloatArray,
    module: NDArray[np.integer],
    used: NDArray[np.bool_],
    image: FloatArray,
    ok: NDArray[np.bool_],
    pixels: list[tuple[int, int]],
    neighbours: Sequence[tuple[float, FloatArray]] = (),
) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """Of a peak and its ghost-conjugate pixels, the one whose model alone is fitted most
    significantly (:func:`_alone`).

    ``neighbours`` (flux, model) are found sources near these pixels: they are added back to
    the residual and refitted in each comparison.

    Returns the winner, and the runner-up when it comes within GHOST_AMBIGUITY (σ), if any:
    near the detection limit the data may not tell a source from its ghost. (All conjugates
    fitted at once would not do: several ghosts together rebuild the true shadow.)
    """
    if len(pixels) == 1:
        return pixels[0], None
    values = np.where(ok, image, 0.0)
    models = []
    for a, b in pixels:
        fa, fb = _refine(values, a, b)
        ty, tz = decoder.pixel_to_tangent(fa, fb)
        models.append(modeller.shadowgram(float(ty), float(tz)))
    context = [m for _, m in neighbours]
    data = residual + sum((f * m for f, m in neighbours), np.zeros_like(residual))
    alone = [_alone(data, variance, template, module, used, m, context) for m in models]
    best = int(np.argmax([a[0] for a in alone]))
    leads = [(-_lead(alone[k], alone[best]), k) for k in range(len(alone))]
    closest, rival = max((v, k) for v, k in leads if k != best)
    return pixels[best], pixels[rival] if closest > -GHOST_AMBIGUITY else None


def _joint_refit(
    found: list[DetectedSource],
    models: list[FloatArray],
    rate: FloatArray,
    variance: FloatArray,
    template: FloatArray,
    module: NDArray[np.integer],
    used: NDArray[np.bool_],
) -> tuple[FloatArray, FloatArray]:
    """Refit every source's flux together with the per-module background (unweighted LSQ).

    Returns the residual (rate minus the sources) and the background map.
    """
    fluxes, errors, background = _least_squares(models, rate, variance, template, module, used)
    for k, src in enumerate(found):
        src.flux = float(fluxes[k])
        src.flux_error = float(errors[k])
        src.significance = detection_significance(src.flux, src.flux_error)
        src.r90_arcmin = float(r90_arcmin(src.significance))
    return np.asarray(rate - np.tensordot(fluxes, np.asarray(models), axes=1)), background


def _settle_ghosts(
    modeller: SourceModeller,
    decoder: Decoder,
    attitude: Attitude,
    found: list[DetectedSource],
    models: list[FloatArray],
    rate: FloatArray,
    variance: FloatArray,
    template: FloatArray,
    used: NDArray[np.bool_],
    ok: NDArray[np.bool_],
    threshold: float,
) -> tuple[list[DetectedSource], list[FloatArray]]:
    """Final word on sources and their ghosts, with every other found source in the model.

    A source and one of its ghosts (one mask period away) differ only where one position is
    coded and the other is not, and decisions taken during the search, with fainter sources
    not yet modelled, can go either way. Here each new source below GHOST_SETTLE_SNR is
    fitted, on the data less every other source, together with a source at each of its
    ghost-conjugate positions (the pixels only one of them explains decide):

    * a source on a conjugate of a brighter found source is that source's ghost: dropped;
    * when the conjugate wins by GHOST_AMBIGUITY while this one falls below ``threshold``,
      the source is at the conjugate (the ghost was taken first): it moves there;
    * when both pass ``threshold``, both are real (a source sitting on another's ghost, a
      coincidence that a busy field makes likely): the conjugate is added;
    * when a conjugate comes within GHOST_AMBIGUITY of it and the source is within
      GHOST_DOUBT_MARGIN of ``threshold``, the data cannot tell it from a ghost: it is not
      claimed (its signal stays in the residual images, for a mosaic, whose ghosts move with
      the pointing, to find).

    Returns the sources and models; fluxes are refitted by the caller.
    """
    module = modeller.instrument.detector.module
    period = modeller.instrument.mask.ghost_period_tan
    sigma_tan = modeller.psf_sigma_pix * decoder.pixel_tan
    steps = [(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1) if (i, j) != (0, 0)]
    keep = [True] * len(found)
    added: list[tuple[FloatArray, DetectedSource]] = []
    for k in sorted(range(len(found)), key=lambda i: found[i].significance):
        src = found[k]
        if src.catalog or not src.significance < GHOST_SETTLE_SNR:
            continue
        others = [j for j in range(len(found)) if keep[j] and j != k]
        context = [models[j] for j in others] + [m for m, _ in added]
        fluxes, errors, _ = _least_squares(
            [*context, models[k]], rate, variance, template, module, used
        )
        brighter = [
            found[j]
            for j in others
            if found[j].significance > src.significance
            and _conjugates(found[j], src, period, decoder.pixel_tan)
        ]
        if brighter:
            # On a ghost position of a brighter source: its ghost unless the data demand a
            # source there too. Fitted with that source (and every other), a ghost has no flux
            # of its own beyond the brighter source's model error; a real source keeps its own.
            sys_err = _model_systematic(brighter, src.ty, src.tz, period, sigma_tan)
            own = detection_significance(float(fluxes[-1]), float(np.hypot(errors[-1], sys_err)))
            keep[k] = own >= threshold
            continue
        # Sources near it or near its conjugates are refitted in every comparison; the others
        # are subtracted at the fluxes fitted with it.
        sites = [(src.ty + i * period, src.tz + j * period) for i in (-1, 0, 1) for j in (-1, 0, 1)]
        context_sources = [found[j] for j in others] + [e for _, e in added]
        near = set(_near(context_sources, sites, decoder))
        far = [c for c in range(len(context)) if c not in near]
        data = rate - sum((fluxes[c] * context[c] for c in far), np.zeros_like(rate))
        local = [context[c] for c in sorted(near)]
        mine = models[k]
        mine_alone = _alone(data, variance, template, module, used, mine, local)
        moved: tuple[float, float] | None = None
        ambiguous = False
        for i, j in steps:
            ty, tz = src.ty + i * period, src.tz + j * period
            a, b = (round(float(v)) for v in decoder.tangent_to_pixel(ty, tz))
            if not (0 <= a < ok.shape[0] and 0 <= b < ok.shape[1] and ok[a, b]):
                continue
            crowd = [c for c in _near(context_sources, [(ty, tz)], decoder) if c < len(others)]
            if crowd:
                # A found source near the conjugate may have been fitted on the blend of itself
                # and the true source, taking its flux (a confusion pair): the conjugate is
                # judged with that neighbour's position refined too.
                rest = [c for c in near if c not in crowd]
                relocated = _relocated_with_neighbours(
                    modeller,
                    decoder,
                    data - sum((fluxes[c] * context[c] for c in rest), np.zeros_like(rate)),
                    variance,
                    template,
                    used,
                    mine,
                    (ty, tz),
                    [(found[others[c]].ty, found[others[c]].tz) for c in crowd],
                    2.0 * max(src.significance, 0.0),  # S₂ − S₁ ≥ 1σ
                )
                if relocated is not None:
                    moved = (float(relocated[0, 0]), float(relocated[0, 1]))
                    mine = modeller.shadowgram(*moved)
                    for c, (nty, ntz) in zip(crowd, relocated[1:], strict=True):
                        j = others[c]
                        _move(found[j], float(nty), float(ntz), attitude, decoder)
                        models[j] = modeller.shadowgram(float(nty), float(ntz))
                    break
            other = modeller.shadowgram(ty, tz)
            snr_mine, snr_other = _pairwise(
                data, variance, template, module, used, mine, other, local
            )
            s_mine, s_other = _position_fitted(snr_mine), _position_fitted(snr_other)
            # Both there (the joint fit), or which one (each alone: :func:`_alone`).
            other_alone = _alone(data, variance, template, module, used, other, local)
            lead = _lead(mine_alone, other_alone)
            if s_other >= threshold and s_mine >= threshold:
                ra, dec = attitude.to_sky(ty, tz)
                extra = DetectedSource(
                    name=source_name(float(ra), float(dec)),
                    ra=float(ra),
                    dec=float(dec),
                    ty=ty,
                    tz=tz,
                    flux=0.0,  # the caller refits every flux
                    flux_error=np.inf,
                    significance=s_other,
                    peak_significance=s_other,
                    coded_fraction=float(decoder.coded[a, b]),
                    offaxis_deg=float(np.degrees(np.arctan(np.hypot(ty, tz)))),
                    r90_arcmin=float(r90_arcmin(s_other)),
                    catalog=False,
                )
                added.append((other, extra))
            elif lead >= GHOST_AMBIGUITY and s_mine < threshold:
                moved, mine, mine_alone = (ty, tz), other, other_alone
            elif abs(lead) < GHOST_AMBIGUITY:
                ambiguous = True
        if ambiguous and moved is None and src.significance < threshold + GHOST_DOUBT_MARGIN:
            keep[k] = False
            continue
        if moved is not None:
            _move(src, moved[0], moved[1], attitude, decoder)
            models[k] = mine
    kept = [(s, m) for s, m, flag in zip(found, models, keep, strict=True) if flag]
    kept += [(extra, model) for model, extra in added]
    return [s for s, _ in kept], [m for _, m in kept]


def _move(src: DetectedSource, ty: float, tz: float, attitude: Attitude, decoder: Decoder) -> None:
    """Place a found source at new tangents (a new source is renamed after its position)."""
    ra, dec = attitude.to_sky(ty, tz)
    src.ty, src.tz, src.ra, src.dec = ty, tz, float(ra), float(dec)
    if not src.catalog:
        src.name = source_name(src.ra, src.dec)
    src.offaxis_deg = float(np.degrees(np.arctan(np.hypot(ty, tz))))
    fa, fb = decoder.tangent_to_pixel(ty, tz)
    a, b = _clip_pixel(float(fa), float(fb), decoder.coded.shape)
    src.coded_fraction = float(decoder.coded[a, b])


def _relocated_with_neighbours(
    modeller: SourceModeller,
    decoder: Decoder,
    data: FloatArray,
    variance: FloatArray,
    template: FloatArray,
    used: NDArray[np.bool_],
    mine: FloatArray,
    site: tuple[float, float],
    neighbours: list[tuple[float, float]],
    margin_chi2: float,
) -> FloatArray | None:
    """Positions (the source at ``site`` first, then its ``neighbours``), refined together,
    when that explains the data better by ``margin_chi2`` than the source where it is
    (``mine``) with the neighbours where they are; None otherwise.

    The neighbours' present positions were fitted without a source at ``site``: they are the
    best the present configuration can do. Δχ² ≈ (S₂ − S₁)(S₂ + S₁) for two alternative
    sources of significances S₁ and S₂.
    """
    module = modeller.instrument.detector.module
    here = [mine, *(modeller.shadowgram(*p) for p in neighbours)]
    chi_here = _chi2(here, data, variance, template, module, used)
    start = np.array([site, *neighbours])
    pos = _gauss_newton(modeller, data, start, template, used, decoder.pixel_tan)
    if np.any(np.hypot(*(pos - start).T) > 1.5 * decoder.pixel_tan):
        return None  # a fit wandering off: not a refinement of this configuration
    there = [modeller.shadowgram(float(p[0]), float(p[1])) for p in pos]
    if chi_here - _chi2(there, data, variance, template, module, used) >= margin_chi2:
        return pos
    return None


def _near(
    sources: Sequence[DetectedSource], sites: Sequence[tuple[Any, Any]], decoder: Decoder
) -> list[int]:
    """Indices of the sources within GROUP_RADIUS_PIX of any of the ``sites`` (tangents)."""
    reach = GROUP_RADIUS_PIX * decoder.pixel_tan
    return [
        k
        for k, s in enumerate(sources)
        if any(np.hypot(s.ty - float(ty), s.tz - float(tz)) < reach for ty, tz in sites)
    ]


def _close_to(pixel: tuple[int, int], pixels: list[tuple[int, int]]) -> bool:
    """Whether ``pixel`` is within REJECT_RADIUS_PIX of any of ``pixels``."""
    return any(
        (pixel[0] - p[0]) ** 2 + (pixel[1] - p[1]) ** 2 <= REJECT_RADIUS_PIX**2 for p in pixels
    )


def _conjugates(a: DetectedSource, b: DetectedSource, period: float, pixel_tan: float) -> bool:
    """Whether two sources are one mask period apart (along an axis or a diagonal)."""
    return _one_period_apart(a.ty - b.ty, a.tz - b.tz, period, pixel_tan)


def _one_period_apart(d_ty: float, d_tz: float, period: float, pixel_tan: float) -> bool:
    dy, dz = d_ty / period, d_tz / period
    steps = max(abs(round(dy)), abs(round(dz)))
    off = max(abs(dy - round(dy)), abs(dz - round(dz))) * period
    return steps == 1 and off < 1.5 * pixel_tan


def _catalog_at(
    catalog: list[CatalogEntry],
    attitude: Attitude,
    decoder: Decoder,
    pixel: tuple[int, int],
    taken: set[str],
) -> CatalogEntry | None:
    """The catalog source (not yet found) within a pixel and a half of a sky pixel."""
    ty, tz = decoder.pixel_to_tangent(*pixel)
    ra, dec = attitude.to_sky(float(ty), float(tz))
    radius = 1.5 * float(np.degrees(decoder.pixel_tan))
    return _match(catalog, float(ra), float(dec), radius, taken)


def _match(
    catalog: list[CatalogEntry], ra: float, dec: float, radius_deg: float, taken: set[str]
) -> CatalogEntry | None:
    """Nearest catalog source within ``radius_deg`` not already used."""
    best: tuple[float, CatalogEntry] | None = None
    for c in catalog:
        if c.name in taken:
            continue
        d = _separation_deg(ra, dec, c.ra, c.dec)
        if d <= radius_deg and (best is None or d < best[0]):
            best = (d, c)
    return None if best is None else best[1]


def _separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    r1, d1, r2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    s = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    return float(np.degrees(2 * np.arcsin(np.sqrt(min(s, 1.0)))))
