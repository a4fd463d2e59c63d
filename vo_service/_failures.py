"""Processing errors as protocol errors, decided in one place.

A request is refused (a 4xx naming the parameter) for anything the client must change; the
analysis packages raise their own errors for those (:class:`processing.products.RecipeError`,
:class:`processing.instruments.BandError`, an unknown science window, a bad sky model), and
:func:`request_error` names the request parameter each one is about. The validator (``/async``,
``/sync``, the ODA facade and the web form, which all create jobs), SODA re-derivation and the
CLI use it; a job that meets one of them while running fails with the same message
(:func:`job_failure`).
"""

from __future__ import annotations

from processing.archive import UnknownScienceWindow
from processing.instruments import BandError
from processing.isgri import CatalogError
from processing.isgri import RequestError as AnalysisRequestError
from processing.products import RecipeError, RecipeNotFoundError
from uws import JobFailure
from vo_service._request import RequestError

__all__ = ["PROCESSING_ERRORS", "job_failure", "request_error"]

#: The processing errors that mean "change the request" (anything else is the service's fault).
PROCESSING_ERRORS: tuple[type[Exception], ...] = (
    RecipeError,
    RecipeNotFoundError,
    BandError,
    UnknownScienceWindow,
    CatalogError,
    AnalysisRequestError,
)


def request_error(exc: Exception) -> RequestError:
    """The request error of a processing error, naming the parameter the client gave."""
    if isinstance(exc, RequestError):
        return exc
    if isinstance(exc, RecipeError):
        return RequestError(exc.param, exc.message)
    if isinstance(exc, RecipeNotFoundError):
        return RequestError(
            "instrument",
            f"{exc.instrument!r} makes no {exc.product_type} products",
        )
    if isinstance(exc, BandError):
        return RequestError("E1_keV", str(exc))
    if isinstance(exc, UnknownScienceWindow):
        return RequestError("scw_list", str(exc))
    if isinstance(exc, CatalogError):
        return RequestError("selected_catalog", str(exc))
    if isinstance(exc, AnalysisRequestError):
        return RequestError(exc.parameter, exc.reason)
    raise TypeError(f"not a request error: {exc!r}")


def job_failure(exc: Exception) -> JobFailure:
    """A running job's failure for a processing error that names a request parameter."""
    error = request_error(exc)
    return JobFailure(f"{error.param}: {error.message}")
