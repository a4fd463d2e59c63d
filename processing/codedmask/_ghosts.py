"""Ghosts: a source and its ghost-conjugate positions (one basic-pattern period away) can
explain nearly the same shadowgram; which one the data demand is decided here, during the search
(a peak against its conjugates) and once it ends (each faint new source against its own).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from processing.codedmask._shadowfit import chi2 as _chi2
from processing.codedmask._shadowfit import least_squares as _least_squares
from processing.codedmask._shadowfit import weighted_alone as _alone
from processing.codedmask._sourcemodel import (
    SearchFrame,
    _gauss_newton,
    _refine,
)
from processing.codedmask._sources import (
    DetectedSource,
    FloatArray,
    _conjugates,
    _model_systematic,
    _move,
    _near,
    _position_fitted,
    detection_significance,
    r90_arcmin,
)

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
    frame: SearchFrame,
    residual: FloatArray,
    image: FloatArray,
    ok: NDArray[np.bool_],
    pixels: list[tuple[int, int]],
    neighbours: list[tuple[float, FloatArray]],
) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """Of a peak and its ghost-conjugate pixels, the one whose model alone is fitted most
    significantly (:func:`_alone`).

    ``neighbours`` (flux, model) are found sources near these pixels: they are added back to
    the residual and refitted in each comparison.

    Returns the winner, and the runner-up when it comes within GHOST_AMBIGUITY (σ), if any:
    near the detection limit the data may not tell a source from its ghost. (All conjugates
    fitted at once would not do: several ghosts together rebuild the true shadow.)
    """
    modeller, decoder = frame.modeller, frame.decoder
    variance, template, module, used = frame.variance, frame.template, frame.module, frame.used
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
    frame: SearchFrame, found: list[DetectedSource], models: list[FloatArray], rate: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Refit every source's flux together with the per-module background (unweighted LSQ).

    Returns the residual (rate minus the sources) and the background map.
    """
    fluxes, errors, background = _least_squares(
        models, rate, frame.variance, frame.template, frame.module, frame.used
    )
    for k, src in enumerate(found):
        src.flux = float(fluxes[k])
        src.flux_error = float(errors[k])
        src.significance = detection_significance(src.flux, src.flux_error)
        src.r90_arcmin = float(r90_arcmin(src.significance))
    return np.asarray(rate - np.tensordot(fluxes, np.asarray(models), axes=1)), background


def _settle_ghosts(
    frame: SearchFrame,
    found: list[DetectedSource],
    models: list[FloatArray],
    rate: FloatArray,
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
    modeller, decoder, attitude = frame.modeller, frame.decoder, frame.attitude
    variance, template, module, used = frame.variance, frame.template, frame.module, frame.used
    period, sigma_tan = frame.period_tan, frame.sigma_tan
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
                    frame,
                    data - sum((fluxes[c] * context[c] for c in rest), np.zeros_like(rate)),
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
                extra = DetectedSource.at(
                    attitude,
                    ty,
                    tz,
                    flux=0.0,  # the caller refits every flux
                    flux_error=np.inf,
                    significance=s_other,
                    peak_significance=s_other,
                    coded_fraction=float(decoder.coded[a, b]),
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


def _relocated_with_neighbours(
    frame: SearchFrame,
    data: FloatArray,
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
    modeller, decoder = frame.modeller, frame.decoder
    variance, template, module, used = frame.variance, frame.template, frame.module, frame.used
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
