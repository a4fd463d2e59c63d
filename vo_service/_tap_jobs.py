"""TAP parameters (DALI, TAP 1.1) and the ``tap`` job kind of our UWS service (``/tap/async``).

Sync requests are checked whole before they run. An async job is created from any LANG and
QUERY (TAP 1.1: a bad query is a job that ends in ERROR, and QUERY may be set after the job
is created); MAXREC, RESPONSEFORMAT and UPLOAD are checked at creation.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from uws import JobContext, JobFailure, JobKind, JobResult, ParameterError, ParameterSet
from vo_service._tap_adql import AdqlError
from vo_service._tap_output import output_format, render_result
from vo_service._tap_query import TapLimits, run_query
from vo_service._tap_upload import stored_names, stored_uploads
from vo_service.db import make_engine
from vo_service.settings import Settings

__all__ = [
    "LIMITS",
    "check_query",
    "handle_tap_job",
    "parse_tap_options",
    "tap_job_kind",
    "upload_folder",
    "validate_tap_job",
]

LIMITS = TapLimits()
#: The longest ADQL text accepted.
MAX_QUERY_CHARS = 100_000
_LANGUAGES = ("ADQL", "ADQL-2.0", "ADQL-2.1")


@functools.lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    return make_engine(url)


def upload_folder(settings: Settings) -> Path:
    """Where async jobs' uploads are kept."""
    return settings.data_dir.resolve() / "tap" / "uploads"


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


def parse_tap_options(params: ParameterSet) -> dict[str, Any]:
    """REQUEST, MAXREC and RESPONSEFORMAT (or FORMAT), checked; LANG and QUERY as given.

    Raises
    ------
    uws.ParameterError
        Naming the parameter.
    """
    if "REQUEST" in params and params["REQUEST"].strip().lower() != "doquery":
        raise ParameterError(params.given_name("REQUEST"), "only doQuery is supported")
    name = "RESPONSEFORMAT" if "RESPONSEFORMAT" in params else "FORMAT"
    try:
        fmt = output_format(params.get(name))
    except ValueError as exc:
        raise ParameterError(params.given_name(name), str(exc)) from exc
    return {
        "lang": params.get("LANG"),
        "query": params.get("QUERY"),
        "maxrec": _maxrec(params),
        "format": fmt.mime,
    }


def check_query(lang: str | None, query: str | None) -> str:
    """The query text, once LANG and QUERY are usable.

    Raises
    ------
    uws.ParameterError
        Naming LANG or QUERY.
    """
    if lang is None or lang.strip().upper() not in _LANGUAGES:
        shown = "missing" if lang is None else f"unsupported language {lang.strip()!r}"
        raise ParameterError("LANG", f"{shown}; this service runs ADQL")
    if query is None or not query.strip():
        raise ParameterError("QUERY", "missing: an ADQL query is required")
    if len(query) > MAX_QUERY_CHARS:
        raise ParameterError("QUERY", f"longer than {MAX_QUERY_CHARS} characters")
    return query


def validate_tap_job(settings_json: str, params: ParameterSet) -> dict[str, Any]:
    """Validator of the async job kind; uploads are kept for the runner."""
    options = parse_tap_options(params)
    options["uploads"] = stored_names(params)
    del settings_json
    return options


def handle_tap_job(settings_json: str, job: JobContext) -> list[JobResult]:
    """Run the query of an async TAP job; its result is one file, ``result``."""
    settings = Settings.model_validate_json(settings_json)
    params = job.parameters
    fmt = output_format(params["format"])
    try:
        query = check_query(params.get("lang"), params.get("query"))
        uploads = stored_uploads(params.get("uploads") or {}, upload_folder(settings), LIMITS)
        result = run_query(
            _engine(settings.resolved_database_url),
            query,
            maxrec=int(params["maxrec"]),
            limits=LIMITS,
            uploads=uploads,
        )
    except (AdqlError, ParameterError) as exc:
        raise JobFailure(str(exc)) from exc
    except OSError as exc:
        raise JobFailure("an uploaded table is no longer available; submit it again") from exc
    data = render_result(result, fmt, settings.public_base_url)
    path = Path(job.work_dir) / f"result.{fmt.extension}"
    path.write_bytes(data)
    return [JobResult("result", mime_type=fmt.mime, path=path.name, size=len(data), primary=True)]


def tap_job_kind(settings: Settings) -> JobKind:
    """The ``tap`` job kind bound to these settings (picklable for worker processes)."""
    settings_json = settings.model_dump_json()
    return JobKind(
        name="tap",
        validate=functools.partial(validate_tap_job, settings_json),
        handler=functools.partial(handle_tap_job, settings_json),
        description="ADQL queries of the published tables (TAP 1.1 async)",
    )
