"""Coverage of the published resource: a MOC of the archive's pointings, time and energy range.

The registry knows nothing of the telescope. The service hands it a
:class:`CoverageProvider`, any object whose ``pointing_coverage()`` returns a
:class:`PointingCoverage` (pointing directions, a field-of-view radius, the time span in MJD
and the energy band in keV); :func:`coverage_from_pointings` turns that into the
VODataService 1.2 ``coverage`` (MOC ASCII serialisation, MJD interval, photon energy
interval in Joule, wavebands).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import astropy.units as u
import numpy as np
from astropy.coordinates import Latitude, Longitude
from lxml import etree
from mocpy import MOC
from numpy.typing import ArrayLike, NDArray

from registry._xml import NSMAP, sub

__all__ = [
    "Coverage",
    "CoverageProvider",
    "PointingCoverage",
    "StaticCoverage",
    "coverage_from_pointings",
]

#: 1 keV in Joule (exact since the 2019 SI redefinition of the elementary charge).
_KEV_IN_JOULE = 1.602176634e-16


@dataclass(frozen=True)
class PointingCoverage:
    """What the archive covers, in the instrument's own terms.

    Parameters
    ----------
    ra_deg, dec_deg
        ICRS directions of the pointings (degrees), same length.
    radius_deg
        Field-of-view radius drawn around each pointing (degrees).
    t_min_mjd, t_max_mjd
        Time span of the archive (MJD, TT); ``None`` when the archive is empty.
    e_min_kev, e_max_kev
        Energy band of the data (keV); ``None`` when unknown.
    """

    ra_deg: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    dec_deg: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    radius_deg: float = 0.0
    t_min_mjd: float | None = None
    t_max_mjd: float | None = None
    e_min_kev: float | None = None
    e_max_kev: float | None = None

    def __post_init__(self) -> None:
        ra = np.asarray(self.ra_deg, dtype=float).ravel()
        dec = np.asarray(self.dec_deg, dtype=float).ravel()
        if ra.shape != dec.shape:
            raise ValueError(f"{ra.size} RA values but {dec.size} Dec values")
        if ra.size and not (self.radius_deg > 0 and np.all(np.abs(dec) <= 90)):
            raise ValueError("pointings need a positive radius and |dec| <= 90")
        object.__setattr__(self, "ra_deg", ra)
        object.__setattr__(self, "dec_deg", dec)
        _check_interval("time", self.t_min_mjd, self.t_max_mjd)
        _check_interval("energy", self.e_min_kev, self.e_max_kev)

    @classmethod
    def of(
        cls,
        ra_deg: ArrayLike,
        dec_deg: ArrayLike,
        radius_deg: float,
        t_min_mjd: float | None = None,
        t_max_mjd: float | None = None,
        e_min_kev: float | None = None,
        e_max_kev: float | None = None,
    ) -> PointingCoverage:
        """Build from any array-likes."""
        return cls(
            np.asarray(ra_deg, dtype=float),
            np.asarray(dec_deg, dtype=float),
            radius_deg,
            t_min_mjd,
            t_max_mjd,
            e_min_kev,
            e_max_kev,
        )


def _check_interval(what: str, low: float | None, high: float | None) -> None:
    if (low is None) != (high is None):
        raise ValueError(f"{what} range needs both ends or neither")
    if (
        low is not None
        and high is not None
        and (not (math.isfinite(low) and math.isfinite(high)) or low > high)
    ):
        raise ValueError(f"{what} range [{low}, {high}] is not a finite interval")


@runtime_checkable
class CoverageProvider(Protocol):
    """Anything that can say what the archive covers right now."""

    def pointing_coverage(self) -> PointingCoverage:
        """The current pointings, time span and energy band."""
        ...


@dataclass(frozen=True)
class StaticCoverage:
    """A provider that always answers the same (an empty archive, or tests)."""

    coverage: PointingCoverage = field(default_factory=PointingCoverage)

    def pointing_coverage(self) -> PointingCoverage:
        """The fixed coverage."""
        return self.coverage


@dataclass(frozen=True)
class Coverage:
    """VODataService 1.2 coverage, ready to render."""

    moc: str | None
    temporal_mjd: tuple[float, float] | None
    spectral_joule: tuple[float, float] | None
    wavebands: tuple[str, ...]

    def element(self) -> etree._Element:
        """The unqualified ``coverage`` element (children in schema order)."""
        coverage = etree.Element("coverage", nsmap=dict(NSMAP))
        if self.moc:
            sub(coverage, "spatial", self.moc)
        if self.temporal_mjd:
            sub(coverage, "temporal", _interval(self.temporal_mjd))
        if self.spectral_joule:
            sub(coverage, "spectral", _interval(self.spectral_joule))
        for waveband in self.wavebands:
            sub(coverage, "waveband", waveband)
        return coverage


def _interval(pair: tuple[float, float]) -> str:
    # '%.10g' of a finite float matches the FloatInterval pattern (digits, '.', e[+-]NN).
    return f"{pair[0]:.10g} {pair[1]:.10g}"


def _merged_cones(
    pointings: PointingCoverage, moc_order: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Pointings snapped to a grid finer than the MOC cells, duplicates merged.

    Archives repeat pointings (dither patterns around the same targets), and the MOC's cost
    grows with the number of cones. Centres are snapped to a grid of half the MOC cell size
    and the radius grows by the largest shift that caused, so the result still covers every
    original field; the MOC cells are coarser than that margin anyway.
    """
    step = math.degrees(math.sqrt(4 * math.pi / (12 * 4**moc_order))) / 2
    dec_index = np.round(pointings.dec_deg / step)
    dec = np.clip(dec_index * step, -90.0, 90.0)
    ra_step = step / np.maximum(np.cos(np.radians(dec)), step / 360.0)
    ra = (np.round(pointings.ra_deg / ra_step) * ra_step) % 360.0
    shift = _separation_deg(pointings.ra_deg, pointings.dec_deg, ra, dec)
    unique = np.unique(np.column_stack([ra, dec]), axis=0)
    return unique[:, 0], unique[:, 1], pointings.radius_deg + float(shift.max())


