"""The service objects shared by the web application, the runner and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from processing.archive import ArchiveIndex
from registry import CoverageProvider
from vo_service._coverage import ArchiveCoverage
from vo_service._resolver import NameResolver
from vo_service._store import ProductStore
from vo_service.db import make_engine, upgrade_database
from vo_service.settings import Settings

__all__ = ["ServiceContext"]


@dataclass
class ServiceContext:
    """Everything built once from the settings and handed explicitly to the parts."""

    settings: Settings
    engine: Engine
    archive: ArchiveIndex
    #: What the archive covers, for the registry record.
    coverage: CoverageProvider
    store: ProductStore
    resolver: NameResolver

    @classmethod
    def build(cls, settings: Settings, *, migrate: bool = True) -> ServiceContext:
        """Create the engine, bring the schema up to date and open the archive index."""
        settings.ensure_dirs()
        engine = make_engine(settings.resolved_database_url)
        if migrate:
            upgrade_database(engine)
        archive = ArchiveIndex(engine, settings.resolved_archive_path)
        return cls(
            settings=settings,
            engine=engine,
            archive=archive,
            coverage=ArchiveCoverage(archive),
            store=ProductStore(engine, settings.resolved_store_path),
            resolver=NameResolver(
                settings.resolved_archive_path,
                use_network=settings.network_resolvers,
                timeout=settings.name_resolver_timeout,
            ),
        )
