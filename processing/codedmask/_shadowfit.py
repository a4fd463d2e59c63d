"""Linear fits of source models to a shadowgram together with the per-module background.

The background is the IC template scaled by one factor per detector module. Its columns in the
design matrix are disjoint (each module's pixels), so it is eliminated in closed form instead of
being solved with the sources (Frisch-Waugh-Lovell): every source model is replaced by its part
that the background cannot explain, the model minus its (weighted) projection onto the template
in each module, and the sources are fitted on those alone. Fluxes, their errors and the weights
that make them are those of the full joint fit, at the cost of a few ``bincount`` calls instead
of the pseudo-inverse of a matrix with a column per module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

try:
    from numba import njit

    COMPILED = True
except ImportError:  # pragma: no cover - numba is a dependency; this keeps NumPy-only installs
    COMPILED = False

__all__ = [
    "COMPILED",
    "Reduced",
    "chi2",
    "compile_now",
    "flux_alone",
    "least_squares",
    "reduce",
    "weighted_alone",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class _Basis:
    """The fitted pixels of one band (used, in a module, template > 0), grouped by module."""

    template_map: FloatArray
    module_map: NDArray[np.integer]
    used: NDArray[np.bool_]
    #: Flat indices of the fitted pixels, module by module.
    pixels: NDArray[np.intp]
    #: The template there.
    template: FloatArray
    #: Where each module's pixels start in ``pixels``, and how many there are.
    starts: NDArray[np.intp]
    counts: NDArray[np.intp]
    #: The modules present (those with a fitted pixel).
    modules: NDArray[np.intp]
    #: 1 / Σ t² per module present.
    inverse_norm: FloatArray

    def sums(self, values: FloatArray) -> FloatArray:
        """Per module present, the sum of ``values`` over its pixels (the last axis: pixels)."""
        return np.add.reduceat(values, self.starts, axis=-1)

    def expand(self, per_module: FloatArray) -> FloatArray:
        """A value per module present (last axis), repeated over its pixels."""
        return np.repeat(per_module, self.counts, axis=-1)


_last: list[_Basis] = []


def _basis(template: FloatArray, module: NDArray[np.integer], used: NDArray[np.bool_]) -> _Basis:
    """The fitted pixels. A search makes hundreds of fits of one band with the same arrays:
    the last basis is kept (matched by identity of the arrays, never modified in place)."""
    if _last:
        b = _last[0]
        if b.template_map is template and b.module_map is module and b.used is used:
            return b
    flat_module = module.ravel()
    pixels = np.flatnonzero(used & (module >= 0) & (template > 0))
    pixels = pixels[np.argsort(flat_module[pixels], kind="stable")]
    mods, starts, counts = np.unique(flat_module[pixels], return_index=True, return_counts=True)
    values = template.ravel()[pixels]
    b = _Basis(
        template,
        module,
        used,
        pixels,
        values,
        starts.astype(np.intp),
        counts.astype(np.intp),
        mods.astype(np.intp),
        np.zeros(0),
    )
    if pixels.size:
        b = replace(b, inverse_norm=1.0 / b.sums(values * values))
    _last[:] = [b]
    return b


@dataclass(frozen=True)
class Reduced:
    """Source models at the fitted pixels, with and without their background part.

    Models are rows (models × pixels): each model's values are contiguous, which the sums
    per module and the products of a fit read row by row.
    """

    basis: _Basis
    #: The fit weights there, or None for an unweighted fit.
    weight: FloatArray | None
    #: 1 / Σ w·t² per module present.
    inverse_norm: FloatArray
    #: The models there (models × pixels).
    columns: FloatArray
    #: The models less their projection onto the background (models × pixels).
    reduced: FloatArray

    def at(self, values: FloatArray) -> FloatArray:
        """A map's values at the fitted pixels, in the order of the columns."""
        return values.ravel()[self.basis.pixels]

    def per_module(self, values: FloatArray) -> FloatArray:
        """(TᵀWT)⁻¹TᵀW·values: the background scale per module that best explains ``values``."""
        if not values.size:
            return np.zeros(0)
        weighted = self.basis.template * values
        if self.weight is not None:
            weighted = self.weight * weighted
        return self.inverse_norm * self.basis.sums(weighted)

    def background(self, shape: tuple[int, ...], beta: FloatArray) -> FloatArray:
        """The background map of per-module scales ``beta`` (0 outside the fitted pixels)."""
        out = np.zeros(int(np.prod(shape)))
        out[self.basis.pixels] = self.basis.expand(beta) * self.basis.template
        return out.reshape(shape)


def reduce(
    models: Sequence[FloatArray],
    template: FloatArray,
    module: NDArray[np.integer],
    used: NDArray[np.bool_],
    variance: FloatArray | None = None,
) -> Reduced:
    """The models with the background eliminated; weighted by 1/``variance`` when given (a
    pixel of zero variance takes the smallest positive one)."""
    basis = _basis(template, module, used)
    tmpl = basis.template
    weight: FloatArray | None = None
    if variance is None:
        inverse = basis.inverse_norm
    else:
        v = variance.ravel()[basis.pixels]
        weight = 1.0 / np.where(v > 0, v, max(float(v[v > 0].min(initial=1.0)), 1e-12))
        inverse = 1.0 / basis.sums(weight * tmpl * tmpl) if tmpl.size else np.zeros(0)
    columns = np.empty((len(models), tmpl.size))
    for k, m in enumerate(models):
        np.take(m.ravel(), basis.pixels, out=columns[k])
    if not tmpl.size:
        return Reduced(basis, weight, inverse, columns, columns)
    wt = tmpl if weight is None else weight * tmpl
    share = inverse * basis.sums(wt * columns)
    reduced = columns - tmpl * basis.expand(share)
    return Reduced(basis, weight, inverse, columns, reduced)


