"""VOSI availability reflects the real dependencies, with a note saying what failed."""

from __future__ import annotations

import io
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyvo.io.vosi import parse_availability

from processing.archive import ArchiveIndex
from registry import AvailabilityMonitor, CheckResult
from tests.registry.conftest import RegistryApp, make_archive
from tests.registry.xsd import assert_valid
from vo_service._context import ServiceContext
from vo_service._coverage import ArchiveCoverage
from vo_service._resolver import NameResolver
from vo_service._store import ProductStore
from vo_service.app import create_app
from vo_service.db import make_engine
from vo_service.settings import Settings

NS = "{http://www.ivoa.net/xml/VOSIAvailability/v1.0}"


def _availability(settings: Settings, context: ServiceContext | None = None) -> tuple[bool, str]:
    response = create_app(settings, context).test_client().get("/availability")
    assert response.status_code == 200  # VOSI: unavailability is reported, not an HTTP error
    root = assert_valid(response.data)
    parsed = parse_availability(io.BytesIO(response.data))
    available = root.findtext(f"{NS}available") == "true"
    assert parsed.available is available
    assert root.findtext(f"{NS}upSince")
    return available, "\n".join(n.text or "" for n in root.findall(f"{NS}note"))


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A local TCP port that nothing listens on (bound then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port


def _settings(tmp_path: Path, database_url: str, **extra: object) -> Settings:
    return Settings.load(
        data_dir=tmp_path / "var",
        database_url=database_url,
        archive_path=make_archive(tmp_path / "archive"),
        **extra,
    )


def test_available_when_everything_works(tmp_path: Path, database_url: str) -> None:
    available, notes = _availability(_settings(tmp_path, database_url))
    assert available, notes
    for name in ("database", "archive", "product store", "executor"):
        assert f"{name}: ok" in notes


def test_unavailable_when_the_database_is_unreachable(tmp_path: Path, dead_port: int) -> None:
    dead_url = f"postgresql+psycopg://postgres@127.0.0.1:{dead_port}/test"
    settings = _settings(tmp_path, dead_url)
    settings.ensure_dirs()
    # Built without migrations: the point is a database that went away after start-up.
    engine = make_engine(dead_url)
    archive = ArchiveIndex(engine, settings.resolved_archive_path)
    context = ServiceContext(
        settings=settings,
        engine=engine,
        archive=archive,
        coverage=ArchiveCoverage(archive),
        store=ProductStore(engine, settings.resolved_store_path),
        resolver=NameResolver(settings.resolved_archive_path, use_network=False),
    )
    available, notes = _availability(settings, context)
    assert not available
    assert "database: FAILED: the postgresql database is unreachable" in notes
    assert "127.0.0.1" not in notes and str(dead_port) not in notes  # no host in public notes
    assert "archive: ok" in notes


def test_unavailable_when_the_archive_is_missing(tmp_path: Path, database_url: str) -> None:
    settings = _settings(tmp_path, database_url)
    shutil.rmtree(settings.resolved_archive_path)
    available, notes = _availability(settings)
    assert not available
    assert "archive: FAILED: the archive folder does not exist" in notes
    assert str(tmp_path) not in notes  # no path in public notes
    assert "database: ok" in notes


def test_unavailable_when_the_archive_is_empty(tmp_path: Path) -> None:
    settings = _settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    shutil.rmtree(settings.resolved_archive_path / "scw")
    available, notes = _availability(settings)
    assert not available
    assert "holds no science windows" in notes


def test_unavailable_when_the_product_store_is_not_writable(tmp_path: Path) -> None:
    settings = _settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    app = create_app(settings)
    shutil.rmtree(settings.resolved_store_path)
    settings.resolved_store_path.write_text("a file where the folder should be")
    root = assert_valid(app.test_client().get("/availability").data)
    assert root.findtext(f"{NS}available") == "false"
    notes = "".join(n.text or "" for n in root.findall(f"{NS}note"))
    assert "product store: FAILED" in notes and str(tmp_path) not in notes


def test_unavailable_when_the_product_store_is_full(tmp_path: Path) -> None:
    from vo_service._publishing import store_check

    settings = _settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    settings.ensure_dirs()
    free = shutil.disk_usage(settings.resolved_store_path).free
    full = store_check(settings.resolved_store_path, min_free=free * 2)()
    assert not full.ok and "full" in full.note and str(tmp_path) not in full.note
    roomy = store_check(settings.resolved_store_path, min_free=0)()
    assert roomy.ok and "GB free" in roomy.note


def test_dask_scheduler_reachability(tmp_path: Path, dead_port: int) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    dead = _settings(tmp_path, url, executor="dask", dask_scheduler=f"tcp://127.0.0.1:{dead_port}")
    available, notes = _availability(dead)
    assert not available
    assert "executor: FAILED: the Dask scheduler is unreachable" in notes
    assert str(dead_port) not in notes
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        live = dead.model_copy(update={"dask_scheduler": f"tcp://127.0.0.1:{port}"})
        available, notes = _availability(live)
    assert available, notes


def test_non_critical_and_crashing_checks(registry_app: RegistryApp) -> None:
    monitor = registry_app.monitor
    monitor.add("cache", lambda: CheckResult(False, "cache nearly full"), critical=False)
    report = monitor.report()
    assert report.available
    assert "cache: degraded: cache nearly full" in report.notes

    def broken() -> CheckResult:
        raise RuntimeError("boom")

    monitor.add("broken", broken)
    report = monitor.report()
    assert not report.available
    assert "broken: FAILED: check raised RuntimeError: boom" in report.notes
    assert_valid(report.document())


def test_checks_have_unique_names() -> None:
    monitor = AvailabilityMonitor()
    monitor.add("database", lambda: CheckResult(True, ""))
    with pytest.raises(ValueError, match="twice"):
        monitor.add("database", lambda: CheckResult(True, ""))
