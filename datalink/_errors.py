"""Typed errors of the DataLink and SODA endpoints, each with its protocol code and status.

The blueprints turn them into responses in one place (``_blueprints.py``): DataLink
request errors become DALI VOTable error documents, SODA errors text/plain documents
whose first word is the SODA error code (SODA 1.0 §5).
"""

from __future__ import annotations

__all__ = [
    "DataLinkError",
    "MultiValuedParamNotSupported",
    "NoOverlap",
    "NotFoundFault",
    "SodaError",
    "UnsupportedOperation",
    "UsageFault",
]


class DataLinkError(Exception):
    """Base of every error the endpoints report to clients.

    Attributes
    ----------
    code
        The protocol's error code, written first in the error document.
    status
        HTTP status.
    parameter
        The parameter at fault, named in the message, if any.
    """

    code = "DefaultFault"
    status = 400

    def __init__(self, message: str, parameter: str | None = None):
        self.parameter = parameter
        self.message = f"{parameter}: {message}" if parameter else message
        super().__init__(self.message)

    def document_text(self) -> str:
        """``Code: message`` as the error documents carry it."""
        return f"{self.code}: {self.message}"


class UsageFault(DataLinkError):
    """A DataLink request the service cannot serve as given (missing ID, bad MAXREC...)."""

    code = "UsageFault"


class NotFoundFault(DataLinkError):
    """An ID that names no product."""

    code = "NotFoundFault"
    status = 404


class SodaError(DataLinkError):
    """A SODA request with a bad parameter (SODA ``UsageError``, HTTP 400)."""

    code = "UsageError"


class MultiValuedParamNotSupported(SodaError):
    """Several values of a parameter where the endpoint takes one (SODA sync)."""

    code = "MultiValuedParamNotSupported"


class UnsupportedOperation(SodaError):
    """A well-formed request this product does not support (e.g. a cut of a spectrum).

    HTTP 422: the request is understood, but cannot be processed for this product.
    """

    status = 422


class NoOverlap(SodaError):
    """The requested region, band or time range does not overlap the product.

    Not an error to the client: the endpoints answer HTTP 204 (no content).
    """

    status = 204
