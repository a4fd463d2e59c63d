"""Wiring of VOSI and the publishing registry: what this service tells the registry package.

The registry package is telescope-agnostic; here the service supplies its identity and
curation (from the settings), its tables, the availability checks of its dependencies
(database, archive, product store, executor) and the coverage provider carried by the
:class:`~vo_service._context.ServiceContext`.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from processing.instruments import DEFAULT_INSTRUMENT, get_instrument
from registry import (
    AvailabilityCheck,
    AvailabilityMonitor,
    CheckResult,
    Contact,
    FileStamps,
    OAIRepository,
    Publication,
    ResourceIdentity,
    ResourceMetadata,
    capabilities_of,
    oai_blueprint,
    vosi_blueprint,
)
from vo_service._context import ServiceContext
from vo_service._tables import SERVICE_TABLES
from vo_service._version import __version__
from vo_service.settings import Settings

__all__ = [
    "OAI_PATH",
    "archive_check",
    "database_check",
    "executor_check",
    "install_publishing",
    "publication_of",
    "service_metadata",
    "store_check",
]

OAI_PATH = "/oai"
log = logging.getLogger(__name__)


def _energy_range() -> str:
    """The default camera's energy range in words (keV, or MeV from 1 MeV)."""
    lo, hi = get_instrument(DEFAULT_INSTRUMENT).energy_range_kev
    return " to ".join(f"{e / 1000:g} MeV" if e >= 1000 else f"{e:g} keV" for e in (lo, hi))


_EXTENSION_KEY = "vo_service.publication"


def service_metadata(settings: Settings) -> ResourceMetadata:
    """Curation and content of the service record."""
    return ResourceMetadata(
        title="INTEGRAL IBIS/ISGRI hard-X-ray products on demand",
        short_name="ISGRI products",
        description=(
            "Sky images, mosaics with source catalogs, spectra, light curves and transient "
            f"searches from the INTEGRAL IBIS/ISGRI coded-mask imager ({_energy_range()}), built "
            "on request from the science-window event archive by a coded-mask deconvolution "
            "pipeline. Requests run as UWS jobs; every product has a publisher DID resolvable "
            "through DataLink, with provenance, previews and SODA cut-outs."
        ),
        subjects=(
            "X-ray astronomy",
            "Gamma-ray astronomy",
            "High energy astrophysics",
            "X-ray sources",
            "Gamma-ray sources",
        ),
        publisher=settings.publisher,
        contact=Contact(name=settings.contact_name, email=settings.contact_email),
        version=__version__,
        content_types=("Archive", "Catalog"),
        content_levels=("Research",),
        facilities=("INTEGRAL",),
        instruments=("IBIS/ISGRI",),
    )


# Public notes name no path, host or credential; the log has them for operators.


def database_check(engine: Engine) -> AvailabilityCheck:
    """The database answers a trivial query."""
    backend = engine.url.get_backend_name()

    def check() -> CheckResult:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            where = engine.url.render_as_string(hide_password=True)
            log.warning("availability: database %s is unreachable: %s", where, reason)
            return CheckResult(False, f"the {backend} database is unreachable")
        return CheckResult(True, f"{backend} database reachable")

    return check


def archive_check(archive: Path) -> AvailabilityCheck:
    """The archive root is a readable folder holding science windows under ``scw/``."""

    def failed(note: str, detail: str) -> CheckResult:
        log.warning("availability: archive %s: %s", archive, detail)
        return CheckResult(False, note)

    def check() -> CheckResult:
        scw = archive / "scw"
        if not archive.is_dir():
            return failed("the archive folder does not exist", "missing")
        if not os.access(archive, os.R_OK | os.X_OK):
            return failed("the archive folder is not readable", "not readable")
        try:
            has_windows = scw.is_dir() and any(scw.iterdir())
        except OSError as exc:
            return failed("the archive's scw/ folder cannot be listed", str(exc))
        if not has_windows:
            return failed("the archive holds no science windows under scw/", "empty")
        return CheckResult(True, "archive readable")

    return check


#: Free space below which the product store is reported unavailable.
STORE_MIN_FREE_BYTES = 64 * 1024**2


def store_check(store: Path, min_free: int = STORE_MIN_FREE_BYTES) -> AvailabilityCheck:
    """A file can be created in the product store, and space is left for products."""

    def check() -> CheckResult:
        try:
            with tempfile.NamedTemporaryFile(dir=store, prefix=".availability-"):
                pass
            free = shutil.disk_usage(store).free
        except OSError as exc:
            log.warning("availability: product store %s: %s", store, exc)
            return CheckResult(False, f"the product store is not writable ({exc.strerror})")
        if free < min_free:
            log.warning("availability: product store %s has %d bytes free", store, free)
            return CheckResult(False, f"the product store is full ({free / 1024**2:.0f} MB free)")
        return CheckResult(True, f"product store writable ({free / 1024**3:.1f} GB free)")

    return check


def executor_check(settings: Settings, timeout: float = 2.0) -> AvailabilityCheck:
    """The Dask scheduler accepts a TCP connection (embedded executors start with the runner)."""

    def check() -> CheckResult:
        if settings.executor != "dask" or not settings.dask_scheduler:
            return CheckResult(
                True, f"executor '{settings.executor}' runs inside the job runner process"
            )
        address = urlsplit(
            settings.dask_scheduler
            if "://" in settings.dask_scheduler
            else f"tcp://{settings.dask_scheduler}"
        )
        if address.hostname is None or address.port is None:
            log.warning("availability: scheduler address %s has no port", settings.dask_scheduler)
            return CheckResult(False, "the Dask scheduler address has no port")
        try:
            with socket.create_connection((address.hostname, address.port), timeout=timeout):
                pass
        except OSError as exc:
            log.warning(
                "availability: Dask scheduler %s is unreachable: %s", settings.dask_scheduler, exc
            )
            return CheckResult(False, "the Dask scheduler is unreachable")
        return CheckResult(True, "Dask scheduler reachable")

    return check


def install_publishing(app: Flask, context: ServiceContext) -> Publication:
    """Mount VOSI and OAI-PMH on ``app`` and return the service's publication."""
    settings = context.settings
    identity = ResourceIdentity(
        authority=settings.authority,
        service_key=settings.service_name,
        base_url=settings.public_base_url,
    )
    publication = Publication(
        identity,
        service_metadata(settings),
        capabilities_of(app),
        SERVICE_TABLES,
        context.coverage,
        FileStamps(settings.data_dir.resolve() / "registry" / "record-stamps.json"),
    )
    monitor = AvailabilityMonitor()
    monitor.add("database", database_check(context.engine))
    monitor.add("archive", archive_check(settings.resolved_archive_path))
    monitor.add("product store", store_check(settings.resolved_store_path))
    monitor.add("executor", executor_check(settings))
    repository = OAIRepository(
        publication, settings.public_base_url + OAI_PATH, [settings.contact_email]
    )
    app.register_blueprint(vosi_blueprint(publication, monitor))
    app.register_blueprint(oai_blueprint(repository, OAI_PATH))
    app.extensions[_EXTENSION_KEY] = publication
    return publication


def publication_of(app: Flask) -> Publication:
    """The publication mounted by :func:`install_publishing`."""
    publication: Publication = app.extensions[_EXTENSION_KEY]
    return publication
