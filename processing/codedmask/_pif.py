"""Pixel illumination fractions (PIF) of the sky-model sources in one science window.

The PIF of a source is the fraction of each crystal it sees through the thick mask (0 in gaps,
on dead pixels and outside the mask's shadow), from the same ray tracing the simulator uses.
Together with the on-axis-equivalent normalisation of :func:`source_scale` it predicts the counts
a source of a given on-axis count rate puts in every pixel.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix

from processing.codedmask import _pif_kernel
from processing.codedmask._camera import adapter_or_none, load_model, max_offaxis_deg
from processing.codedmask._skymodel import sources_from_param
from processing.instrument import (
    Attitude,
    DetectorGeometry,
    Instrument,
    MaskGeometry,
)
from processing.pipeline import (
    AnalysisUnit,
    Calibration,
    ExternalFile,
    Float,
    Int,
    List,
    NodeInput,
    Str,
    UnitContext,
    declare,
)

__all__ = [
    "SourcePIF",
    "exact_pixel_illumination",
    "fast_pixel_illumination",
    "instrument_calibration",
    "instrument_for",
    "source_pifs",
    "source_scale",
]

FloatArray = NDArray[np.float64]

#: A source lighting less than this fraction of the detector is left out of a fit.
MIN_ILLUMINATED_FRACTION = 0.02


def _cells(mask: MaskGeometry, pos: NDArray[np.float64]) -> NDArray[np.int64]:
    idx = np.floor(pos / mask.element_mm + 0.5 * mask.size).astype(np.int64)
    idx[(idx < 0) | (idx >= mask.size)] = -1  # -1 indexes the closed padding row/column
    return idx


def fast_pixel_illumination(
    mask: MaskGeometry, geometry: DetectorGeometry, ty: float, tz: float, oversample: int = 6
) -> NDArray[np.float32]:
    """The PIF of :func:`processing.instrument.pixel_illumination`, computed separably.

    The ray test of ``transmitted`` depends on a sample point's Y only through the mask cells
    and boundary crossing along Y, and on Z only through those along Z; so cells and crossing
    fractions are computed once per sample row and column (~800 each) and combined by
    broadcasting, instead of for each of the ~600 000 sample points. Same arithmetic, same
    result (the tests check equality), several times faster.
    """
    c = geometry.crystal_mm
    offs = (np.arange(oversample) + 0.5) / oversample * c - 0.5 * c
    ys = (geometry.y_mm[:, None] + offs[None, :]).ravel()
    zs = (geometry.z_mm[:, None] + offs[None, :]).ravel()
    h_low = mask.focal_mm - 0.5 * mask.thickness_mm
    h_high = mask.focal_mm + 0.5 * mask.thickness_mm
    y1, y2 = ys + h_low * ty, ys + h_high * ty
    z1, z2 = zs + h_low * tz, zs + h_high * tz
    k1, k2 = _cells(mask, y1), _cells(mask, y2)
    l1, l2 = _cells(mask, z1), _cells(mask, z2)
    size = mask.size
    pattern = np.zeros((size + 1, size + 1), dtype=bool)
    pattern[:size, :size] = mask.pattern == 1
    ok = pattern[k1[:, None], l1[None, :]] & pattern[k2[:, None], l2[None, :]]
    cross_y = k1 != k2
    cross_z = l1 != l2
    both = ok & cross_y[:, None] & cross_z[None, :]
    if np.any(both):
        e = mask.element_mm
        half = 0.5 * size * e
        with np.errstate(divide="ignore", invalid="ignore"):
            fy = (np.maximum(k1, k2) * e - half - y1) / (y2 - y1)
            fz = (np.maximum(l1, l2) * e - half - z1) / (z2 - z1)
        iy, iz = np.nonzero(both)
        first_y = fy[iy] < fz[iz]
        mid_k = np.where(first_y, k2[iy], k1[iy])
        mid_l = np.where(first_y, l1[iz], l2[iz])
        ok[iy, iz] = pattern[mid_k, mid_l]
    ny, nz = geometry.shape
    frac = ok.reshape(ny, oversample, nz, oversample).mean(axis=(1, 3))
    return (frac * geometry.live).astype(np.float32)


def instrument_calibration(instrument: Instrument, archive_root: Path) -> Calibration:
    """The pipeline calibration naming the instrument's IC files (identity of every fit node)."""
    root = Path(archive_root)
    files = tuple(
        ExternalFile(root / label, f"sha256:{checksum}", label=label)
        for label, checksum in instrument.calibration_files
    )
    spec = adapter_or_none(instrument)
    prefix = "" if spec is None else f"{spec.name}-ic-"
    return Calibration(f"{prefix}{instrument.calibration_version}", files)


