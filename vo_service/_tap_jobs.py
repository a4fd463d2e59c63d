"""TAP parameters (DALI, TAP 1.1) and the ``tap`` job kind of our UWS service (``/tap/async``)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from uws import JobContext, JobFailure, JobKind, JobResult, ParameterError, ParameterSet
from vo_service._tap_adql import AdqlError
from vo_service._tap_output import output_format, render_result
from vo_service._tap_query import TapLimits, run_query
from vo_service.db import make_engine
from vo_service.settings import Settings

__all__ = ["LIMITS", "TapRequest", "handle_tap_job", "parse_tap_request", "tap_job_kind"]

LIMITS = TapLimits()
#: The longest ADQL text accepted.
MAX_QUERY_CHARS = 100_000


@functools.lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    return make_engine(url)


class TapRequest(dict[str, Any]):
    """Validated TAP parameters: ``query``, ``maxrec``, ``format`` (a MIME type), ``uploads``."""


def _maxrec(params: ParameterSet) -> int:
    if "MAXREC" not in params:
        return LIMITS.default_maxrec
    raw = params["MAXREC"].strip()
    try:
        value = int(raw)
    except ValueError as exc:
        raise ParameterError(params.given_name("MAXREC"), f"{raw!r} is not an integer") from exc
    if value < 0:
        raise ParameterError(params.given_name("MAXREC"), "must be 0 or more")
    return min(value, LIMITS.hard_maxrec)


def parse_tap_request(params: ParameterSet) -> TapRequest:
    """Check the DALI/TAP parameters; the ADQL is parsed (not run) to report errors early.

    Raises
    ------
    uws.ParameterError
        Naming the parameter (LANG, QUERY, MAXREC, RESPONSEFORMAT, REQUEST).
    """
    if "REQUEST" in params and params["REQUEST"].strip().lower() != "doquery":
        raise ParameterError(params.given_name("REQUEST"), "only doQuery is supported")
    lang = params.get("LANG", "ADQL").strip()
    if lang.upper() not in ("ADQL", "ADQL-2.0", "ADQL-2.1"):
        raise ParameterError(params.given_name("LANG"), f"unsupported language {lang!r}; ADQL")
    query = params.get("QUERY")
    if query is None or not query.strip():
        raise ParameterError("QUERY", "missing: an ADQL query is required")
    if len(query) > MAX_QUERY_CHARS:
        raise ParameterError("QUERY", f"longer than {MAX_QUERY_CHARS} characters")
    name = "RESPONSEFORMAT" if "RESPONSEFORMAT" in params else "FORMAT"
    try:
        fmt = output_format(params.get(name))
    except ValueError as exc:
        raise ParameterError(params.given_name(name), str(exc)) from exc
    return TapRequest(query=query, maxrec=_maxrec(params), format=fmt.mime)


def validate_tap_job(params: ParameterSet) -> dict[str, Any]:
    """Validator of the async job kind (uploads are taken by ``/tap/sync`` only)."""
    if "UPLOAD" in params:
        raise ParameterError(
            params.given_name("UPLOAD"), "table uploads are accepted by /tap/sync only"
        )
    # The ADQL is checked when the job runs: TAP 1.1 creates the job and ends it in ERROR.
    return dict(parse_tap_request(params))


def handle_tap_job(settings_json: str, job: JobContext) -> list[JobResult]:
    """Run the query of an async TAP job; its result is one file, ``result``."""
    settings = Settings.model_validate_json(settings_json)
    params = job.parameters
    fmt = output_format(params["format"])
    try:
        result = run_query(
            _engine(settings.resolved_database_url),
            params["query"],
            maxrec=int(params["maxrec"]),
            limits=LIMITS,
        )
    except AdqlError as exc:
        raise JobFailure(str(exc)) from exc
    data = render_result(result, fmt, settings.public_base_url)
    path = Path(job.work_dir) / f"result.{fmt.extension}"
    path.write_bytes(data)
    return [JobResult("result", mime_type=fmt.mime, path=path.name, size=len(data), primary=True)]


def tap_job_kind(settings: Settings) -> JobKind:
    """The ``tap`` job kind bound to these settings (picklable for worker processes)."""
    return JobKind(
        name="tap",
        validate=validate_tap_job,
        handler=functools.partial(handle_tap_job, settings.model_dump_json()),
        description="ADQL queries of the published tables (TAP 1.1 async)",
    )
