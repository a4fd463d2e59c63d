"""The source catalog of a mosaic, measured in each science window's own sky grid.

Reprojection moves every ScW pixel by up to half a pixel (2.5′), which would bias positions and
fluxes measured on the mosaic grid. So the mosaic grid is used only to *find* sources; every
measurement is made in the native grids, where the per-ScW images are exact:

* **Known sources** are the single-ScW detections, grouped across ScWs. A group's flux is the
  inverse-variance mean over every ScW that covers it: the flux fitted in the shadowgram where
  the ScW detected it, and elsewhere the photometry of the ScW's residual image (the source is
  still there, as it was not found) at the group's position. With one ScW the catalog is that
  ScW's detections, unchanged.
* **Neighbours** (sources within CLUSTER_SIGMAS PSF widths) are measured together: a ScW's
  fits stand only where it detected every member, as its fit then modelled them all; where it
  missed one, the others' fits absorbed part of it (a member found half-way to its missed
  neighbour), so all members are measured there by a joint fit at the mosaic positions on the
  residual image with that ScW's own models of them restored. A group the mosaic does not
  confirm, each of whose detections lies near confirmed neighbours its ScW missed and is no
  brighter than they are together, is such a blend, not a transient, and is not listed.
* **Position**: the weighted mean of the detections when they carry most of the information;
  otherwise (a source detected in few of many ScWs) the maximum of the PSF-matched filter
  summed over all ScWs.
* **New sources** are searched in the mosaic of the residual images once the known sources'
  remaining contributions are removed (nothing of a bright source is left to split into
  spurious peaks), then measured like the known ones.
* **Ghost veto**: a single-ScW detection lying, in its own ScW's frame, on a ghost position of
  a brighter source that this ScW did not detect (and so did not clean) is an artefact; so is
  a lone, unconfirmed detection on a ghost position of a confirmed source the ScW did detect
  (that ScW's fit of the source lost flux to it: the source is measured without that ScW).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from astropy.wcs import WCS
from numpy.typing import NDArray
from scipy.optimize import minimize

from processing.codedmask._sourcemodel import peak_amplitude, psf_at
from processing.codedmask._sources import (
    MODEL_ERROR,
    _separation_deg,
    detection_significance,
    r90_arcmin,
    source_name,
)
from processing.instrument import Attitude, radec_to_unit, unit_to_radec

__all__ = ["ScwView", "mosaic_catalog"]

FloatArray = NDArray[np.float64]
#: Candidates of the residual mosaic this far below the threshold are measured (the mosaic's
#: nearest-neighbour grid lowers a peak by up to ~20 %).
CANDIDATE_MARGIN = 1.0
#: Half side (pixels) of the Gaussian matched filter used to refine positions.
FILTER_RADIUS = 4
#: Sources closer than this many PSF σ are measured jointly in each ScW (the PSF falls to
#: 3e-4 of its peak there, and a free-position fit does not drift so far).
CLUSTER_SIGMAS = 4.0
#: Joint photometry of sources this hard to separate (condition number of the PSF matrix) is
#: not attempted: each is measured alone, as below the resolution limit.
MAX_CONDITION = 10.0
#: Fractional systematic error of a published flux (the source model's accuracy, the same in
#: every ScW, so it does not average down in a mosaic): added in quadrature to the
#: statistical error. It matters above ~100σ, where mosaics otherwise gave flux pulls of 2-6.
FLUX_SYSTEMATIC = MODEL_ERROR


@dataclass
class ScwView:
    """One band of one ScW image: its maps, sky grid and detections."""

    index: int
    axes: tuple[FloatArray, FloatArray, FloatArray]
    centre: tuple[float, float]
    pixel_tan: float
    ghost_period_tan: float
    psf_sigma_pix: float
    patches: FloatArray
    #: The ScW's images as stored (float32, memory-mapped): read a few pixels at a time, each
    #: value taken to float64 where it is used, as a float64 copy would give it. A mosaic of
    #: 1,000 ScWs holds a view of each: copies would cost ~2 MB per ScW and band.
    intensity: NDArray[np.floating]
    residual: NDArray[np.floating]
    variance: FloatArray
    sources: list[dict[str, Any]]
    search: FloatArray = field(init=False)  # the residual, less what the mosaic found

    def __post_init__(self) -> None:
        self.search = np.array(self.residual, dtype=float)  # a copy, always

    @classmethod
    def of(cls, index: int, image: dict[str, Any], band: int) -> ScwView:
        att = Attitude(image["ra_x"], image["dec_x"], image["ra_z"], image["dec_z"])
        a0, b0 = image["centre_pixel"]
        return cls(
            index=index,
            axes=att.axes,
            centre=(float(a0), float(b0)),
            pixel_tan=float(image["pixel_tan"]),
            ghost_period_tan=float(image["ghost_period_tan"]),
            psf_sigma_pix=float(image["psf_sigma_pix"]),
            patches=np.asarray(image["psf_patches"], dtype=float),
            intensity=np.asarray(image["intensity"][band]),
            residual=np.asarray(image["residual"][band]),
            variance=np.asarray(image["variance"][band], dtype=float),
            sources=[dict(s, scw=index) for s in image["sources"] if s["band"] == band],
        )

    def tangents(self, vec: FloatArray) -> tuple[float, float] | None:
        x, y, z = self.axes
        nx = float(vec @ x)
        if nx <= 0.5:  # beyond 60° off axis: nowhere near the field of view
            return None
        return float(vec @ y) / nx, float(vec @ z) / nx

    def pixel(self, vec: FloatArray) -> tuple[float, float] | None:
        t = self.tangents(vec)
        if t is None:
            return None
        return t[0] / self.pixel_tan + self.centre[0], t[1] / self.pixel_tan + self.centre[1]

    def amplitude(self, vec: FloatArray, image: NDArray[np.floating]) -> tuple[float, float] | None:
        """Flux and variance of a point source at ``vec`` in ``image`` (residual or intensity)."""
        p = self.pixel(vec)
        if p is None:
            return None
        return peak_amplitude(image, self.variance, self.patches, *p)

    def psf_value(self, source: tuple[float, float], target: tuple[int, int]) -> float:
        """Image value at pixel ``target`` of a unit point source at fractional ``source``."""
        r = (self.patches.shape[-1] - 1) // 2
        ja, jb = round(source[0]), round(source[1])
        da, db = target[0] - ja + r, target[1] - jb + r
        if not (0 <= da <= 2 * r and 0 <= db <= 2 * r):
            return 0.0
        return float(psf_at(self.patches, source[0] - ja, source[1] - jb)[da, db])

    def joint_amplitudes(
        self, vecs: list[FloatArray], restore: list[tuple[FloatArray, float]]
    ) -> tuple[FloatArray, FloatArray] | None:
        """Fluxes and covariance of point sources at ``vecs`` fitted together on the residual
        image with ``restore`` ((position, flux) of models the ScW subtracted) added back.

        The photometry of :func:`peak_amplitude` solved for all sources at once: the value of
        each source's nearest pixel is the sum of every source's PSF there. ``None`` if one
        lies outside the image or the sources are too close to separate.
        """
        pix = [self.pixel(v) for v in vecs]
        if any(p is None for p in pix):
            return None
        sources = [p for p in pix if p is not None]
        ny, nz = self.residual.shape
        targets = [(round(fa), round(fb)) for fa, fb in sources]
        if not all(0 <= a < ny and 0 <= b < nz and self.variance[a, b] > 0 for a, b in targets):
            return None
        design = np.array([[self.psf_value(src, t) for src in sources] for t in targets])
        if not np.linalg.cond(design) < MAX_CONDITION:
            return None
        values = np.array([self.residual[t] for t in targets], dtype=float)
        for vec, flux in restore:
            p = self.pixel(vec)
            if p is not None:
                values += flux * np.array([self.psf_value(p, t) for t in targets])
        inverse = np.linalg.inv(design)
        variances = np.array([self.variance[t] for t in targets], dtype=float)
        return inverse @ values, (inverse * variances) @ inverse.T

    def matched(self, vec: FloatArray, image: NDArray[np.floating]) -> float:
        """Σ image·g/V around ``vec`` (g: Gaussian PSF); 0 outside the image."""
        p = self.pixel(vec)
        if p is None:
            return 0.0
        fa, fb = p
        ia, ib = round(fa), round(fb)
        r = FILTER_RADIUS
        ny, nz = image.shape
        if not (r <= ia < ny - r and r <= ib < nz - r) or not self.variance[ia, ib] > 0:
            return 0.0
        win = image[ia - r : ia + r + 1, ib - r : ib + r + 1]
        da = np.arange(ia - r, ia + r + 1) - fa
        db = np.arange(ib - r, ib + r + 1) - fb
        s2 = 2.0 * self.psf_sigma_pix**2
        g = np.exp(-(da[:, None] ** 2) / s2) * np.exp(-(db[None, :] ** 2) / s2)
        return float((win * g).sum() / self.variance[ia, ib])

    def subtract(self, vec: FloatArray, flux: float) -> None:
        """Remove a point source of ``flux`` at ``vec`` from the search image."""
        p = self.pixel(vec)
        if p is None:
            return
        fa, fb = p
        ia, ib = round(fa), round(fb)
        r = (self.patches.shape[-1] - 1) // 2
        ny, nz = self.search.shape
        if not (r <= ia < ny - r and r <= ib < nz - r):
            return
        patch = psf_at(self.patches, fa - ia, fb - ib)
        self.search[ia - r : ia + r + 1, ib - r : ib + r + 1] -= flux * patch


@dataclass
class _Source:
    """A mosaic source: its detections (empty for a new source) and its combined measurement."""

    vec: FloatArray
    detections: list[dict[str, Any]] = field(default_factory=list)
    flux: float = 0.0
    flux_error: float = np.inf
    photometry: dict[int, tuple[float, float]] = field(default_factory=dict)  # scw → (a, var)
    #: Whether the mosaic fitted the position (then the significance is corrected for it, as
    #: the ScWs' fits are: their fluxes arrive corrected).
    position_fitted: bool = False
    #: ScWs that took this source at a ghost position (a vetoed detection): cleaning that
    #: ghost removed the shadow the two share, so their residual no longer holds the source.
    excluded: set[int] = field(default_factory=set)
    #: Whether the mosaic confirms it (significant in the sum): only such sources are fitted
    #: as neighbours; the detections of the others near them are blends of them.
    resolved: bool = True

    @property
    def significance(self) -> float:
        if self.position_fitted:
            return detection_significance(self.flux, self.flux_error)
        return self.flux / self.flux_error if self.flux_error > 0 else 0.0

    @property
    def radec(self) -> tuple[float, float]:
        ra, dec = unit_to_radec(self.vec)
        return float(ra) % 360.0, float(dec)

    def detected_in(self, scw: int) -> bool:
        return any(d["scw"] == scw for d in self.detections)


def _unit(v: FloatArray) -> FloatArray:
    return np.asarray(v / np.linalg.norm(v))


def _measure(
    src: _Source,
    views: list[ScwView],
    image: str = "residual",
    neighbours: list[_Source] | None = None,
) -> None:
    """Flux of a source over the ScWs covering it: fitted where detected, photometry elsewhere.

    Where a ScW detected the source its fitted flux is taken; elsewhere the photometry of the
    ScW's residual image (``image``) at the source's position, where its signal was left. The
    weights must not depend on which of the two a ScW gave: a ScW misses a source when its
    noise is low there and finds it when it is high, so weighting the fits (smaller errors)
    more than the photometry would bias the mean up. Every ScW is weighted by the inverse
    variance of its photometry, and the error of the mean follows from each value's own.

    With ``neighbours`` (other sources, measured), those in a ScW's field within
    CLUSTER_SIGMAS PSF widths are measured with it there (module docstring).
    """
    src.photometry = {}
    weights: list[float] = []
    values: list[float] = []
    variances: list[float] = []
    fitted = {d["scw"]: d for d in src.detections}
    for view in views:
        if view.index in src.excluded:
            continue
        near = _cluster(src, neighbours or [], view)
        got = _photometry(src, near, view, image)
        if got is None or not got[1] > 0:
            continue
        d = fitted.get(view.index)
        # The ScW's fit modelled every neighbour, and none of its detections was a blend.
        complete = all(m.detected_in(view.index) == m.resolved for m in near)
        value, variance = got
        if d is not None and complete:
            value, variance = float(d["flux"]), float(d["flux_error"]) ** 2
        src.photometry[view.index] = (value, variance)
        weights.append(1.0 / got[1])
        values.append(value)
        variances.append(variance)
    if not weights:
        src.flux, src.flux_error = 0.0, np.inf
        return
    w = np.asarray(weights)
    src.flux = float((w * np.asarray(values)).sum() / w.sum())
    src.flux_error = float(np.sqrt((w * w * np.asarray(variances)).sum()) / w.sum())


def _cluster(src: _Source, others: list[_Source], view: ScwView) -> list[_Source]:
    """The sources other than ``src`` within CLUSTER_SIGMAS PSF widths of it in ``view``."""
    here = view.pixel(src.vec)
    if here is None:
        return []
    reach = CLUSTER_SIGMAS * view.psf_sigma_pix
    out = []
    for m in others:
        if m is src or view.index in m.excluded:
            continue
        p = view.pixel(m.vec)
        if p is not None and np.hypot(p[0] - here[0], p[1] - here[1]) <= reach:
            out.append(m)
    return out


def _photometry(
    src: _Source, cluster: list[_Source], view: ScwView, image: str
) -> tuple[float, float] | None:
    """Flux and variance of ``src`` in one ScW's image: alone, or jointly with the resolved
    sources of ``cluster`` on the residual with the ScW's models of all of them restored (its
    detections of unresolved ones are blends); None where not measurable."""
    if cluster:
        restore = [
            (radec_to_unit(d["ra"], d["dec"]), float(d["flux"]))
            for m in [src, *cluster]
            for d in m.detections
            if d["scw"] == view.index
        ]
        members = [src, *(m for m in cluster if m.resolved)]
        joint = view.joint_amplitudes([m.vec for m in members], restore)
        if joint is not None:
            return float(joint[0][0]), float(joint[1][0, 0])
        if not src.detected_in(view.index):
            return None  # its photometry would hold its neighbours' models or flux
    return view.amplitude(src.vec, getattr(view, image))


def _refine_position(src: _Source, views: list[ScwView], use_residual: bool) -> None:
    """Move ``src.vec`` to the maximum of the PSF-matched filter summed over the ScWs."""
    x0 = src.vec
    pole = np.array([0.0, 0.0, 1.0])
    east = np.cross(pole, x0)
    if np.linalg.norm(east) < 1e-9:
        east = np.array([0.0, 1.0, 0.0])
    east = _unit(east)
    north = np.cross(x0, east)
    step = min(v.pixel_tan for v in views)
    near = [v for v in views if v.pixel(x0) is not None]
    if not near:
        return

    def cost(uv: FloatArray) -> float:
        vec = _unit(x0 + step * (uv[0] * east + uv[1] * north))
        return -sum(v.matched(vec, v.search if use_residual else v.intensity) for v in near)

    simplex = np.array([[0.0, 0.0], [0.4, 0.0], [0.0, 0.4]])
    res = minimize(
        cost,
        np.zeros(2),
        method="Nelder-Mead",
        options={"initial_simplex": simplex, "xatol": 0.01, "fatol": 1e-9, "maxiter": 120},
    )
    uv = np.clip(res.x, -1.5, 1.5)  # a refinement, not a search: at most 1.5 pixels
    src.vec = _unit(x0 + step * (uv[0] * east + uv[1] * north))


def _locate(src: _Source, views: list[ScwView]) -> None:
    """Position of a known source, then its flux there."""
    dets = src.detections
    w = np.array([float(d["significance"]) ** 2 for d in dets])
    vecs = np.array([radec_to_unit(d["ra"], d["dec"]) for d in dets])
    src.vec = _unit((w[:, None] * vecs).sum(axis=0))
    _measure(src, views)
    covering = len(src.photometry)
    if covering > len(dets) and w.sum() < 0.5 * src.significance**2:
        # Most of the information is in ScWs that did not detect it.
        _refine_position(src, views, use_residual=False)
        src.position_fitted = True
        _measure(src, views)


def _group(detections: list[dict[str, Any]]) -> list[_Source]:
    """Single-ScW detections grouped by position, brightest first; one per ScW per group."""
    groups: list[_Source] = []
    for d in sorted(detections, key=lambda d: -float(d["significance"])):
        vec = radec_to_unit(d["ra"], d["dec"])
        best = None
        for g in groups:
            if g.detected_in(d["scw"]):
                continue
            ra, dec = g.radec
            reach = max(2.0 * float(d["r90_arcmin"]), 3.0) / 60.0
            sep = _separation_deg(ra, dec, d["ra"], d["dec"])
            if sep <= reach and (best is None or sep < best[0]):
                best = (sep, g)
        if best is None:
            groups.append(_Source(vec=vec, detections=[d]))
        else:
            g = best[1]
            g.detections.append(d)
            ws = np.array([float(x["significance"]) ** 2 for x in g.detections])
            vs = np.array([radec_to_unit(x["ra"], x["dec"]) for x in g.detections])
            g.vec = _unit((ws[:, None] * vs).sum(axis=0))
    return groups


def _ghost_of(
    d: dict[str, Any],
    view: ScwView,
    sources: list[_Source],
    margin: float = 3.0,
    own: _Source | None = None,
) -> _Source | None:
    """The source on one of whose ghosts (in its ScW's frame) detection ``d`` sits, no
    brighter than that source could make it; None if there is none.

    Sources the ScW did not detect (so did not clean) qualify; so do confirmed sources it did
    detect, when ``d``'s own group (``own``) is a lone detection the mosaic does not confirm:
    the ScW then took the ghost position as well, and its model there shares the source's
    shadow (its fit of the source lost flux to it; a real source near that ghost position,
    which the ScW then missed, lent it more)."""
    t = view.tangents(radec_to_unit(d["ra"], d["dec"]))
    if t is None:
        return None
    unconfirmed = own is not None and not own.resolved and len(own.detections) == 1
    tol = np.tan(np.radians(max(2.0 * float(d["r90_arcmin"]) / 60.0, 0.2)))
    period = view.ghost_period_tan
    for m in sources:
        if m is own or m.flux <= 0:
            continue
        if m.detected_in(view.index) and not (unconfirmed and m.resolved):
            continue
        tm = view.tangents(m.vec)
        if tm is None:
            continue
        dy, dz = abs(t[0] - tm[0]), abs(t[1] - tm[1])
        on_ghost = any(
            abs(dy - gy) < tol and abs(dz - gz) < tol
            for gy, gz in ((period, 0.0), (0.0, period), (period, period))
        )
        bound = m.flux + margin * np.hypot(m.flux_error, float(d["flux_error"]))
        if on_ghost and float(d["flux"]) <= bound:
            return m
    return None


def _outshone_by_conjugates(src: _Source, views: list[ScwView], margin: float = 1.0) -> bool:
    """Whether, at one of the eight ghost-conjugate positions (one mask period away in each
    ScW's own frame), the residual images hold a source within ``margin`` σ of this one.

    A real source's own ghosts sit there, fainter (they repeat its shadow only where both
    positions are coded); if this is the ghost of an uncleaned source, that source is there,
    brighter. Each direction is measured over every ScW covering it.
    """
    for i in (-1, 0, 1):
        for j in (-1, 0, 1):
            if i == j == 0:
                continue
            num = den = 0.0
            for view in views:
                t = view.tangents(src.vec)
                if t is None or view.index not in src.photometry:
                    continue
                x, y, z = view.axes
                p = view.ghost_period_tan
                vec = _unit(x + (t[0] + i * p) * y + (t[1] + j * p) * z)
                got = view.amplitude(vec, view.search)
                if got is not None and got[1] > 0:
                    num += got[0] / got[1]
                    den += 1.0 / got[1]
            if den > 0 and num / np.sqrt(den) >= src.significance - margin:
                return True
    return False


def _search_new(
    views: list[ScwView],
    residual: FloatArray,
    variance: FloatArray,
    wcs: WCS,
    threshold: float,
    known: list[_Source],
    max_sources: int = 100,
) -> list[_Source]:
    """Sources of the residual mosaic (known ones removed), measured in the native grids."""
    ok = variance > 0
    sig = np.where(ok, residual / np.sqrt(np.where(ok, variance, 1.0)), -np.inf)
    yy, xx = np.indices(sig.shape)
    excluded = np.zeros(sig.shape, dtype=bool)

    def exclude(vec: FloatArray, radius_pix: float) -> None:
        ra, dec = unit_to_radec(vec)
        x, y = wcs.world_to_pixel_values(float(ra), float(dec))
        excluded[(yy - y) ** 2 + (xx - x) ** 2 <= radius_pix**2] = True

    for src in known:  # their residual was removed; only noise and model error remain there
        exclude(src.vec, 1.5)
    found: list[_Source] = []
    for _ in range(4 * max_sources):
        if len(found) >= max_sources:
            break
        masked = np.where(excluded, -np.inf, sig)
        a, b = np.unravel_index(int(np.argmax(masked)), masked.shape)
        if not masked[a, b] >= threshold - CANDIDATE_MARGIN:
            break
        ra, dec = wcs.pixel_to_world_values(float(b), float(a))
        cand = _Source(vec=radec_to_unit(float(ra), float(dec)), position_fitted=True)
        _refine_position(cand, views, use_residual=True)
        _measure(cand, views, image="search")
        # One ScW has been searched already, and better (in its shadowgram); and a peak that
        # its ghost-conjugate positions outshine is the ghost of an uncleaned source there.
        real = len(cand.photometry) >= 2 and not _outshone_by_conjugates(cand, views)
        if real and cand.significance >= threshold:
            found.append(cand)
            for view in views:
                got = cand.photometry.get(view.index)
                if got is not None:
                    view.subtract(cand.vec, cand.flux)
            exclude(cand.vec, 2.0)
        else:
            exclude(cand.vec, 1.0)
    return found


def mosaic_catalog(
    views: list[ScwView],
    residual_mosaic: Any,
    threshold: float,
    catalog: list[dict[str, Any]],
    band: int,
) -> list[dict[str, Any]]:
    """Catalog rows of one band of a mosaic (see the module docstring).

    ``residual_mosaic(views)`` reprojects the views' residual images and returns
    (residual, variance, wcs) on the mosaic grid.
    """
    detections = [d for v in views for d in v.sources]
    known = _group(detections)
    for src in known:
        _locate(src, views)
    _deblend(known, views, threshold)
    # Remove what is left of every known source from the residual images (where it was not
    # detected, its signal is still there), then look for sources nobody detected alone.
    for src in known:
        for view in views:
            if view.index in src.photometry and not src.detected_in(view.index):
                view.subtract(src.vec, src.flux)
    residual, variance, wcs = residual_mosaic(views)
    new = _search_new(views, residual, variance, wcs, threshold, known)
    # Ghost veto, then the groups again without the vetoed detections.
    by_index = {v.index: v for v in views}
    everything = known + new
    group_of = {id(d): src for src in known for d in src.detections}
    parents = [
        _ghost_of(d, by_index[d["scw"]], everything, own=group_of.get(id(d))) for d in detections
    ]
    kept = [d for d, parent in zip(detections, parents, strict=True) if parent is None]
    if len(kept) < len(detections):
        known = _group(kept)
        for d, parent in zip(detections, parents, strict=True):
            target = None if parent is None else _nearest(parent.vec, known + new)
            if target is not None:
                target.excluded.add(int(d["scw"]))
        for src in known:
            _locate(src, views)
        _deblend(known, views, threshold)
        for src in new:
            if src.excluded:
                _measure(src, views, image="search")
    blends = [s for s in known if not s.resolved and _blend(s, known, by_index)]
    published = [s for s in known if not any(s is b for b in blends)]
    return _rows(band, published, new, threshold, catalog)


def _deblend(sources: list[_Source], views: list[ScwView], threshold: float) -> None:
    """Measure again, with their neighbours, the located sources that have any: those the
    mosaic confirms are fitted together; the others' detections near them are blends."""
    for src in sources:
        src.resolved = src.significance >= threshold
    for src in sources:
        if any(_cluster(src, sources, v) for v in views if v.index in src.photometry):
            _measure(src, views, neighbours=sources)


def _nearest(vec: FloatArray, sources: list[_Source], reach_deg: float = 0.2) -> _Source | None:
    """The source within ``reach_deg`` of ``vec`` (a vetoed ghost's parent, regrouped)."""
    best = max(sources, key=lambda s: float(s.vec @ vec), default=None)
    if best is None or float(best.vec @ vec) < np.cos(np.radians(reach_deg)):
        return None
    return best


def _blend(src: _Source, known: list[_Source], views: dict[int, ScwView]) -> bool:
    """Whether every detection of an unconfirmed source can be its confirmed neighbours that its
    ScW missed, found together at a position between them: no brighter than their summed
    mosaic fluxes (3σ), and within CLUSTER_SIGMAS PSF widths of them."""
    for d in src.detections:
        view = views[d["scw"]]
        missed = [
            m for m in _cluster(src, known, view) if m.resolved and not m.detected_in(view.index)
        ]
        if not missed:
            return False
        if float(d["flux"]) > sum(m.flux for m in missed) + 3.0 * float(d["flux_error"]):
            return False
    return True


def _measured(src: _Source) -> dict[str, Any]:
    """The catalog columns of a source measured in the mosaic."""
    ra, dec = src.radec
    return {
        "ra": ra,
        "dec": dec,
        "flux": src.flux,
        "flux_error": src.flux_error,
        "significance": src.significance,
        "peak_significance": src.significance,
        "r90_arcmin": float(r90_arcmin(src.significance)),
        "origin": "mosaic",
    }


def _rows(
    band: int,
    known: list[_Source],
    new: list[_Source],
    threshold: float,
    catalog: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """One row per source: name, position, flux, errors, origin."""
    rows: list[dict[str, Any]] = []
    for src in known:
        names: dict[str, int] = {}
        for d in src.detections:
            names[d["name"]] = names.get(d["name"], 0) + 1 + 1000 * int(d["catalog"])
        name = max(names, key=lambda n: (names[n], n))
        catalog_named = any(d["catalog"] and d["name"] == name for d in src.detections)
        if src.significance >= threshold:
            row = _measured(src)
        else:
            # Significant in some ScW(s), not in the sum (a transient): its best detection.
            best = max(src.detections, key=lambda d: float(d["significance"]))
            row = {
                k: best[k]
                for k in ("ra", "dec", "flux", "flux_error", "significance", "peak_significance")
            }
            row["r90_arcmin"] = float(best["r90_arcmin"])
            row["origin"] = "scw"
        row.update(band=band, name=name, n_scw=len(src.detections), catalog=catalog_named)
        rows.append(row)
    for src in new:
        row = _measured(src)
        ra, dec, r90 = row["ra"], row["dec"], row["r90_arcmin"]
        near = [(_separation_deg(ra, dec, c["ra"], c["dec"]), c["name"]) for c in catalog]
        close = [c for c in near if c[0] <= max(1.5 * r90 / 60.0, 0.1)]
        name = min(close)[1] if close else source_name(ra, dec)
        row.update(band=band, name=name, n_scw=0, catalog=bool(close))
        rows.append(row)
    for r in rows:
        r["flux_error"] = float(np.hypot(r["flux_error"], FLUX_SYSTEMATIC * abs(r["flux"])))
    rows.sort(key=lambda r: -float(r["significance"]))
    seen: set[str] = set()
    for r in rows:  # a name appears once: a second peak near a named source is named anew
        if r["name"] in seen:
            r["name"] = source_name(r["ra"], r["dec"])
            r["catalog"] = False
        seen.add(r["name"])
    return rows
