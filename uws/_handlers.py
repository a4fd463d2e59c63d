"""The UWS 1.1 REST binding as a Flask blueprint: parse, call the service, render.

:func:`create_uws_blueprint` mounts one job list (``/async`` by default) and an
optional sync endpoint over a :class:`~uws.UWSService`, so an application can
mount several endpoints, each with its own kinds. Every error becomes a DALI
VOTable error document here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request, send_file
from flask.typing import ResponseReturnValue
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from uws._bearer import AnonymousClients, token_claims
from uws._errors import (
    AuthenticationRequiredError,
    ParameterError,
    QuotaExceededError,
    ResultNotFoundError,
    ServiceUnavailableError,
    UWSError,
)
from uws._identity import IdentityPolicy
from uws._kinds import InfoEntry
from uws._models import JobFilter, JobRecord, Reader
from uws._service import UWSService, parse_iso_datetime
from uws._transitions import Action, ExecutionPhase
from uws._xml import (
    render_error_votable,
    render_job,
    render_job_list,
    render_parameters,
    render_results,
)

__all__ = ["DATABASE_DOWN", "XML_MIME", "create_uws_blueprint"]

log = logging.getLogger(__name__)

XML_MIME = "application/xml"
VOTABLE_MIME = "application/x-votable+xml"
TEXT_MIME = "text/plain; charset=utf-8"
#: Most jobs one list answers: LAST above it means "all of them" (and stays a 64-bit LIMIT).
MAX_LAST = 2**31 - 1
#: Database errors that mean "not reachable now" (a 503), not a fault of the request.
DATABASE_DOWN = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def _pairs() -> list[tuple[str, str]]:
    """All parameters of the request (query string, then form), names as given."""
    return [*request.args.items(multi=True), *request.form.items(multi=True)]


def _values(name: str) -> list[str]:
    key = name.lower()
    return [v for k, v in _pairs() if k.lower() == key]


def _single(name: str) -> str | None:
    values = _values(name)
    return values[-1] if values else None


def _xml(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, mimetype=XML_MIME)


def _text(body: str) -> Response:
    return Response(body, status=200, content_type=TEXT_MIME)


def _iso(value: object) -> str:
    if value is None:
        return ""
    text = value.isoformat(timespec="milliseconds")  # type: ignore[attr-defined]
    return str(text).replace("+00:00", "Z")


def _phase_value(name: str, value: str) -> ExecutionPhase:
    try:
        return ExecutionPhase(value.strip().upper())
    except ValueError:
        raise ParameterError(name, f"{value!r} is not a UWS phase") from None


def _job_filter() -> JobFilter:
    phases = [_phase_value("PHASE", v) for v in _values("PHASE")]
    after = None
    afters = _values("AFTER")
    if afters:
        # UWS 1.1: when AFTER repeats, the most recent instant applies.
        after = max(parse_iso_datetime("AFTER", v) for v in afters)
    last = None
    raw_last = _single("LAST")
    if raw_last is not None:
        try:
            last = int(raw_last)
        except ValueError:
            raise ParameterError("LAST", f"{raw_last!r} is not an integer") from None
        if last <= 0:
            raise ParameterError("LAST", "must be a positive integer")
        last = min(last, MAX_LAST)
    return JobFilter(phases=frozenset(phases) or None, after=after, last=last)


def create_uws_blueprint(
    service: UWSService,
    identity: IdentityPolicy,
    *,
    name: str = "uws",
    url_prefix: str = "/async",
    sync_path: str | None = "/sync",
    sync_timeout: float = 60.0,
    public_url: str | None = None,
    clients: AnonymousClients | None = None,
) -> Blueprint:
    """Build the blueprint of one UWS endpoint.

    Parameters
    ----------
    service
        The service whose kinds this endpoint creates and lists.
    identity
        How the owner of a request is found.
    name
        Blueprint name (unique per application).
    url_prefix
        Path of the job list.
    sync_path
        Path of the synchronous endpoint, or ``None`` for none.
    sync_timeout
        How long the sync endpoint waits before redirecting to the job.
    public_url
        Base URL clients see (behind a proxy); the request's own root otherwise.
    clients
        Gives each anonymous client its own job list; ``None``: anonymous users share one.
    """
    bp = Blueprint(name, __name__)
    prefix = "/" + url_prefix.strip("/")

    def base() -> str:
        return (public_url or request.url_root).rstrip("/") + prefix

    def job_url(job_id: str) -> str:
        return f"{base()}/{job_id}"

    def result_url(job: JobRecord, result_id: str) -> str:
        url = f"{base()}/{job.id}/results/{result_id}"
        key = request.args.get("SHARE")
        # A reader by link follows the results with the link's key.
        return f"{url}?{urlencode({'SHARE': key})}" if key else url

    def owner() -> str | None:
        return identity.identify(request)

    def reader() -> Reader:
        """The requester as a reader: their name, their token's roles as groups, and the
        share key of a link (``SHARE``, in the query string only)."""
        user = owner()
        claims = token_claims(request)
        groups = frozenset(claims.roles) if claims is not None else frozenset()
        return Reader(user, groups, request.args.get("SHARE") or None)

    def readable(job_id: str) -> JobRecord:
        who = reader()
        return service.get(who.user, job_id, reader=who)

    def writable(job_id: str) -> str | None:
        """The owner, once the requester may change the job (403 for a reader by share)."""
        who = reader()
        service.check_writable(who, job_id)
        return who.user

    def info(job: JobRecord, user: str | None) -> list[InfoEntry]:
        entries = list(service.describe(job))
        if job.parent_id is not None:
            entries.append(("parent", {"id": job.parent_id, "href": job_url(job.parent_id)}))
        if user is not None and job.owner == user:
            for grant in service.shares.grants(job.id):
                entry = {"grantee": grant}
                if grant.startswith("link:"):
                    key = grant.removeprefix("link:")
                    entry = {"grantee": "link", "href": f"{job_url(job.id)}?SHARE={key}"}
                entries.append(("share", entry))
        return entries

    def client(user: str | None) -> str | None:
        return clients.client(request) if user is None and clients is not None else None

    def to_job(job_id: str) -> ResponseReturnValue:
        return redirect(job_url(job_id), code=303)

    @bp.before_request
    def _listen() -> None:
        # WAIT across processes on PostgreSQL needs this process to LISTEN.
        service.store.ensure_listener()

    if clients is not None:

        @bp.after_request
        def _client_cookie(response: Response) -> Response:
            return clients.remember(request, response)

    @bp.errorhandler(UWSError)
    def _uws_error(exc: UWSError) -> ResponseReturnValue:
        response = Response(
            render_error_votable(f"{exc.dali_code}: {exc.message}"),
            status=exc.status,
            mimetype=VOTABLE_MIME,
        )
        if isinstance(exc, AuthenticationRequiredError) and exc.challenge:
            response.headers["WWW-Authenticate"] = exc.challenge
        if isinstance(exc, (ServiceUnavailableError, QuotaExceededError)):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @bp.errorhandler(sa_exc.OperationalError)
    @bp.errorhandler(sa_exc.InterfaceError)
    @bp.errorhandler(sa_exc.TimeoutError)
    def _database_down(exc: Exception) -> ResponseReturnValue:
        # The driver's message names the host and database: it goes to the log only.
        log.error("job database unavailable: %s", exc)
        return _uws_error(ServiceUnavailableError("the job database is unavailable; retry later"))

    @bp.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        # Raised inside a view (a body over MAX_CONTENT_LENGTH, a malformed form): the same
        # DALI document as every other error of this endpoint.
        code = "UsageError" if (exc.code or 500) < 500 else "Error"
        response = exc.get_response()
        response.set_data(render_error_votable(f"{code}: {exc.description or exc.name}"))
        response.mimetype = VOTABLE_MIME
        return response

    @bp.get(prefix)
    def job_list() -> ResponseReturnValue:
        user = owner()
        flt = dataclasses.replace(_job_filter(), client=client(user))
        refs = service.list_jobs(user, flt)
        return _xml(render_job_list(refs, job_url))

    @bp.post(prefix)
    def create_job() -> ResponseReturnValue:
        user = owner()
        job = service.create(user, _pairs(), client=client(user))
        return to_job(job.id)

    @bp.get(f"{prefix}/<job_id>")
    def job_document(job_id: str) -> ResponseReturnValue:
        who = reader()
        user = who.user
        wait = _single("WAIT")
        if wait is None:
            job = service.get(user, job_id, reader=who)
        else:
            try:
                seconds = float(wait)
            except ValueError:
                raise ParameterError("WAIT", f"{wait!r} is not a number of seconds") from None
            if math.isnan(seconds):
                raise ParameterError("WAIT", "NaN is not a number of seconds")
            phase_value = _single("PHASE")
            phase = _phase_value("PHASE", phase_value) if phase_value else None
            job = service.wait(user, job_id, seconds, phase, reader=who)
        comments = service.comments.comments(job.id)
        return _xml(render_job(job, result_url, info(job, user), comments))

    @bp.post(f"{prefix}/<job_id>")
    def job_post(job_id: str) -> ResponseReturnValue:
        action = _single("ACTION")
        if action is not None and action.upper() == "DELETE":
            service.delete(writable(job_id), job_id)
            return redirect(base(), code=303)
        if action is not None:
            raise ParameterError("ACTION", f"{action!r} is not supported (only DELETE)")
        phase = _single("PHASE")
        if phase is not None:
            return post_phase(job_id)
        raise ParameterError("ACTION", "POST to a job needs ACTION=DELETE or PHASE")

    @bp.delete(f"{prefix}/<job_id>")
    def job_delete(job_id: str) -> ResponseReturnValue:
        service.delete(writable(job_id), job_id)
        return redirect(base(), code=303)

    @bp.get(f"{prefix}/<job_id>/phase")
    def get_phase(job_id: str) -> ResponseReturnValue:
        return _text(readable(job_id).phase.value)

    @bp.post(f"{prefix}/<job_id>/phase")
    def post_phase(job_id: str) -> ResponseReturnValue:
        value = _single("PHASE")
        if value is None:
            raise ParameterError("PHASE", "missing (RUN or ABORT)")
        actions = {"RUN": Action.RUN, "ABORT": Action.ABORT}
        action = actions.get(value.strip().upper())
        if action is None:
            raise ParameterError("PHASE", f"{value!r} is not RUN or ABORT")
        service.apply(writable(job_id), job_id, action)
        return to_job(job_id)

    @bp.get(f"{prefix}/<job_id>/executionduration")
    def get_duration(job_id: str) -> ResponseReturnValue:
        return _text(str(readable(job_id).execution_duration))

    @bp.post(f"{prefix}/<job_id>/executionduration")
    def post_duration(job_id: str) -> ResponseReturnValue:
        value = _single("EXECUTIONDURATION")
        if value is None:
            raise ParameterError("EXECUTIONDURATION", "missing")
        service.set_execution_duration(writable(job_id), job_id, value)
        return to_job(job_id)

    @bp.get(f"{prefix}/<job_id>/destruction")
    def get_destruction(job_id: str) -> ResponseReturnValue:
        return _text(_iso(readable(job_id).destruction))

    @bp.post(f"{prefix}/<job_id>/destruction")
    def post_destruction(job_id: str) -> ResponseReturnValue:
        value = _single("DESTRUCTION")
        if value is None:
            raise ParameterError("DESTRUCTION", "missing")
        service.set_destruction(writable(job_id), job_id, value)
        return to_job(job_id)

    @bp.get(f"{prefix}/<job_id>/quote")
    def get_quote(job_id: str) -> ResponseReturnValue:
        return _text(_iso(readable(job_id).quote))

    @bp.get(f"{prefix}/<job_id>/owner")
    def get_owner(job_id: str) -> ResponseReturnValue:
        return _text(readable(job_id).owner or "")

    @bp.get(f"{prefix}/<job_id>/error")
    def get_error(job_id: str) -> ResponseReturnValue:
        job = readable(job_id)
        if job.error is None:
            raise ResultNotFoundError(f"job {job_id} has no error (phase {job.phase.value})")
        return Response(render_error_votable(job.error.message), mimetype=VOTABLE_MIME)

    @bp.get(f"{prefix}/<job_id>/parameters")
    def get_parameters(job_id: str) -> ResponseReturnValue:
        return _xml(render_parameters(readable(job_id)))

    @bp.post(f"{prefix}/<job_id>/parameters")
    def post_parameters(job_id: str) -> ResponseReturnValue:
        service.update_parameters(writable(job_id), job_id, _pairs())
        return to_job(job_id)

    @bp.get(f"{prefix}/<job_id>/results")
    def get_results(job_id: str) -> ResponseReturnValue:
        return _xml(render_results(readable(job_id), result_url))

    @bp.get(f"{prefix}/<job_id>/results/<result_id>")
    def get_result(job_id: str, result_id: str) -> ResponseReturnValue:
        who = reader()
        result = service.result(who.user, job_id, result_id, reader=who)
        if result.href is not None:
            return redirect(result.href, code=303)
        assert result.path is not None
        path = _result_path(service, job_id, result.path)
        if path is None:
            raise ResultNotFoundError(f"the file of result {result_id!r} is gone")
        return send_file(path, mimetype=result.mime_type or "application/octet-stream")

    @bp.get(f"{prefix}/<job_id>/sharing")
    def get_sharing(job_id: str) -> ResponseReturnValue:
        grants = service.grants(writable(job_id), job_id)
        return _text("".join(f"{_grant_line(g, job_url(job_id))}\n" for g in grants))

    @bp.post(f"{prefix}/<job_id>/sharing")
    def post_sharing(job_id: str) -> ResponseReturnValue:
        add, remove = _values("ADD"), _values("REMOVE")
        if not add and not remove:
            raise ParameterError("ADD", "give ADD=user:<name>|group:<name>|link or REMOVE=...")
        service.share(writable(job_id), job_id, add, remove)
        return redirect(f"{job_url(job_id)}/sharing", code=303)

    @bp.post(f"{prefix}/<job_id>/comments")
    def post_comment(job_id: str) -> ResponseReturnValue:
        value = _single("TEXT")
        if value is None:
            raise ParameterError("TEXT", "missing: the comment's text")
        service.comment(reader(), job_id, value)
        return to_job(job_id)

    @bp.post(f"{prefix}/<job_id>/clone")
    def clone_job(job_id: str) -> ResponseReturnValue:
        who = reader()
        changes = [(k, v) for k, v in _pairs() if k.lower() != "share"]
        job = service.clone(who.user, who, job_id, changes, client=client(who.user))
        return to_job(job.id)

    if sync_path is not None:
        _add_sync(bp, service, owner, client, job_url, result_url, sync_path, sync_timeout)
    return bp


def _grant_line(grant: str, job_url: str) -> str:
    """A grant as the sharing resource lists it (a link with the URL that carries its key)."""
    if grant.startswith("link:"):
        return f"{grant} {job_url}?{urlencode({'SHARE': grant.removeprefix('link:')})}"
    return grant


def _result_path(service: UWSService, job_id: str, stored: str) -> Path | None:
    path = Path(stored)
    if not path.is_absolute():
        if service.work_root is None:
            return None
        path = service.work_root / job_id / path
    return path if path.is_file() else None


def _add_sync(
    bp: Blueprint,
    service: UWSService,
    owner: Callable[[], str | None],
    client: Callable[[str | None], str | None],
    job_url: Callable[[str], str],
    result_url: Callable[[JobRecord, str], str],
    sync_path: str,
    timeout: float,
) -> None:
    """DALI sync: run a job, wait, and 303 to the primary result (or to the job)."""

    def sync() -> ResponseReturnValue:
        user = owner()
        job = service.create(user, _pairs(), run=True, client=client(user))
        job = service.wait_final(user, job.id, timeout)
        if job.phase is ExecutionPhase.COMPLETED and job.results:
            primary = job.results[0]
            return redirect(primary.href or result_url(job, primary.id), code=303)
        if job.error is not None:
            return redirect(f"{job_url(job.id)}/error", code=303)
        return redirect(job_url(job.id), code=303)

    bp.add_url_rule("/" + sync_path.strip("/"), "sync", sync, methods=["GET", "POST"])
