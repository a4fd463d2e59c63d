"""Detections: a found source, its significance with a fitted position, its location error and
name, its identification with a catalog, and the systematic error its model leaves on others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from processing.codedmask._decode import Decoder
from processing.instrument import Attitude

__all__ = ["CatalogEntry", "DetectedSource", "detection_significance", "r90_arcmin", "source_name"]

FloatArray = NDArray[np.float64]


#: Sources closer than this (sky pixels; the PSF is 12′ ≈ 2.4 pixels FWHM) are refined together.
GROUP_RADIUS_PIX = 4.0
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
#: Position parameters fitted with every source (see :func:`detection_significance`).
POSITION_DOF = 2


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

    @classmethod
    def at(
        cls,
        attitude: Attitude,
        ty: float,
        tz: float,
        *,
        flux: float,
        flux_error: float,
        significance: float,
        peak_significance: float,
        coded_fraction: float,
        name: str | None = None,
        catalog: bool = False,
    ) -> DetectedSource:
        """A source at tangents (ty, tz): its sky position, off-axis angle and r90 follow, and
        its name from its position unless ``name`` is given."""
        ra, dec = (float(v) for v in attitude.to_sky(ty, tz))
        return cls(
            name=source_name(ra, dec) if name is None else name,
            ra=ra,
            dec=dec,
            ty=ty,
            tz=tz,
            flux=flux,
            flux_error=flux_error,
            significance=significance,
            peak_significance=peak_significance,
            coded_fraction=coded_fraction,
            offaxis_deg=float(np.degrees(np.arctan(np.hypot(ty, tz)))),
            r90_arcmin=float(r90_arcmin(significance)),
            catalog=catalog,
        )

    @property
    def catalog_flux(self) -> float:
        """The flux to publish: the fitted one less the bias of fitting the position.

        Maximised over two position parameters, F² exceeds the square of the flux at the true
        position by ~2σ² (the same excess as the significance's, :func:`detection_significance`);
        this is sign(F)·√(F² − 2σ²), i.e. significance × σ. Negligible above ~20σ.
        """
        return self.significance * self.flux_error if self.flux_error > 0 else self.flux


def _clip_pixel(fa: float, fb: float, shape: tuple[int, ...]) -> tuple[int, int]:
    """The image pixel nearest to (fa, fb)."""
    return min(max(round(fa), 0), shape[0] - 1), min(max(round(fb), 0), shape[1] - 1)


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


def _conjugates(a: DetectedSource, b: DetectedSource, period: float, pixel_tan: float) -> bool:
    """Whether two sources are one mask period apart (along an axis or a diagonal)."""
    return _one_period_apart(a.ty - b.ty, a.tz - b.tz, period, pixel_tan)


def _one_period_apart(d_ty: float, d_tz: float, period: float, pixel_tan: float) -> bool:
    dy, dz = d_ty / period, d_tz / period
    steps = max(abs(round(dy)), abs(round(dz)))
    off = max(abs(dy - round(dy)), abs(dz - round(dz))) * period
    return steps == 1 and off < 1.5 * pixel_tan


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
