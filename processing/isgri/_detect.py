"""Source search and iterative cleaning of decoded sky images, brightest first.

Each accepted source is modelled in the shadowgram domain (its pixel illumination fraction with
the thick mask, the cosine of the off-axis angle) and subtracted from the corrected shadowgram,
which removes its peak, its sidelobes and its ghosts together; the shadowgram is then decoded
again. The variance stays that of the original counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from processing.instrument import Attitude, Instrument
from processing.isgri._decode import Decoder, SkyImage
from processing.isgri._pif import fast_pixel_illumination

__all__ = [
    "CatalogEntry",
    "DetectedSource",
    "ShadowgramBand",
    "SourceModeller",
    "clean_band",
    "fit_background",
    "r90_arcmin",
    "source_name",
]

FloatArray = NDArray[np.float64]
PIF_OVERSAMPLE = 16  # rays per crystal side: 6 biases fluxes by ~1 %, 10 and 16 agree
#: Radius (sky pixels) of the main peak kept in cleaned images.
PEAK_RADIUS_PIX = 4.0
#: Above this significance a source's position is refined in the shadowgram domain.
BRIGHT_SNR = 50.0
#: Rays per crystal side of a bright source's final model (ghost residuals ∝ its error).
BRIGHT_OVERSAMPLE = 32
#: Rays per crystal side of the models compared while refining a bright source's position.
REFINE_OVERSAMPLE = 8
#: Peaks this far below the new-source threshold are fitted: the threshold applies to the fitted
#: significance (a source between pixels peaks lower in its pixel than its fitted value).
CANDIDATE_MARGIN = 0.5
#: Radius (sky pixels) around a rejected candidate that the search skips afterwards.
REJECT_RADIUS_PIX = 2.0
#: Candidates rejected per band before the search stops (noise peaks near the threshold).
MAX_REJECTED = 30
#: Below this peak significance a new peak is compared with its ghost-conjugate positions (one
#: basic-pattern period away): noise can make a ghost outshine a faint source.
GHOST_CHECK_SNR = 50.0
#: A conjugate position is a candidate when its significance reaches this fraction of the peak.
GHOST_CHECK_FRACTION = 0.6
#: Rays per crystal side of the models compared there.
GHOST_OVERSAMPLE = 8
#: Sub-pixel phases at which the PSF patches are tabulated.
PSF_PHASES = np.linspace(-0.5, 0.5, 5)


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
        self._totals: dict[int, float] = {}
        self._models: dict[tuple[float, float, int], FloatArray] = {}
        self.on_axis_total = self._on_axis_total(PIF_OVERSAMPLE)
        self.on_axis_peak = float(self.image(0.0, 0.0)[decoder.centre_pixel])

    def _pif(self, ty: float, tz: float, oversample: int = PIF_OVERSAMPLE) -> FloatArray:
        det = self.instrument.detector
        pif = fast_pixel_illumination(self.instrument.mask, det, ty, tz, oversample)
        return np.asarray(pif, dtype=np.float64) * (self.decoder.weights > 0)

    def shadowgram(self, ty: float, tz: float, oversample: int = PIF_OVERSAMPLE) -> FloatArray:
        """Corrected-rate model (counts/s per pixel) of a unit on-axis-equivalent source.

        The last models are kept: the bands of a ScW model their sources at the same positions.
        """
        key = (ty, tz, oversample)
        cached = self._models.get(key)
        if cached is not None:
            return cached
        cos = 1.0 / np.sqrt(1.0 + ty * ty + tz * tz)
        model = self._pif(ty, tz, oversample) * (cos / self._on_axis_total(oversample))
        model.setflags(write=False)
        if len(self._models) >= 32:
            self._models.pop(next(iter(self._models)))
        self._models[key] = model
        return model

    def forget_models(self) -> None:
        """Drop the kept source models (benchmarks time a cold ScW with it)."""
        self._models.clear()

    def _on_axis_total(self, oversample: int) -> float:
        # Each ray density is normalised by its own on-axis sum: the sampled open area
        # differs by ~0.5 % between densities, which would bias fluxes by as much.
        if oversample not in self._totals:
            self._totals[oversample] = float(self._pif(0.0, 0.0, oversample).sum())
        return self._totals[oversample]

    def image(self, ty: float, tz: float, oversample: int = PIF_OVERSAMPLE) -> FloatArray:
        """Decoded sky image of a unit source."""
        return self.decoder.decode_image(self.shadowgram(ty, tz, oversample))

    @cached_property
    def psf_patches(self) -> FloatArray:
        """3×3 peak of a unit on-axis source, per sub-pixel phase (grid PSF_PHASES²).

        ``patches[i, j]`` is centred on the pixel nearest to a source offset by
        (PSF_PHASES[i], PSF_PHASES[j]) pixels, in units of the on-axis peak. Cleaned images
        carry each source's peak scaled to this shape, so photometry at any position
        (mosaics) recovers the flux fitted in the ScW.
        """
        dec = self.decoder
        a0, b0 = dec.centre_pixel
        out = np.zeros((PSF_PHASES.size, PSF_PHASES.size, 3, 3))
        for i, pa in enumerate(PSF_PHASES):
            for j, pb in enumerate(PSF_PHASES):
                img = self.image(float(pa * dec.pixel_tan), float(pb * dec.pixel_tan))
                out[i, j] = img[a0 - 1 : a0 + 2, b0 - 1 : b0 + 2] / self.on_axis_peak
        return out


def psf_at(patches: FloatArray, pa: float, pb: float) -> FloatArray:
    """3×3 PSF patch at sub-pixel phase (pa, pb) ∈ [−0.5, 0.5]², bilinear in the phase."""
    n = patches.shape[0]
    x, y = (pa + 0.5) * (n - 1), (pb + 0.5) * (n - 1)
    i, j = min(int(x), n - 2), min(int(y), n - 2)
    u, v = x - i, y - j
    return np.asarray(
        (1 - u) * (1 - v) * patches[i, j]
        + u * (1 - v) * patches[i + 1, j]
        + (1 - u) * v * patches[i, j + 1]
        + u * v * patches[i + 1, j + 1]
    )


def _refine(values: FloatArray, a: int, b: int) -> tuple[float, float]:
    """Sub-pixel peak by a Gaussian (log-parabola) or parabola fit through 3 points per axis."""

    def axis(lo: float, mid: float, hi: float) -> float:
        if lo > 0 and mid > 0 and hi > 0:
            lo, mid, hi = np.log(lo), np.log(mid), np.log(hi)
        den = lo - 2.0 * mid + hi
        if den >= 0:
            return 0.0
        return float(np.clip(0.5 * (lo - hi) / den, -0.5, 0.5))

    ny, nz = values.shape
    if not (0 < a < ny - 1 and 0 < b < nz - 1):
        return float(a), float(b)
    da = axis(values[a - 1, b], values[a, b], values[a + 1, b])
    db = axis(values[a, b - 1], values[a, b], values[a, b + 1])
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


def _least_squares(
    models: list[FloatArray],
    rate: FloatArray,
    variance: FloatArray,
    template: FloatArray,
    module: NDArray[np.integer],
    used: NDArray[np.bool_],
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Source models fitted together with the per-module background template.

    Unweighted (weights from the observed counts would bias bright sources low); each flux
    error applies its row of (AᵀA)⁻¹Aᵀ to the independent pixel variances. Returns the fluxes,
    their errors and the background map.
    """
    sel = used & (module >= 0) & (template > 0)
    mod_sel = module[sel]
    n = len(models)
    cols = [m[sel] for m in models]
    cols += [np.where(mod_sel == k, template[sel], 0.0) for k in range(int(module.max()) + 1)]
    design = np.stack(cols, axis=1)
    gram_inv = np.linalg.pinv(design.T @ design)
    coef = gram_inv @ (design.T @ rate[sel])
    rows = design @ gram_inv[:, :n]
    errors = np.sqrt(np.sum(rows * rows * variance[sel][:, None], axis=0))
    beta = coef[n:]
    background = np.where(sel, beta[np.where(module >= 0, module, 0)] * template, 0.0)
    return np.asarray(coef[:n]), np.asarray(errors), background


