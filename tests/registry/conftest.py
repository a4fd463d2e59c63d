"""Fixtures: a registry-only Flask app (no telescope), and the full service app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

from registry import (
    AvailabilityMonitor,
    CheckResult,
    Contact,
    MemoryStamps,
    OAIRepository,
    PointingCoverage,
    Publication,
    ResourceIdentity,
    ResourceMetadata,
    install_capabilities,
    oai_blueprint,
    vosi_blueprint,
)
from vo_service._tables import SERVICE_TABLES
from vo_service.app import create_app
from vo_service.settings import Settings

BASE_URL = "http://vo.example.org/svc"
T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    """A settable clock for datestamps."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class MutableCoverage:
    """A coverage provider whose archive can grow during a test."""

    coverage: PointingCoverage = field(
        default_factory=lambda: PointingCoverage.of(
            [83.63, 266.4], [22.01, -29.0], 8.0, 52640.0, 60000.0, 15.0, 1000.0
        )
    )

    def pointing_coverage(self) -> PointingCoverage:
        return self.coverage


METADATA = ResourceMetadata(
    title="Test coded-mask service",
    description="A service & its <records>, for tests.",
    subjects=("X-ray astronomy",),
    publisher="Test publisher",
    contact=Contact("Test contact", "contact@example.org"),
    short_name="test",
    facilities=("INTEGRAL",),
    instruments=("IBIS/ISGRI",),
)


@dataclass
class RegistryApp:
    """A Flask app with only the registry's blueprints, and handles on its parts."""

    app: Flask
    publication: Publication
    repository: OAIRepository
    monitor: AvailabilityMonitor
    clock: Clock
    coverage: MutableCoverage


@pytest.fixture
def make_registry_app() -> Callable[..., RegistryApp]:
    def make(page_size: int = 100, base_url: str = BASE_URL) -> RegistryApp:
        clock = Clock()
        coverage = MutableCoverage()
        app = Flask("registry-test")
        capabilities = install_capabilities(app)
        publication = Publication(
            ResourceIdentity("vo.example.org", "svc", base_url),
            METADATA,
            capabilities,
            SERVICE_TABLES,
            coverage,
            MemoryStamps(),
            cache_seconds=0,
            clock=clock,
        )
        monitor = AvailabilityMonitor(clock=clock)
        monitor.add("always", lambda: CheckResult(True, "fine"))
        repository = OAIRepository(
            publication, base_url + "/oai", ["admin@example.org"], page_size=page_size, clock=clock
        )
        app.register_blueprint(vosi_blueprint(publication, monitor))
        app.register_blueprint(oai_blueprint(repository))
        return RegistryApp(app, publication, repository, monitor, clock, coverage)

    return make


@pytest.fixture
def registry_app(make_registry_app: Callable[..., RegistryApp]) -> RegistryApp:
    return make_registry_app()


def make_archive(root: Path) -> Path:
    """An archive root holding one (empty) science window folder."""
    scw = root / "scw" / "0665" / "066500230010.001"
    scw.mkdir(parents=True)
    return root


@pytest.fixture
def service_settings(tmp_path: Path) -> Settings:
    """Settings with a populated archive and a SQLite database."""
    return Settings.load(
        data_dir=tmp_path / "var",
        archive_path=make_archive(tmp_path / "archive"),
        public_base_url="https://vo.example.org/isgri",
        network_resolvers=False,
    )


@pytest.fixture
def service_app(service_settings: Settings) -> Flask:
    return create_app(service_settings)