@functools.lru_cache(maxsize=4)
def _load(root: str, labels: tuple[str, ...]) -> Instrument:
    return load_model(Path(root), labels)


def instrument_for(calibration: Calibration | None) -> Instrument:
    """The instrument model of a node's calibration (loaded once per process)."""
    if calibration is None or not calibration.files:
        raise ValueError("this unit needs the instrument calibration files")
    first = calibration.files[0]
    path = str(first.path)
    if not path.endswith(first.label):
        raise ValueError(f"calibration file {path} does not end with its label {first.label}")
    labels = tuple(str(f.label) for f in calibration.files)
    return _load(path[: len(path) - len(first.label)] or ".", labels)


def source_scale(instrument: Instrument, cos_theta: float) -> float:
    """Counts per second in a pixel of PIF 1 for a source of on-axis-equivalent rate 1 count/s.

    The products' ARF is the on-axis effective area A_eff(E) (open mask included). A source of
    on-axis rate r delivers r / A_eff-normalisation photons per cm² of crystal; the simulator (and
    the sky) spreads them uniformly over the crystals and the mask lets through the PIF fraction,
    scaled by cos θ for the projected area. So a pixel sees r · cos θ · a_crystal · PIF /
    (f_open · A_sensitive).
    """
    det = instrument.detector
    crystal_cm2 = (det.crystal_mm / 10.0) ** 2
    nominal = instrument.effective_area.nominal_open_fraction * det.sensitive_area_cm2
    return float(cos_theta * crystal_cm2 / nominal)


def source_pifs(
    instrument: Instrument,
    attitude: Attitude,
    ra: NDArray[np.float64],
    dec: NDArray[np.float64],
    oversample: int = 6,
) -> dict[str, NDArray[Any]]:
    """PIF maps and geometry of sources for one pointing.

    Returns ``pif`` (source × DETY × DETZ, float32), ``scale`` (counts/s per pixel of PIF 1 per
    unit on-axis rate), ``offaxis_deg``, ``cos_theta`` and ``usable`` (1 when the source has a
    shadow worth fitting).
    """
    ty, tz, front = attitude.to_tangents(np.asarray(ra, float), np.asarray(dec, float))
    ty, tz = np.atleast_1d(ty), np.atleast_1d(tz)
    front = np.atleast_1d(front)
    offaxis = np.degrees(np.arctan(np.hypot(ty, tz)))
    cos_theta = 1.0 / np.sqrt(1.0 + ty**2 + tz**2)
    n = ty.size
    pif = np.zeros((n, *instrument.detector.shape), dtype=np.float32)
    usable = np.zeros(n, dtype=np.int8)
    live = float(instrument.detector.live.sum())
    limit = max_offaxis_deg(instrument)
    spec = adapter_or_none(instrument)
    exact = spec is not None and spec.exact_pif
    for k in range(n):
        if not front[k] or offaxis[k] >= limit:
            continue
        if exact:
            pif[k] = exact_pixel_illumination(
                instrument.mask, instrument.detector, float(ty[k]), float(tz[k])
            )
        else:
            pif[k] = fast_pixel_illumination(
                instrument.mask, instrument.detector, float(ty[k]), float(tz[k]), oversample
            )
        usable[k] = int(pif[k].sum() / live >= MIN_ILLUMINATED_FRACTION)
    scale = np.array([source_scale(instrument, float(c)) for c in cos_theta])
    return {
        "pif": pif,
        "scale": scale,
        "offaxis_deg": offaxis,
        "cos_theta": cos_theta,
        "usable": usable,
    }


