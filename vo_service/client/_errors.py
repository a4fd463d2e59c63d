"""What can go wrong, as exceptions a notebook user can catch by kind.

The service answers a bad request with HTTP 400 and a DALI error document (a VOTable whose
``QUERY_STATUS`` INFO reads ``UsageError: <param>: <reason>``); SODA answers in plain text
with the same wording. :func:`error_from_response` turns either into a
:class:`ParameterError` naming the parameter, and anything else into a :class:`ServiceError`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import requests

__all__ = [
    "ClientError",
    "JobAborted",
    "JobError",
    "JobTimeout",
    "NoOverlap",
    "ParameterError",
    "ProductNotFound",
    "ServiceError",
    "error_from_response",
]

#: ``<code>: <parameter>: <reason>`` as DALI, DataLink and SODA word a usage error.
_USAGE = re.compile(
    r"^\s*(?:UsageError|UsageFault|MultiValuedParamNotSupported)\s*:\s*"
    r"(?P<param>[A-Za-z_][\w.-]*)\s*:\s*(?P<reason>.+)$",
    re.DOTALL,
)


class ClientError(Exception):
    """Base class of the client's errors."""


class ParameterError(ClientError, ValueError):
    """A request parameter is wrong: found by the client from the service's own description of
    its parameters, or by the service (HTTP 400).

    Attributes
    ----------
    param : str
        The parameter's name, as the service spells it.
    message : str
        Why it is wrong.
    """

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


class ServiceError(ClientError):
    """The service refused or failed a request for another reason than a parameter.

    Attributes
    ----------
    status : int
        The HTTP status (0 when the service could not be reached).
    message : str
        The service's message.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message


class ProductNotFound(ClientError, LookupError):
    """The service has no product with this identifier (or no longer has it)."""


class NoOverlap(ClientError):
    """A cut-out region does not overlap the product (SODA answers 204, no content)."""


class JobError(ClientError):
    """A job ended in ERROR (or was aborted: :class:`JobAborted`).

    Attributes
    ----------
    job_url : str
        The job's URL (its document lists its parameters).
    phase : str
        The final phase.
    message : str
        The job's error summary.
    """

    def __init__(self, job_url: str, phase: str, message: str) -> None:
        super().__init__(f"job {phase}: {message}")
        self.job_url = job_url
        self.phase = phase
        self.message = message


class JobAborted(JobError):
    """A job was aborted (by its owner, or because it ran past its execution duration)."""


class JobTimeout(ClientError, TimeoutError):
    """A job did not finish within the time the caller allowed; it goes on running.

    Attributes
    ----------
    job_url : str
        The job's URL: ``Client.job(job_url)`` picks it up again.
    phase : str
        Its last known phase.
    """

    def __init__(self, job_url: str, phase: str, timeout: float) -> None:
        super().__init__(f"the job is still {phase} after {timeout:g} s")
        self.job_url = job_url
        self.phase = phase


def _message_of(response: requests.Response) -> str:
    """The service's message in an error response: the QUERY_STATUS INFO of a VOTable, else
    the body's text (shortened)."""
    body = response.content
    if body.lstrip().startswith(b"<"):
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            pass
        else:
            for info in root.iterfind(".//{*}INFO"):
                if info.get("name") == "QUERY_STATUS" and info.get("value") == "ERROR":
                    return (info.text or "").strip() or "error without a message"
    text = response.text.strip()
    if len(text) > 500:
        text = text[:500] + "…"
    return text or (response.reason or "no message")


def error_from_response(response: requests.Response) -> ClientError:
    """The exception that an unsuccessful response stands for.

    A usage error naming a parameter is a :class:`ParameterError`; anything else a
    :class:`ServiceError` with the HTTP status and the service's message.
    """
    message = _message_of(response)
    usage = _USAGE.match(message)
    if usage is not None and response.status_code in (400, 422):
        return ParameterError(usage["param"], usage["reason"].strip())
    return ServiceError(response.status_code, message)
