"""The service objects shared by the web application, the runner and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from registry import CoverageProvider, PointingCoverage, StaticCoverage
from vo_service.db import make_engine, upgrade_database
from vo_service.settings import Settings

__all__ = ["ServiceContext"]


@dataclass
class ServiceContext:
    """Everything built once from the settings and handed explicitly to the parts."""

    settings: Settings
    engine: Engine
    #: What the archive covers, for the registry record. Until the archive index is wired in,
    #: an empty archive observed in ISGRI's band (15 keV - 1 MeV).
    coverage: CoverageProvider = field(
        default_factory=lambda: StaticCoverage(PointingCoverage(e_min_kev=15.0, e_max_kev=1000.0))
    )

    @classmethod
    def build(cls, settings: Settings, *, migrate: bool = True) -> ServiceContext:
        """Create the engine and bring the schema up to date."""
        settings.ensure_dirs()
        engine = make_engine(settings.resolved_database_url)
        if migrate:
            upgrade_database(engine)
        return cls(settings=settings, engine=engine)