def _rss(
    modeller: SourceModeller,
    residual: FloatArray,
    template: FloatArray,
    module: NDArray[np.integer],
    used: NDArray[np.bool_],
    ty: float,
    tz: float,
) -> float:
    # Only differences between nearby positions matter here: a coarser ray grid does.
    model = modeller.shadowgram(ty, tz, REFINE_OVERSAMPLE)
    flux, _, background = _fit_shadowgram(residual, residual, model, template, module, used)
    r = (residual - flux * model - background)[used]
    return float(np.dot(r, r))


def _refine_in_shadowgram(
    modeller: SourceModeller,
    residual: FloatArray,
    template: FloatArray,
    module: NDArray[np.integer],
    used: NDArray[np.bool_],
    ty: float,
    tz: float,
    pixel_tan: float,
) -> tuple[float, float]:
    """Position minimising the shadowgram residual: parabolas through 3 points per axis, twice."""
    for step in (0.2 * pixel_tan, 0.06 * pixel_tan):
        centre = _rss(modeller, residual, template, module, used, ty, tz)
        for axis in (0, 1):
            lo_pos = (ty - step, tz) if axis == 0 else (ty, tz - step)
            hi_pos = (ty + step, tz) if axis == 0 else (ty, tz + step)
            lo = _rss(modeller, residual, template, module, used, *lo_pos)
            hi = _rss(modeller, residual, template, module, used, *hi_pos)
            den = lo - 2.0 * centre + hi
            shift = float(np.clip(0.5 * (lo - hi) / den, -1.5, 1.5)) * step if den > 0 else 0.0
            if axis == 0:
                ty += shift
            else:
                tz += shift
    return ty, tz


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
    after removing every source's full model, plus each source's main peak only: no sidelobes,
    no ghosts), the sources in order of detection, and the fitted background map.
    """
    det = modeller.instrument.detector
    refined = [] if refined is None else refined
    used = band.used & (decoder.weights > 0)
    rate0 = band.rate
    var = band.variance
    residual = rate0.copy()
    background = fit_background(residual, template, det.module, used)
    first = decoder.decode(rate0 - background, var)
    sky = first
    ok = (first.coded > coded_floor) & (first.variance > 0)
    sig_err = np.where(ok, np.sqrt(np.where(ok, first.variance, 1.0)), np.inf)

    # Catalog sources in the field, as sky pixels.
    cat_pix: list[tuple[CatalogEntry, float, float]] = []
    if catalog:
        ty, tz, front = attitude.to_tangents(
            np.array([c.ra for c in catalog]), np.array([c.dec for c in catalog])
        )
        pa, pb = decoder.tangent_to_pixel(ty, tz)
        for c, f, a, b in zip(catalog, front, pa, pb, strict=True):
            ia, ib = round(float(a)), round(float(b))
            if f and 0 <= ia < ok.shape[0] and 0 <= ib < ok.shape[1] and ok[ia, ib]:
                cat_pix.append((c, float(a), float(b)))

    found: list[DetectedSource] = []
    models: list[FloatArray] = []
    taken: set[str] = set()
    image = first.image
    peaks = np.zeros_like(image)
    rows = np.arange(image.shape[0])[:, None]
    cols = np.arange(image.shape[1])[None, :]
    rejected = np.zeros(image.shape, dtype=bool)
    n_rejected = 0

    def reject(*pixels: tuple[int, int]) -> bool:
        """Skip the pixels around a rejected candidate; True when too many were rejected."""
        nonlocal n_rejected
        n_rejected += 1
        for pa, pb in set(pixels):
            rejected[(rows - pa) ** 2 + (cols - pb) ** 2 <= REJECT_RADIUS_PIX**2] = True
        return n_rejected > MAX_REJECTED

    period_pix = modeller.instrument.mask.ghost_period_tan / decoder.pixel_tan
    while len(found) < max_sources:
        if check is not None:
            check()
        sig = np.where(ok & ~rejected, image / sig_err, -np.inf)
        a, b = np.unravel_index(int(np.argmax(sig)), sig.shape)
        peak = float(sig[a, b])
        searched = (int(a), int(b))
        entry: CatalogEntry | None = None
        if peak < threshold_new - CANDIDATE_MARGIN:
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
                break
            peak, a, b, entry = best[0], best[1], best[2], best[3]
        elif peak < GHOST_CHECK_SNR:
            # A faint peak may be the ghost of a source one mask period away: keep whichever
            # position's model is fitted most significantly.
            a, b = _most_significant(
                modeller,
                decoder,
                residual,
                var,
                template,
                det.module,
                used,
                image,
                ok,
                [(int(a), int(b)), *_ghost_conjugates(sig, int(a), int(b), period_pix)],
            )
            peak = float(sig[a, b])
        fa, fb = _refine(np.where(ok, image, 0.0), int(a), int(b))
        ty_s, tz_s = decoder.pixel_to_tangent(fa, fb)
        ty_f, tz_f = float(ty_s), float(tz_s)
        if entry is None and peak < threshold_new:
            # A candidate just below the threshold: a quick fit decides (catalog sources near
            # it need only their own threshold).
            quick = modeller.shadowgram(ty_f, tz_f, REFINE_OVERSAMPLE)
            q_flux, q_err, _ = _fit_shadowgram(residual, var, quick, template, det.module, used)
            ra_q, dec_q = attitude.to_sky(ty_f, tz_f)
            nearby = _match(
                catalog, float(ra_q), float(dec_q), max(_r90_deg(peak) * 1.5, 0.2), taken
            )
            needed = threshold_catalog if nearby is not None else threshold_new
            if not (q_err > 0 and q_flux / q_err >= needed):
                if reject((int(a), int(b)), searched):
                    break
                continue
        model_rate = modeller.shadowgram(ty_f, tz_f)
        flux, err, background = _fit_shadowgram(
            residual, var, model_rate, template, det.module, used
        )
        if flux > 0 and flux / err > BRIGHT_SNR:
            # Bright: the residual of its removal is ∝ the model error, so refine the position
            # where the model is exact, in the shadowgram domain, once per ScW (the position
            # is the same in every band: ``refined`` carries it from band to band).
            known = [
                p for p in refined if np.hypot(p[0] - ty_f, p[1] - tz_f) < 0.5 * decoder.pixel_tan
            ]
            if known:
                ty_f, tz_f = known[0]
            else:
                ty_f, tz_f = _refine_in_shadowgram(
                    modeller, residual, template, det.module, used, ty_f, tz_f, decoder.pixel_tan
                )
                refined.append((ty_f, tz_f))
            model_rate = modeller.shadowgram(ty_f, tz_f, BRIGHT_OVERSAMPLE)
            flux, err, background = _fit_shadowgram(
                residual, var, model_rate, template, det.module, used
            )
            fa, fb = (float(v) for v in decoder.tangent_to_pixel(ty_f, tz_f))
        ra, dec = attitude.to_sky(ty_f, tz_f)
        ra_f, dec_f = float(ra), float(dec)
        snr = flux / err if np.isfinite(err) and err > 0 else 0.0
        r90 = float(r90_arcmin(max(snr, peak)))
        if entry is None:
            entry = _match(catalog, ra_f, dec_f, max(r90 / 60.0 * 1.5, 0.2), taken)
        if snr < (threshold_catalog if entry is not None else threshold_new):
            # The full model decides in the end (the quick fit uses coarser rays): below its
            # threshold nothing is reported or subtracted.
            if reject((int(a), int(b)), searched):
                break
            continue
        model_img = decoder.decode_image(model_rate)
        name = entry.name if entry is not None else source_name(ra_f, dec_f)
        if entry is not None:
            taken.add(entry.name)
        found.append(
            DetectedSource(
                name=name,
                ra=ra_f,
                dec=dec_f,
                ty=ty_f,
                tz=tz_f,
                flux=flux,
                flux_error=err,
                significance=snr,
                peak_significance=peak,
                coded_fraction=float(first.coded[a, b]),
                offaxis_deg=float(np.degrees(np.arctan(np.hypot(ty_f, tz_f)))),
                r90_arcmin=r90,
                catalog=entry is not None,
            )
        )
        # The cleaned image keeps the main peak, scaled so that its 3×3 core has the amplitude
        # `flux` in units of the on-axis PSF patch at this sub-pixel phase.
        ia, ib = round(fa), round(fb)
        if 1 <= ia < image.shape[0] - 1 and 1 <= ib < image.shape[1] - 1:
            patch = psf_at(modeller.psf_patches, fa - ia, fb - ib)
            core = model_img[ia - 1 : ia + 2, ib - 1 : ib + 2] / modeller.on_axis_peak
            scale = float((core * patch).sum() / (patch * patch).sum())
            near = (rows - fa) ** 2 + (cols - fb) ** 2 <= PEAK_RADIUS_PIX**2
            peaks += np.where(near, flux * model_img / scale, 0.0)
        # Remove the whole source (peak, sidelobes, ghosts) in the shadowgram domain.
        residual = residual - flux * model_rate
        models.append(model_rate)
        sky = decoder.decode(residual - background, var)
        image = sky.image
    del sky
    if len(found) > 1:
        # Sources were fitted one at a time on the residual of the brighter ones; a joint fit of
        # all of them with the background removes the cross-talk of overlapping shadows.
        _joint_refit(found, models, rate0, var, template, det.module, used)
        # A peak that passed on its own but falls below its threshold once its neighbours are
        # fitted with it is not reported (its model was subtracted all the same).
        found = [
            s
            for s in found
            if s.significance >= (threshold_catalog if s.catalog else threshold_new)
        ]
    cleaned = SkyImage(image=image + peaks, variance=first.variance, coded=first.coded)
    return first, cleaned, found, background


def _r90_deg(significance: float) -> float:
    return float(r90_arcmin(significance)) / 60.0


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
) -> tuple[int, int]:
    """Of candidate peak pixels, the one whose source model wins its pairwise joint fits.

    A ghost's model repeats the true source's shadow only where both are coded; fitted together
    with the true position, the pixels outside that overlap give the flux to the true one.
    (All conjugates at once would not do: several ghosts together rebuild the true shadow.)
    """
    if len(pixels) == 1:
        return pixels[0]
    values = np.where(ok, image, 0.0)
    models = []
    for a, b in pixels:
        fa, fb = _refine(values, a, b)
        ty, tz = decoder.pixel_to_tangent(fa, fb)
        models.append(modeller.shadowgram(float(ty), float(tz), GHOST_OVERSAMPLE))
    best = 0
    for k in range(1, len(pixels)):
        flux, err, _ = _least_squares(
            [models[best], models[k]], residual, variance, template, module, used
        )
        snr = np.where(err > 0, flux / np.where(err > 0, err, 1.0), -np.inf)
        if snr[1] > snr[0]:
            best = k
    return pixels[best]


def _joint_refit(
    found: list[DetectedSource],
    models: list[FloatArray],
    rate: FloatArray,
    variance: FloatArray,
    template: FloatArray,
    module: NDArray[np.integer],
    used: NDArray[np.bool_],
) -> None:
    """Refit every source's flux together with the per-module background (unweighted LSQ)."""
    fluxes, errors, _ = _least_squares(models, rate, variance, template, module, used)
    for k, src in enumerate(found):
        src.flux = float(fluxes[k])
        src.flux_error = float(errors[k])
        src.significance = src.flux / src.flux_error if src.flux_error > 0 else 0.0
        src.r90_arcmin = float(r90_arcmin(max(src.significance, src.peak_significance)))


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
