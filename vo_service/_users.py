"""Wiring of the generic bearer tokens and anonymous client lists into the service.

The signing key is ``VO_SERVICE_TOKEN_SECRET`` or, unset, a random key kept in
``data_dir/token.key`` (created once, readable by the service's user only), so that the
embedded default issues tokens with no configuration and every process on the machine (the
web service, ``vo-service tokens``) uses the same key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from uws import (
    AnonymousClients,
    BearerTokenIdentity,
    IdentityPolicy,
    JobRecord,
    JobStore,
    NotificationDispatcher,
    NotifyPolicy,
    NotifySettings,
    QuotaClass,
    QuotaPolicy,
    SmtpSettings,
    TokenService,
)
from vo_service.settings import Settings, SettingsError

__all__ = [
    "SCIENCE_WINDOWS",
    "anonymous_clients",
    "build_quotas",
    "build_tokens",
    "notification_dispatcher",
    "notify_policy",
    "notify_settings",
    "quota_classes",
    "request_cost",
    "token_key",
    "with_tokens",
]

KEY_FILE = "token.key"
#: The per-request quantity product jobs report to the quotas.
SCIENCE_WINDOWS = "science_windows"


def token_key(settings: Settings) -> bytes:
    """The signing key of bearer tokens (made and kept in ``data_dir`` when not configured)."""
    # (Lengths are checked here, not in Settings: a settings object sent to a worker process
    # carries its secrets masked.)
    if settings.token_secret is not None:
        key = settings.token_secret.get_secret_value().encode()
        if len(key) < 32:
            raise SettingsError("VO_SERVICE_TOKEN_SECRET: at least 32 characters")
        return key
    path = Path(settings.data_dir) / KEY_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise SettingsError(f"VO_SERVICE_TOKEN_SECRET unset and {path} not writable") from exc
    else:
        key = secrets.token_hex(32).encode()
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
    if len(key) < 32:
        raise SettingsError(f"{path}: the token key is shorter than 32 characters")
    return key


def build_tokens(settings: Settings, engine: Engine) -> TokenService | None:
    """The token service, or ``None`` when ``VO_SERVICE_TOKENS`` is off."""
    if not settings.tokens:
        return None
    return TokenService(
        engine,
        token_key(settings),
        issuer=settings.ivoid,
        audience=settings.resolved_token_audience,
    )


def with_tokens(settings: Settings, engine: Engine, policy: IdentityPolicy) -> IdentityPolicy:
    """``policy`` with bearer tokens in front of it (unchanged when tokens are off)."""
    tokens = build_tokens(settings, engine)
    if tokens is None:
        return policy
    return BearerTokenIdentity(tokens, policy, realm=settings.service_name)


def anonymous_clients(settings: Settings) -> AnonymousClients | None:
    """Per-client anonymous job lists, or ``None`` (one shared list) when turned off."""
    if not settings.anonymous_client_lists:
        return None
    return AnonymousClients(secure=settings.public_base_url.startswith("https://"))


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def quota_classes(settings: Settings) -> dict[str, QuotaClass]:
    """The configured quota classes (``VO_SERVICE_QUOTA_CLASSES``) as uws quota classes."""
    classes = {}
    for name, limits in settings.quota_classes.items():
        per_request = {}
        if "max_science_windows" in limits:
            per_request[SCIENCE_WINDOWS] = limits["max_science_windows"]
        classes[name] = QuotaClass(
            name=name,
            max_pending=_int(limits.get("max_pending_jobs")),
            max_active=_int(limits.get("max_active_jobs")),
            max_jobs_per_day=_int(limits.get("max_jobs_per_day")),
            max_execution_seconds_per_day=limits.get("max_execution_seconds_per_day"),
            max_result_bytes_per_day=limits.get("max_result_bytes_per_day"),
            per_request=per_request,
        )
    return classes


def request_cost(kind: str, spec: dict[str, Any]) -> dict[str, float]:
    """The per-request quantities of a validated job: the science windows a product request
    selects (other kinds: none)."""
    if kind == "product":
        return {SCIENCE_WINDOWS: float(len(spec.get("scw_ids") or ()))}
    return {}


def build_quotas(settings: Settings, engine: Engine) -> QuotaPolicy | None:
    """The quota policy, or ``None`` when no quota class is configured.

    A user's class is the one ``VO_SERVICE_QUOTA_USERS`` names, else the quota class of their
    newest active token, else the class ``VO_SERVICE_QUOTA_ROLES`` gives the first of its roles
    that has one, else ``default``.
    """
    classes = quota_classes(settings)
    if not classes:
        return None
    tokens = build_tokens(settings, engine)
    users, roles = dict(settings.quota_users), dict(settings.quota_roles)

    def class_of(owner: str) -> str | None:
        if owner in users:
            return users[owner]
        claims = None if tokens is None else tokens.newest_claims(owner)
        if claims is None:
            return None
        if claims.quota_class is not None:
            return claims.quota_class
        return next((roles[r] for r in claims.roles if r in roles), None)

    return QuotaPolicy(classes, class_of=class_of, request_cost=request_cost)


#: The endpoint of each job kind (notifications link to the job).
_ENDPOINTS = {"soda": "/soda/async", "tap": "/tap/async"}


def notify_settings(settings: Settings) -> NotifySettings:
    """The notification channels the settings configure."""
    secret = settings.notify_webhook_secret
    if secret is not None and len(secret.get_secret_value()) < 16:
        raise SettingsError("VO_SERVICE_NOTIFY_WEBHOOK_SECRET: at least 16 characters")
    smtp = None
    if settings.smtp_host:
        password = settings.smtp_password
        smtp = SmtpSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=None if password is None else password.get_secret_value(),
            subject_prefix=f"[{settings.service_name}] ",
        )
    return NotifySettings(
        webhook_secret=None if secret is None else secret.get_secret_value().encode(),
        smtp=smtp,
        max_attempts=settings.notify_max_attempts,
        backoff=settings.notify_backoff_seconds,
    )


def notify_policy(settings: Settings, engine: Engine) -> NotifyPolicy:
    """What jobs may ask for; an owner's defaults are the notify and e-mail of their newest
    active token."""
    tokens = build_tokens(settings, engine)

    def defaults_of(owner: str | None) -> tuple[list[str], str | None]:
        if owner is None or tokens is None:
            return [], None
        claims = tokens.newest_claims(owner)
        if claims is None:
            return [], None
        return list(claims.notify), claims.email

    return NotifyPolicy(notify_settings(settings), defaults_of)


def notification_dispatcher(settings: Settings, store: JobStore) -> NotificationDispatcher:
    """The runner's notification thread, linking to each job at its endpoint."""
    base = settings.public_base_url

    def job_url(job: JobRecord) -> str:
        return f"{base}{_ENDPOINTS.get(job.kind, '/async')}/{job.id}"

    return NotificationDispatcher(store, notify_settings(settings), job_url)
