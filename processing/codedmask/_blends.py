"""Close sources: positions and fluxes refined together, and single fits that turn out to be
blends of two (docs/imaging.md, "Confusion").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from processing.codedmask._shadowfit import flux_alone
from processing.codedmask._shadowfit import least_squares as _least_squares
from processing.codedmask._sourcemodel import (
    SearchFrame,
    _gauss_newton,
)
from processing.codedmask._sources import (
    BRIGHT_SNR,
    GROUP_RADIUS_PIX,
    DetectedSource,
    FloatArray,
    _model_systematic,
    _near,
    detection_significance,
    r90_arcmin,
    source_name,
)

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


def _refine_group(
    frame: SearchFrame,
    found: list[DetectedSource],
    models: list[FloatArray],
    group: list[int],
    residual: FloatArray,
) -> None:
    """Refine the positions and fluxes of overlapping sources together.

    ``residual`` is the rate with every source found so far removed. The group's models are
    added back to it and their positions found by
    Gauss-Newton steps on the joint fit (fluxes, positions and the background together; the
    position derivatives of each model by finite differences), then the final models are
    fitted together with the background. Updates ``found`` and ``models`` in place.
    """
    modeller, decoder = frame.modeller, frame.decoder
    data = residual + sum(found[k].flux * models[k] for k in group)
    start = np.array([[found[k].ty, found[k].tz] for k in group])
    # A source far brighter than the newcomer keeps its position: the blend hardly moved it,
    # and its own fit (in the shadowgram, with fine rays when bright) is the better one.
    newest = abs(found[group[-1]].flux)
    free = [found[k].flux <= GROUP_FREE_RATIO * newest for k in group]
    pos = _gauss_newton(
        modeller, data, start, frame.template, frame.used, decoder.pixel_tan, free=free
    )
    n = len(group)
    # Two sources merged into one place, or run away, are not resolved: keep where they were.
    gaps = [np.hypot(*(pos[i] - pos[j])) for i in range(n) for j in range(i)]
    if min(gaps) < 0.5 * decoder.pixel_tan or np.max(np.abs(pos - start)) > 3 * decoder.pixel_tan:
        pos = start
    cols = []
    for ty, tz in pos:
        cols.append(modeller.shadowgram(float(ty), float(tz)))
    flux, err, _ = _least_squares(
        cols, data, frame.variance, frame.template, frame.module, frame.used
    )
    for i, k in enumerate(group):
        ty, tz = pos[i]
        ra, dec = frame.attitude.to_sky(ty, tz)
        src = found[k]
        src.ty, src.tz = float(ty), float(tz)
        src.ra, src.dec = float(ra), float(dec)
        src.offaxis_deg = float(np.degrees(np.arctan(np.hypot(ty, tz))))
        src.flux, src.flux_error = float(flux[i]), float(err[i])
        src.significance = detection_significance(src.flux, src.flux_error)
        src.r90_arcmin = float(r90_arcmin(src.significance))
        models[k] = cols[i]


def _resolve_blend(
    frame: SearchFrame,
    found: list[DetectedSource],
    models: list[FloatArray],
    group: list[int],
    candidate: DetectedSource,
    model_rate: FloatArray,
    residual: FloatArray,
    needed: float,
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
        frame, trial, trial_models, [*group, len(trial) - 1], residual - candidate.flux * model_rate
    )
    new = trial[-1]
    sys_err = _model_systematic(trial[:-1], new.ty, new.tz, frame.period_tan, frame.sigma_tan)
    if (
        not new.flux > 0
        or detection_significance(new.flux, float(np.hypot(new.flux_error, sys_err))) < needed
    ):
        return None
    return trial, trial_models


def _split_blends(
    frame: SearchFrame,
    found: list[DetectedSource],
    models: list[FloatArray],
    residual: FloatArray,
    image: FloatArray,
    image_variance: FloatArray,
    coded: FloatArray,
    tried: set[str],
    threshold: float,
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
    modeller, decoder, attitude = frame.modeller, frame.decoder, frame.attitude
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
        flux, err = flux_alone(
            model, residual, frame.variance, frame.template, frame.module, frame.used
        )
        if not flux > 0:
            continue
        partner = DetectedSource.at(
            attitude,
            ty,
            tz,
            flux=flux,
            flux_error=err,
            significance=detection_significance(flux, err),
            peak_significance=lobe / float(np.sqrt(image_variance[ia, ib])),
            coded_fraction=float(coded[ia, ib]),
        )
        group = [
            k
            for k, other in enumerate(found)
            if np.hypot(other.ty - ty, other.tz - tz) < GROUP_RADIUS_PIX * decoder.pixel_tan
        ]
        trial = _resolve_blend(frame, found, models, group, partner, model, residual, threshold)
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
