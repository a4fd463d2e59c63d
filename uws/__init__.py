"""A generic IVOA UWS 1.1 job service: job kinds, storage, runner and Flask blueprint.

``uws`` runs any registered job kind and knows nothing of what the jobs compute.
An application registers its kinds in a :class:`KindRegistry`, builds a
:class:`UWSService` over a :class:`JobStore`, mounts :func:`create_uws_blueprint`
and runs a :class:`Runner` (in its own process or embedded).
"""

from uws._errors import (
    AuthenticationRequiredError,
    InvalidTransitionError,
    JobNotFoundError,
    ParameterError,
    ResultNotFoundError,
    UWSError,
)
from uws._handlers import create_uws_blueprint
from uws._identity import (
    AnonymousIdentity,
    BasicAuthIdentity,
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
from uws._models import JobError, JobFilter, JobRecord, JobSummaryRef, Progress, StoredResult
from uws._notify import Notifier, PostgresListener
from uws._runner import Runner, RunnerConfig
from uws._schema import Base
from uws._service import UWSPolicy, UWSService, parse_iso_datetime
from uws._storage import JobStore
from uws._transitions import (
    ACTIVE_PHASES,
    FINAL_PHASES,
    TRANSITIONS,
    Action,
    ExecutionPhase,
    next_phase,
)

__all__ = [
    "ACTIVE_PHASES",
    "FINAL_PHASES",
    "TRANSITIONS",
    "Action",
    "AnonymousIdentity",
    "AuthenticationRequiredError",
    "Base",
    "BasicAuthIdentity",
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
    "Notifier",
    "ParameterError",
    "ParameterSet",
    "PostgresListener",
    "Progress",
    "ResultNotFoundError",
    "Runner",
    "RunnerConfig",
    "StoredResult",
    "TrustedHeaderIdentity",
    "UWSError",
    "UWSPolicy",
    "UWSService",
    "create_uws_blueprint",
    "load_users_file",
    "next_phase",
    "parse_iso_datetime",
    "select_by_parameter",
]
