"""Source search and iterative cleaning of decoded sky images, brightest first.

Each accepted source is modelled in the shadowgram domain (its pixel illumination fraction with
the thick mask, the cosine of the off-axis angle) and subtracted from the corrected shadowgram,
which removes its peak, its sidelobes and its ghosts together; the shadowgram is then decoded
again. The variance stays that of the original counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from processing.codedmask._blends import (
    GROUP_FREE_RATIO,
    _refine_group,
    _resolve_blend,
    _split_blends,
)
from processing.codedmask._decode import Decoder, SkyImage
from processing.codedmask._ghosts import (
    GHOST_CHECK_SNR,
    _ghost_conjugates,
    _joint_refit,
    _most_significant,
    _settle_ghosts,
)
from processing.codedmask._shadowfit import flux_alone
from processing.codedmask._shadowfit import least_squares as _least_squares
from processing.codedmask._sourcemodel import (
    EDGE_GRID_CODED,
    SearchFrame,
    ShadowgramBand,
    SourceModeller,
    _fit_shadowgram,
    _refine_in_shadowgram,
    _refine_where,
    fit_background,
)
from processing.codedmask._sources import (
    BRIGHT_SNR,
    GROUP_RADIUS_PIX,
    POSITION_DOF,
    REFINE_MARGIN,
    CatalogEntry,
    DetectedSource,
    FloatArray,
    _clip_pixel,
    _match,
    _model_systematic,
    _near,
    _one_period_apart,
    _systematic_map,
    detection_significance,
    r90_arcmin,
    source_name,
)
from processing.instrument import Attitude

__all__ = ["clean_band"]


#: A new candidate is identified with a catalog source up to max(1.5 r90, 0.2°) away (so
#: judged at threshold_catalog); candidates this close to one are never passed over unfitted.
CATALOG_REACH_DEG = 0.3
#: Peaks this far below the new-source threshold are fitted: the threshold applies to the fitted
#: significance (a source between pixels peaks lower in its pixel than its fitted value).
CANDIDATE_MARGIN = 1.5
#: Radius (sky pixels) around a rejected candidate that the search skips afterwards.
REJECT_RADIUS_PIX = 2.0
#: Candidates rejected per band before the search stops (noise peaks near the threshold).
MAX_REJECTED = 100
#: Peaks where the coded fraction is below the reporting floor but above EDGE_CODED are
#: cleaned (not reported) from this significance on.
EDGE_CODED = 0.01
EDGE_SNR = 10.0


def _worth_refining(flux: float, error: float, threshold: float) -> bool:
    """Whether a fit of F/σ at an unrefined position may pass ``threshold`` once refined (or
    is bright enough to be refined anyway)."""
    needed = np.sqrt(threshold * threshold + POSITION_DOF) - REFINE_MARGIN
    return bool(flux > 0 and flux / error > min(BRIGHT_SNR, needed))


def _fit_candidate(
    frame: SearchFrame,
    found: list[DetectedSource],
    models: list[FloatArray],
    residual: FloatArray,
    model: FloatArray,
    site: tuple[float, float],
) -> tuple[float, float, FloatArray]:
    """Flux, error and background of a candidate source at ``site`` (tangents) with model
    ``model``, on the residual of the sources found so far.

    A candidate one mask period from a found source shares most of its shadow with it: fitted
    alone before it, that source took the candidate's flux too, and the residual keeps almost
    none. The two are then fitted together (that source's model added back), as in the joint
    fit that follows an accepted candidate.
    """
    variance, template, module, used = frame.variance, frame.template, frame.module, frame.used
    period_tan, pixel_tan = frame.period_tan, frame.decoder.pixel_tan
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
    refined = [] if refined is None else refined
    used = band.used & (decoder.weights > 0)
    rate0 = band.rate
    var = band.variance
    frame = SearchFrame(modeller, decoder, attitude, var, template, used)
    residual = rate0.copy()
    background = fit_background(residual, template, frame.module, used)
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

    period_tan, sigma_tan = frame.period_tan, frame.sigma_tan
    period_pix = period_tan / decoder.pixel_tan

    def fit_candidate(model: FloatArray, ty: float, tz: float) -> tuple[float, float, FloatArray]:
        """A candidate's flux, error and background on the present residual (with the found
        sources one mask period away refitted with it: :func:`_fit_candidate`)."""
        return _fit_candidate(frame, found, models, residual, model, (ty, tz))

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
                    frame,
                    found,
                    models,
                    residual,
                    image,
                    first.variance,
                    first.coded,
                    tried_splits,
                    threshold_new,
                )
                if split is None:
                    break
                found, models = split
                residual, background = _joint_refit(frame, found, models, rate0)
                refit_models, refit_background = list(models), background
                image = decoder.decode_image(residual - background)
                sig_all = None
                continue
            peak, a, b, entry = best[0], best[1], best[2], best[3]
        elif peak < GHOST_CHECK_SNR and _hopeless(
            frame,
            found,
            residual,
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
                frame,
                residual,
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
        candidate = DetectedSource.at(
            attitude,
            ty_f,
            tz_f,
            flux=flux,
            flux_error=err,
            significance=snr,
            peak_significance=peak,
            coded_fraction=float(first.coded[_clip_pixel(fa, fb, ok.shape)]),
            name=name,
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
                _refine_group(frame, found, models, [*group, len(found) - 1], residual)
        else:
            # Below its threshold alone; next to a source found before, it may be the fainter
            # member of a blend that source was first fitted on (two sources ~10' apart). Both
            # are then refined together, and the candidate judged on that joint fit.
            trial = None
            blended = [k for k in group if found[k].flux <= GROUP_FREE_RATIO * flux]
            if blended and flux > 0:
                trial = _resolve_blend(
                    frame, found, models, group, candidate, model_rate, residual, needed
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
        residual, background = _joint_refit(frame, found, models, rate0)
        refit_models, refit_background = list(models), background
        image = decoder.decode_image(residual - background)
        sig_all = None
    if found:
        found, models = _settle_ghosts(frame, found, models, rate0, ok, threshold_new)
        if len(models) == len(refit_models) and all(
            m is r for m, r in zip(models, refit_models, strict=True)
        ):
            # The ghosts settled as found: the last joint refit (the same models in the same
            # order, hence the same fluxes), its residual and image stand.
            background = refit_background
        else:
            residual, background = _joint_refit(frame, found, models, rate0)
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
    frame: SearchFrame,
    found: list[DetectedSource],
    residual: FloatArray,
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
    ty, tz = (float(v) for v in frame.decoder.pixel_to_tangent(fa, fb))
    if _near(found, [(ty, tz)], frame.decoder):
        return False
    model = frame.modeller.shadowgram(ty, tz)
    flux, err = flux_alone(
        model, residual, frame.variance, frame.template, frame.module, frame.used
    )
    return not _worth_refining(flux, err, threshold)


def _close_to(pixel: tuple[int, int], pixels: list[tuple[int, int]]) -> bool:
    """Whether ``pixel`` is within REJECT_RADIUS_PIX of any of ``pixels``."""
    return any(
        (pixel[0] - p[0]) ** 2 + (pixel[1] - p[1]) ** 2 <= REJECT_RADIUS_PIX**2 for p in pixels
    )


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
