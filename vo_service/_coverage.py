"""The archive's coverage as the registry record describes it, read from the archive index."""

from __future__ import annotations

from dataclasses import dataclass

from processing.archive import MJDREF, ArchiveIndex
from registry import PointingCoverage
from vo_service._request import ENERGY_RANGE_KEV

__all__ = ["ArchiveCoverage"]

#: Radius around each pointing counted as covered: the half-coded field of view (19° wide).
HALF_CODED_RADIUS_DEG = 9.5


@dataclass(frozen=True)
class ArchiveCoverage:
    """Coverage provider over the live archive index (pointings, time span, and the energy
    range of the registered instruments together)."""

    archive: ArchiveIndex
    e_min_kev: float = ENERGY_RANGE_KEV[0]
    e_max_kev: float = ENERGY_RANGE_KEV[1]

    def pointing_coverage(self) -> PointingCoverage:
        """The current pointings, time span (MJD) and energy band."""
        ra, dec = self.archive.pointings()
        span = self.archive.time_span()
        return PointingCoverage(
            ra_deg=ra,
            dec_deg=dec,
            radius_deg=HALF_CODED_RADIUS_DEG,
            t_min_mjd=None if span is None else span[0] + MJDREF,
            t_max_mjd=None if span is None else span[1] + MJDREF,
            e_min_kev=self.e_min_kev,
            e_max_kev=self.e_max_kev,
        )
