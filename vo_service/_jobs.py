"""Wiring of the generic ``uws`` package into the service: kinds, identity, runner.

The product job kind is registered in :func:`job_kinds`; the demo kinds (echo, sleep, fail)
join it when ``VO_SERVICE_UWS_DEMO_KINDS`` is on.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import Flask
from sqlalchemy import Engine

from registry import Capability, StandardID, capabilities_of
from uws import (
    AnonymousIdentity,
    BasicAuthIdentity,
    IdentityPolicy,
    JobStore,
    KindRegistry,
    Runner,
    RunnerConfig,
    TrustedHeaderIdentity,
    UWSPolicy,
    UWSService,
    create_uws_blueprint,
    load_users_file,
    select_by_parameter,
)
from uws.testing import test_kinds
from vo_service.settings import Settings, SettingsError

__all__ = [
    "UWS_EXTENSION",
    "build_identity",
    "build_runner",
    "build_service",
    "job_kinds",
    "register_uws",
    "soda_kinds",
    "tap_kinds",
]

log = logging.getLogger(__name__)

#: Key of the job store in ``app.extensions`` (the embedded runner shares it).
UWS_EXTENSION = "uws_store"


def job_kinds(settings: Settings) -> KindRegistry:
    """Every job kind this service offers (the runner executes the same set)."""
    from vo_service._products import product_job_kind  # the product kind imports the analysis

    kinds = KindRegistry([product_job_kind(settings)])
    if settings.uws_demo_kinds:
        kinds = kinds.merged(test_kinds())
    return kinds


def soda_kinds(settings: Settings) -> KindRegistry:
    """The SODA async job kind over the product store (the /soda/async endpoint)."""
    from datalink import soda_job_kind
    from vo_service._datalink import StoreProductSource

    return KindRegistry(
        [soda_job_kind(StoreProductSource(settings), public_url=settings.public_base_url)]
    )


def tap_kinds(settings: Settings) -> KindRegistry:
    """The TAP async job kind (the /tap/async endpoint)."""
    from vo_service._tap_jobs import tap_job_kind

    return KindRegistry([tap_job_kind(settings)])


def build_identity(settings: Settings, engine: Engine | None = None) -> IdentityPolicy:
    """The owner policy chosen by ``uws_identity``, with bearer tokens in front of it when
    ``engine`` (the database of the tokens) is given and tokens are on."""
    base = _base_identity(settings)
    if engine is None:
        return base
    from vo_service._users import with_tokens

    return with_tokens(settings, engine, base)


def _base_identity(settings: Settings) -> IdentityPolicy:
    if settings.uws_identity == "none":
        return AnonymousIdentity()
    if settings.uws_identity == "basic":
        assert settings.uws_users_file is not None  # checked by Settings
        try:
            users = load_users_file(settings.uws_users_file)
        except (OSError, ValueError) as exc:
            raise SettingsError(f"VO_SERVICE_UWS_USERS_FILE: {exc}") from exc
        return BasicAuthIdentity(
            users, allow_anonymous=settings.allow_anonymous, realm=settings.service_name
        )
    return TrustedHeaderIdentity(
        settings.uws_identity_header, allow_anonymous=settings.allow_anonymous
    )


def build_service(settings: Settings, store: JobStore, kinds: KindRegistry) -> UWSService:
    """The UWS service of the ``/async`` endpoint."""
    policy = UWSPolicy(
        max_execution_duration=settings.max_execution_duration,
        default_destruction=dt.timedelta(days=settings.default_destruction_days),
        max_destruction=dt.timedelta(days=settings.max_destruction_days),
        wait_cap=float(settings.wait_cap),
        poll_interval=0.5 if store.is_postgres else 0.05,
    )
    from vo_service._users import build_quotas, notify_policy

    names = kinds.names()
    selector = None if len(names) == 1 else select_by_parameter("KIND", kinds, default=names[0])
    return UWSService(
        store,
        kinds,
        default_kind=names[0] if len(names) == 1 else None,
        kind_selector=selector,
        policy=policy,
        work_root=settings.resolved_uws_work_path,
        quotas=build_quotas(settings, store.engine),
        notify=notify_policy(settings, store.engine),
    )


def register_uws(app: Flask, settings: Settings, engine: Engine) -> None:
    """Mount ``/async`` and ``/sync`` when job kinds exist; keep the store for the runner."""
    store = JobStore(engine)
    app.extensions[UWS_EXTENSION] = store
    kinds = job_kinds(settings)
    if not kinds.names():
        log.info("no job kinds registered: /async and /sync are not mounted")
        return
    from vo_service._users import anonymous_clients

    identity = build_identity(settings, engine)
    clients = anonymous_clients(settings)
    service = build_service(settings, store, kinds)
    app.register_blueprint(
        create_uws_blueprint(
            service,
            identity,
            url_prefix="/async",
            sync_path="/sync",
            sync_timeout=float(settings.sync_timeout),
            public_url=settings.public_base_url,
            clients=clients,
        )
    )
    from vo_service._descriptor import input_params, params_blueprint

    app.register_blueprint(params_blueprint(settings.public_base_url))
    from vo_service.oda import install_oda

    install_oda(app, settings, service, identity)  # the ODA front creates the same jobs
    registry = capabilities_of(app)
    registry.add(
        Capability(
            StandardID.UWS,
            "/async",
            "Product jobs (images, catalogs, spectra, light curves) as UWS 1.1 asynchronous "
            "jobs; their parameters are described at /async/params",
            use="base",
            version="1.1",
            query_types=("GET", "POST"),
            params=input_params(),
        )
    )
    registry.add(
        Capability(
            None,
            "/sync",
            "Product requests answered synchronously: a redirect to the primary result; "
            "parameters described at /sync/params",
            role=None,
            query_types=("GET", "POST"),
            params=input_params(),
        )
    )
    for endpoint in ("async", "sync"):
        registry.add(
            Capability(
                None,
                f"/{endpoint}/params",
                f"DataLink service descriptors of the product requests at /{endpoint}, one "
                "per product type (PARAMs with units, UCDs and VALUES)",
                role=None,
                result_type="application/x-votable+xml",
            )
        )
    from datalink import soda_async_blueprint

    app.register_blueprint(
        soda_async_blueprint(
            build_service(settings, store, soda_kinds(settings)),
            identity,
            url_prefix="/soda/async",
            public_url=settings.public_base_url,
            clients=clients,
        )
    )
    from vo_service._tap_http import install_tap

    install_tap(app, settings, engine, store, identity, clients)  # /tap/async: the tap job kind


def build_runner(settings: Settings, store: JobStore) -> Runner:
    """A runner for every registered kind, configured from the settings, delivering the
    notifications of ended jobs."""
    from vo_service import _astguard
    from vo_service._users import notification_dispatcher

    _astguard.install()  # its slots are threads that format tracebacks (see create_app)

    return Runner(
        store,
        job_kinds(settings).merged(soda_kinds(settings)).merged(tap_kinds(settings)),
        RunnerConfig(
            work_root=settings.resolved_uws_work_path,
            slots=settings.runner_slots,
            poll_interval=settings.runner_poll_interval,
            max_attempts=settings.runner_max_attempts,
        ),
        notifications=notification_dispatcher(settings, store),
    )