class SourcePIF(AnalysisUnit):
    """PIF maps of the sky-model sources for one science window (attitude from the binned ScW)."""

    name = "isgri.source_pif"
    version = "1"
    params = declare(
        source_names=List(Str(), min_length=1),
        source_ra=List(Float(digits=10, min=-360.0, max=720.0), min_length=1),
        source_dec=List(Float(digits=10, min=-90.0, max=90.0), min_length=1),
        oversample=Int(min=1, max=16, default=6),
    )
    inputs = declare(scw=NodeInput(doc="output of isgri.bin_scw (for the attitude)"))
    codec = "numpy"

    def run(self, ctx: UnitContext, scw: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        instrument = instrument_for(ctx.calibration)
        sources = sources_from_param(self.config)
        att = Attitude(
            float(scw["ra_x"]), float(scw["dec_x"]), float(scw["ra_z"]), float(scw["dec_z"])
        )
        out = source_pifs(
            instrument,
            att,
            np.array([s.ra for s in sources]),
            np.array([s.dec for s in sources]),
            oversample=int(self.config["oversample"]),
        )
        ctx.check()
        return out


def _axis_segments(
    centres: NDArray[np.float64],
    crystal: float,
    shift_low: float,
    shift_high: float,
    mask: MaskGeometry,
) -> tuple[
    NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.intp]
]:
    """Split each crystal's extent along one axis where the ray changes mask element.

    A ray from detector coordinate ``y`` meets the mask's lower face at ``y + shift_low`` and
    its upper face at ``y + shift_high``; element boundaries on either face cut the crystal into
    segments. Returns, for every crystal's segments in turn: the length (mm), the element on
    each face (−1 outside the mask) and, where the two differ, the fraction of the thickness at
    which the ray crosses the boundary, at both segment ends; and the index of each crystal's
    first segment.
    """
    e, n = mask.element_mm, mask.size
    bounds = (np.arange(n + 1) - 0.5 * n) * e
    cuts = np.sort(np.concatenate([bounds - shift_low, bounds - shift_high]))
    lo, hi = centres - 0.5 * crystal, centres + 0.5 * crystal
    first = np.searchsorted(cuts, lo, side="right")
    count = np.searchsorted(cuts, hi, side="left") - first  # cuts inside; segments = cuts + 1
    starts = np.concatenate([[0], np.cumsum(count + 1)[:-1]]).astype(np.intp)
    total = int(np.sum(count + 1))
    # Segment s of crystal c runs from edge s to edge s + 1 of [lo, cuts inside..., hi].
    owner = np.repeat(np.arange(centres.size), count + 1)
    k = np.arange(total) - starts[owner]
    last = k == count[owner]
    left = np.where(k == 0, lo[owner], cuts[np.clip(first[owner] + k - 1, 0, cuts.size - 1)])
    right = np.where(last, hi[owner], cuts[np.clip(first[owner] + k, 0, cuts.size - 1)])
    mid = 0.5 * (left + right)
    low, high = _cells(mask, mid + shift_low), _cells(mask, mid + shift_high)
    # Crossing fraction f = (boundary − y_low)/(y_high − y_low), linear in y along a segment.
    boundary = np.maximum(low, high) * e - 0.5 * n * e
    span = shift_high - shift_low
    with np.errstate(divide="ignore", invalid="ignore"):
        f_lo = (boundary - (left + shift_low)) / span
        f_hi = (boundary - (right + shift_low)) / span
    cross = np.stack([f_lo, f_hi], axis=-1)
    return right - left, low, high, np.where(np.isfinite(cross), cross, 0.0), starts


def _below(p0: FloatArray, p1: FloatArray, q0: FloatArray, q1: FloatArray) -> FloatArray:
    """Fraction of the unit square (u, v) where p0 + p1·(u) < q0 + q1·(v), i.e. P(p1·U − q1·V <
    q0 − p0) for independent uniform U, V (the CDF of a sum of two uniforms)."""
    a_coef, b_coef = p1, -q1
    c = q0 - p0
    # Make both coefficients non-negative: a·U with a < 0 equals a + |a|·(1 − U).
    c = c - np.minimum(a_coef, 0.0) - np.minimum(b_coef, 0.0)
    a, b = np.abs(a_coef), np.abs(b_coef)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    x = np.clip(c, 0.0, lo + hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = x * x / (2.0 * lo * hi)
        flat = (2.0 * x - lo) / (2.0 * hi)
        fall = 1.0 - (lo + hi - x) ** 2 / (2.0 * lo * hi)
        uniform = x / hi
    out = np.where(x <= lo, rise, np.where(x <= hi, flat, fall))
    out = np.where(lo <= 1e-12 * np.maximum(hi, 1e-300), uniform, out)
    out = np.where(hi <= 1e-300, (c > 0).astype(float), out)
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)


