"""Wiring of VOSI and the publishing registry: what this service tells the registry package.

The registry package is telescope-agnostic; here the service supplies its identity and
curation (from the settings), its tables, the availability checks of its dependencies
(database, archive, product store, executor) and the coverage provider carried by the
:class:`~vo_service._context.ServiceContext`.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

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
_EXTENSION_KEY = "vo_service.publication"


def service_metadata(settings: Settings) -> ResourceMetadata:
    """Curation and content of the service record."""
    return ResourceMetadata(
        title="INTEGRAL IBIS/ISGRI hard-X-ray products on demand",
        short_name="ISGRI products",
        description=(
            "Sky images, mosaics with source catalogs, spectra, light curves and transient "
            "searches from the INTEGRAL IBIS/ISGRI coded-mask imager (15 keV to 1 MeV), built "
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


def database_check(engine: Engine) -> AvailabilityCheck:
    """The database answers a trivial query."""
    where = engine.url.render_as_string(hide_password=True)

    def check() -> CheckResult:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            return CheckResult(False, f"database {where} is unreachable ({reason})")
        return CheckResult(True, f"database {engine.url.get_backend_name()} reachable")

    return check


def archive_check(archive: Path) -> AvailabilityCheck:
    """The archive root is a readable folder holding science windows under ``scw/``."""

    def check() -> CheckResult:
        scw = archive / "scw"
        if not archive.is_dir():
            return CheckResult(False, f"archive {archive} does not exist")
        if not os.access(archive, os.R_OK | os.X_OK):
            return CheckResult(False, f"archive {archive} is not readable")
        try:
            has_windows = scw.is_dir() and any(scw.iterdir())
        except OSError as exc:
            return CheckResult(False, f"archive {scw} cannot be listed ({exc.strerror})")
        if not has_windows:
            return CheckResult(False, f"archive {archive} holds no science windows under scw/")
        return CheckResult(True, f"archive {archive} readable")

    return check


def store_check(store: Path) -> AvailabilityCheck:
    """A file can be created in the product store."""

    def check() -> CheckResult:
        try:
            with tempfile.NamedTemporaryFile(dir=store, prefix=".availability-"):
                pass
        except OSError as exc:
            return CheckResult(False, f"product store {store} is not writable ({exc.strerror})")
        return CheckResult(True, f"product store {store} writable")

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
            return CheckResult(False, f"scheduler address {settings.dask_scheduler} has no port")
        try:
            with socket.create_connection((address.hostname, address.port), timeout=timeout):
                pass
        except OSError as exc:
            return CheckResult(
                False, f"Dask scheduler {settings.dask_scheduler} is unreachable ({exc})"
            )
        return CheckResult(True, f"Dask scheduler {settings.dask_scheduler} reachable")

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