def least_squares(
    models: Sequence[FloatArray],
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
    red = reduce(models, template, module, used)
    a = red.reduced  # models × pixels
    gram_inv = np.linalg.pinv(a @ a.T)
    data = red.at(rate)
    coef = gram_inv @ (a @ data)
    rows = gram_inv @ a
    errors = np.sqrt((rows * rows) @ red.at(variance))
    beta = red.per_module(data - coef @ red.columns)
    return np.asarray(coef), np.asarray(errors), red.background(rate.shape, beta)


def _alone_sums(
    model: FloatArray,
    rate: FloatArray,
    variance: FloatArray,
    pixels: NDArray[np.intp],
    template: FloatArray,
    starts: NDArray[np.intp],
    counts: NDArray[np.intp],
    inverse: FloatArray,
) -> tuple[float, float, float]:
    """For one model (flat maps), with a = the model less its background part per module:
    a·rate, a·a and Σ a²·variance over the fitted pixels. One pass per module to find the
    model's background part, one to accumulate: no temporary arrays."""
    num = 0.0
    den = 0.0
    noise = 0.0
    for m in range(starts.size):
        lo = starts[m]
        hi = lo + counts[m]
        tc = 0.0
        for k in range(lo, hi):
            tc += template[k] * model[pixels[k]]
        share = inverse[m] * tc
        for k in range(lo, hi):
            p = pixels[k]
            a = model[p] - template[k] * share
            aa = a * a
            num += a * rate[p]
            den += aa
            noise += aa * variance[p]
    return num, den, noise


if COMPILED:
    _alone_sums = njit(cache=True, error_model="numpy")(_alone_sums)


def flux_alone(
    model: FloatArray,
    rate: FloatArray,
    variance: FloatArray,
    template: FloatArray,
    module: NDArray[np.integer],
    used: NDArray[np.bool_],
) -> tuple[float, float]:
    """Flux and error of one model fitted with the background: :func:`least_squares` of
    ``[model]`` without the background map. A search judges most candidates on this alone
    (~20 per band); compiled, it makes no temporary arrays (~4× faster: 0.06 against 0.25 ms)."""
    if not COMPILED:
        flux, err, _ = least_squares([model], rate, variance, template, module, used)
        return float(flux[0]), float(err[0])
    basis = _basis(template, module, used)
    num, den, noise = _alone_sums(
        np.ascontiguousarray(model, dtype=np.float64).ravel(),
        np.ascontiguousarray(rate, dtype=np.float64).ravel(),
        np.ascontiguousarray(variance, dtype=np.float64).ravel(),
        basis.pixels,
        basis.template,
        basis.starts,
        basis.counts,
        basis.inverse_norm,
    )
    if not den > 0.0:  # a model the background explains entirely: the pseudo-inverse's 0
        return 0.0, 0.0
    return num / den, float(np.sqrt(noise)) / den


def compile_now() -> None:
    """Compile the fit kernel (or load it from numba's disk cache): see
    :func:`processing.codedmask._pif_kernel.compile_now`."""
    one = np.ones((2, 2))
    flux_alone(one, one, one, one, np.zeros((2, 2), dtype=np.int16), one > 0)


def weighted_alone(
    data: FloatArray,
    variance: FloatArray,
    template: FloatArray,
    module: NDArray[np.integer],
    used: NDArray[np.bool_],
    model: FloatArray,
    context: Sequence[FloatArray] = (),
) -> tuple[float, FloatArray]:
    """Significance of ``model`` fitted by variance-weighted least squares with the background
    and the ``context`` models, and each fitted pixel's share of its noise: the weight that
    makes the flux from the data times the pixel's standard deviation, over the flux error
    (unit norm). The noise of two such fits correlates by the dot product of these."""
    red = reduce([model, *context], template, module, used, variance)
    assert red.weight is not None
    weighted = red.reduced * red.weight
    row = np.linalg.pinv(weighted @ red.reduced.T)[0] @ weighted
    flux = float(row @ red.at(data))
    noise = row * np.sqrt(red.at(variance))
    err = float(np.sqrt(noise @ noise))
    return (flux / err if err > 0 else -np.inf), noise / max(err, 1e-300)


def chi2(
    models: Sequence[FloatArray],
    data: FloatArray,
    variance: FloatArray,
    template: FloatArray,
    module: NDArray[np.integer],
    used: NDArray[np.bool_],
) -> float:
    """χ² of the (unweighted) joint fit of ``models`` and the background."""
    flux, _, background = least_squares(models, data, variance, template, module, used)
    r = data - np.tensordot(flux, np.asarray(models), axes=1) - background
    sel = used & (module >= 0) & (template > 0) & (variance > 0)
    return float(np.sum(r[sel] ** 2 / variance[sel]))
