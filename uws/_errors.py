"""Typed UWS errors, each carrying its HTTP status and its DALI error code.

The handlers map these to responses in exactly one place (``_handlers.py``); the
service and storage layers only raise them.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationRequiredError",
    "InvalidTransitionError",
    "JobNotFoundError",
    "ParameterError",
    "QuotaExceededError",
    "ReadOnlyError",
    "RequestTooLargeError",
    "ResultNotFoundError",
    "ServiceUnavailableError",
    "UWSError",
]


class UWSError(Exception):
    """Base of every error the UWS service reports to a client.

    Attributes
    ----------
    status
        HTTP status code of the response.
    dali_code
        Short error code used as the prefix of the DALI error message.
    """

    status: int = 500
    dali_code: str = "Error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ParameterError(UWSError):
    """A parameter value was missing, unknown or invalid.

    Parameters
    ----------
    parameter
        The name of the offending parameter, as the client spelt it when known.
    reason
        Why the value is unacceptable.
    """

    status = 400
    dali_code = "UsageError"

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter
        self.reason = reason


class InvalidTransitionError(UWSError):
    """The request is not allowed in the job's current phase."""

    status = 409
    dali_code = "UsageError"


class JobNotFoundError(UWSError):
    """No such job, or the job belongs to somebody else."""

    status = 404
    dali_code = "UsageError"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r}")
        self.job_id = job_id


class ResultNotFoundError(UWSError):
    """The job has no result with that identifier."""

    status = 404
    dali_code = "UsageError"


class AuthenticationRequiredError(UWSError):
    """The request carries no acceptable identity and anonymous use is off."""

    status = 401
    dali_code = "AuthenticationError"

    def __init__(self, message: str, *, challenge: str | None = None) -> None:
        super().__init__(message)
        self.challenge = challenge


class ServiceUnavailableError(UWSError):
    """The job database cannot be reached; the client should try again later.

    Parameters
    ----------
    message
        What is unavailable (never the database URL or the driver's message).
    retry_after
        Seconds announced in the ``Retry-After`` header.
    """

    status = 503
    dali_code = "ServiceUnavailable"

    def __init__(self, message: str, *, retry_after: int = 10) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QuotaExceededError(UWSError):
    """The owner holds or used as much as their quota allows: retry later (429).

    Parameters
    ----------
    message
        Which limit, the amount used and the limit.
    retry_after
        Seconds announced in the ``Retry-After`` header (when the limit may allow it again).
    """

    status = 429
    dali_code = "UsageError"

    def __init__(self, message: str, *, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestTooLargeError(UWSError):
    """The request alone asks more than the owner's quota allows per request (403): asking
    less helps, waiting does not."""

    status = 403
    dali_code = "UsageError"


class ReadOnlyError(UWSError):
    """The job is shared with the requester for reading only; changes are its owner's (403)."""

    status = 403
    dali_code = "PermissionDenied"