def _separation_deg(
    ra1: NDArray[np.float64],
    dec1: NDArray[np.float64],
    ra2: NDArray[np.float64],
    dec2: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Great-circle distances (haversine, stable for small angles)."""
    ra1, dec1, ra2, dec2 = (np.radians(a) for a in (ra1, dec1, ra2, dec2))
    h = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def coverage_from_pointings(
    pointings: PointingCoverage,
    wavebands: Sequence[str] = ("X-ray", "Gamma-ray"),
    moc_order: int = 6,
) -> Coverage:
    """Turn the archive's pointings into a coverage.

    Parameters
    ----------
    pointings
        What the service's provider reports.
    wavebands
        Terms from the IVOA messenger vocabulary.
    moc_order
        HEALPix order of the MOC; 6 (about 0.9 degree cells) resolves a field of view of
        a few degrees, and the MOC of a whole-sky archive stays a few kilobytes.
    """
    moc: str | None = None
    if pointings.ra_deg.size:
        ra, dec, radius = _merged_cones(pointings, moc_order)
        cells = MOC.from_cones(
            Longitude(ra * u.deg),
            Latitude(dec * u.deg),
            radius=radius * u.deg,
            max_depth=moc_order,
            union_strategy="large_cones",
        )
        moc = " ".join(cells.to_string(format="ascii").split())
    temporal = None
    if pointings.t_min_mjd is not None and pointings.t_max_mjd is not None:
        temporal = (float(pointings.t_min_mjd), float(pointings.t_max_mjd))
    spectral = None
    if pointings.e_min_kev is not None and pointings.e_max_kev is not None:
        spectral = (pointings.e_min_kev * _KEV_IN_JOULE, pointings.e_max_kev * _KEV_IN_JOULE)
    return Coverage(
        moc=moc, temporal_mjd=temporal, spectral_joule=spectral, wavebands=tuple(wavebands)
    )