def exact_pixel_illumination(
    mask: MaskGeometry, geometry: DetectorGeometry, ty: float, tz: float
) -> NDArray[np.float64]:
    """The PIF of :func:`processing.instrument.pixel_illumination`, computed exactly.

    The ray test depends on a point's Y only through the mask elements it meets on the two
    faces and on Z likewise, so each crystal splits into rectangles on which both are fixed;
    the transmitted area is the sum of the open rectangles. Where a ray changes element along
    both axes inside the mask, the element it passes in between depends on which boundary it
    meets first, a linear condition in (Y, Z): its area is that of a half-plane in the
    rectangle. No sampling: the model of a bright source is as exact as the ray tracing.

    Computed by the compiled kernel of :mod:`processing.codedmask._pif_kernel` where numba is
    installed (the same arithmetic, ~6x faster), else by :func:`numpy_pixel_illumination`.
    """
    if _pif_kernel.AVAILABLE:
        area = _pif_kernel.pixel_area(
            mask.pattern,
            mask.element_mm,
            mask.focal_mm,
            mask.thickness_mm,
            geometry.y_mm,
            geometry.z_mm,
            geometry.crystal_mm,
            ty,
            tz,
        )
        return np.asarray(area * (geometry.live / (geometry.crystal_mm**2)))
    return numpy_pixel_illumination(mask, geometry, ty, tz)


def numpy_pixel_illumination(
    mask: MaskGeometry, geometry: DetectorGeometry, ty: float, tz: float
) -> NDArray[np.float64]:
    """:func:`exact_pixel_illumination` in NumPy array operations (no compiler needed)."""
    c = geometry.crystal_mm
    h_low = mask.focal_mm - 0.5 * mask.thickness_mm
    h_high = mask.focal_mm + 0.5 * mask.thickness_mm
    ly, k1, k2, fy, y_starts = _axis_segments(geometry.y_mm, c, h_low * ty, h_high * ty, mask)
    lz, l1, l2, fz, z_starts = _axis_segments(geometry.z_mm, c, h_low * tz, h_high * tz, mask)
    size = mask.size
    pattern = np.zeros((size + 1, size + 1), dtype=bool)
    pattern[:size, :size] = mask.pattern == 1  # index −1: the closed frame around the mask
    # Rectangles (Y segment × Z segment): open on both faces.
    open_rect = pattern[k1][:, l1] & pattern[k2][:, l2]
    fraction = open_rect.astype(np.float64)
    # Where the ray changes element along both axes inside the mask (a small fraction).
    ry, rz = np.flatnonzero(k1 != k2), np.flatnonzero(l1 != l2)
    if ry.size and rz.size:
        a, b = np.nonzero(open_rect[np.ix_(ry, rz)])
        i, j = ry[a], rz[b]
        if i.size:
            # y boundary first (f_y < f_z): the ray passes through element (k2, l1), else (k1, l2).
            p0, q0 = fy[i, 0], fz[j, 0]
            y_first = _below(p0, fy[i, 1] - p0, q0, fz[j, 1] - q0)
            fraction[i, j] = (
                y_first * pattern[k2[i], l1[j]] + (1.0 - y_first) * pattern[k1[i], l2[j]]
            )
    # Σ over each crystal's segments of length × fraction: sparse products (one non-zero per
    # segment) run several times faster than ``np.add.reduceat`` on these shapes.
    ny, nz = geometry.shape
    area = _per_crystal(y_starts, ly, ny) @ (_per_crystal(z_starts, lz, nz) @ fraction.T).T
    return np.asarray(area * (geometry.live / (c * c)))


def _per_crystal(starts: NDArray[np.intp], lengths: NDArray[np.float64], n: int) -> Any:
    """Crystals × segments matrix of the segments' lengths (CSR: each crystal's run)."""
    indptr = np.append(starts, lengths.size)
    return csr_matrix((lengths, np.arange(lengths.size), indptr), shape=(n, lengths.size))
