"""A generic IVOA UWS 1.1 job service: job kinds, storage, runner and Flask blueprint.

``uws`` runs any registered job kind and knows nothing of what the jobs compute.
An application registers its kinds in a :class:`KindRegistry`, builds a
:class:`UWSService` over a :class:`JobStore`, mounts :func:`create_uws_blueprint`
and runs a :class:`Runner` (in its own process or embedded).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uws._bearer import AnonymousClients, BearerTokenIdentity, token_claims
    from uws._errors import (
        AuthenticationRequiredError,
        InvalidTransitionError,
        JobNotFoundError,
        ParameterError,
        QuotaExceededError,
        ReadOnlyError,
        RequestTooLargeError,
        ResultNotFoundError,
        ServiceUnavailableError,
        UWSError,
    )
    from uws._handlers import DATABASE_DOWN, create_uws_blueprint
    from uws._identity import (
        AnonymousIdentity,
        BasicAuthIdentity,
        CredentialCache,
        IdentityPolicy,
        TrustedHeaderIdentity,
        load_users_file,
    )
    from uws._kinds import (
        JobContext,
        JobFailure,
        JobKind,
        JobResult,
        KindRegistry,
        ParameterSet,
        select_by_parameter,
    )
    from uws._models import (
        JobError,
        JobFilter,
        JobRecord,
        JobSummaryRef,
        Progress,
        Reader,
        StoredResult,
    )
    from uws._notifications import (
        NotificationDispatcher,
        NotifyPolicy,
        NotifySettings,
        SmtpSettings,
        job_summary,
        sign,
    )
    from uws._notify import Notifier, PostgresListener
    from uws._quotas import QuotaClass, QuotaPolicy, Usage, owner_usage
    from uws._runner import Runner, RunnerConfig
    from uws._schema import Base
    from uws._service import UWSPolicy, UWSService, parse_iso_datetime
    from uws._storage import JobStore
    from uws._text import check_text, xml_safe
    from uws._tokens import TokenClaims, TokenRecord, TokenRejected, TokenService
    from uws._transitions import (
        ACTIVE_PHASES,
        FINAL_PHASES,
        TRANSITIONS,
        Action,
        ExecutionPhase,
        next_phase,
    )
    from uws._xml import render_error_votable

# Public name -> defining module, imported on first use (PEP 562): worker processes
# need only the job-kind machinery and start without Flask, SQLAlchemy and vo-models.
_EXPORTS: dict[str, str] = {
    "ACTIVE_PHASES": "uws._transitions",
    "DATABASE_DOWN": "uws._handlers",
    "Action": "uws._transitions",
    "AnonymousClients": "uws._bearer",
    "AnonymousIdentity": "uws._identity",
    "AuthenticationRequiredError": "uws._errors",
    "Base": "uws._schema",
    "BasicAuthIdentity": "uws._identity",
    "BearerTokenIdentity": "uws._bearer",
    "CredentialCache": "uws._identity",
    "ExecutionPhase": "uws._transitions",
    "FINAL_PHASES": "uws._transitions",
    "IdentityPolicy": "uws._identity",
    "InvalidTransitionError": "uws._errors",
    "JobContext": "uws._kinds",
    "JobError": "uws._models",
    "JobFailure": "uws._kinds",
    "JobFilter": "uws._models",
    "JobKind": "uws._kinds",
    "JobNotFoundError": "uws._errors",
    "JobRecord": "uws._models",
    "JobResult": "uws._kinds",
    "JobStore": "uws._storage",
    "JobSummaryRef": "uws._models",
    "KindRegistry": "uws._kinds",
    "NotificationDispatcher": "uws._notifications",
    "Notifier": "uws._notify",
    "NotifyPolicy": "uws._notifications",
    "NotifySettings": "uws._notifications",
    "ParameterError": "uws._errors",
    "ParameterSet": "uws._kinds",
    "PostgresListener": "uws._notify",
    "QuotaClass": "uws._quotas",
    "QuotaExceededError": "uws._errors",
    "QuotaPolicy": "uws._quotas",
    "RequestTooLargeError": "uws._errors",
    "Progress": "uws._models",
    "Reader": "uws._models",
    "ReadOnlyError": "uws._errors",
    "ResultNotFoundError": "uws._errors",
    "Runner": "uws._runner",
    "RunnerConfig": "uws._runner",
    "ServiceUnavailableError": "uws._errors",
    "SmtpSettings": "uws._notifications",
    "StoredResult": "uws._models",
    "TRANSITIONS": "uws._transitions",
    "TokenClaims": "uws._tokens",
    "TokenRecord": "uws._tokens",
    "TokenRejected": "uws._tokens",
    "TokenService": "uws._tokens",
    "TrustedHeaderIdentity": "uws._identity",
    "Usage": "uws._quotas",
    "UWSError": "uws._errors",
    "UWSPolicy": "uws._service",
    "UWSService": "uws._service",
    "check_text": "uws._text",
    "create_uws_blueprint": "uws._handlers",
    "job_summary": "uws._notifications",
    "load_users_file": "uws._identity",
    "next_phase": "uws._transitions",
    "owner_usage": "uws._quotas",
    "parse_iso_datetime": "uws._service",
    "render_error_votable": "uws._xml",
    "select_by_parameter": "uws._kinds",
    "sign": "uws._notifications",
    "token_claims": "uws._bearer",
    "xml_safe": "uws._text",
}

__all__ = [
    "ACTIVE_PHASES",
    "DATABASE_DOWN",
    "FINAL_PHASES",
    "TRANSITIONS",
    "Action",
    "AnonymousClients",
    "AnonymousIdentity",
    "AuthenticationRequiredError",
    "Base",
    "BasicAuthIdentity",
    "BearerTokenIdentity",
    "CredentialCache",
    "ExecutionPhase",
    "IdentityPolicy",
    "InvalidTransitionError",
    "JobContext",
    "JobError",
    "JobFailure",
    "JobFilter",
    "JobKind",
    "JobNotFoundError",
    "JobRecord",
    "JobResult",
    "JobStore",
    "JobSummaryRef",
    "KindRegistry",
    "NotificationDispatcher",
    "Notifier",
    "NotifyPolicy",
    "NotifySettings",
    "ParameterError",
    "ParameterSet",
    "PostgresListener",
    "Progress",
    "QuotaClass",
    "QuotaExceededError",
    "QuotaPolicy",
    "ReadOnlyError",
    "Reader",
    "RequestTooLargeError",
    "ResultNotFoundError",
    "Runner",
    "RunnerConfig",
    "ServiceUnavailableError",
    "SmtpSettings",
    "StoredResult",
    "TokenClaims",
    "TokenRecord",
    "TokenRejected",
    "TokenService",
    "TrustedHeaderIdentity",
    "UWSError",
    "UWSPolicy",
    "UWSService",
    "Usage",
    "check_text",
    "create_uws_blueprint",
    "job_summary",
    "load_users_file",
    "next_phase",
    "owner_usage",
    "parse_iso_datetime",
    "render_error_votable",
    "select_by_parameter",
    "sign",
    "token_claims",
    "xml_safe",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
