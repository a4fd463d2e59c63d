"""The front end's pages: the request form at ``/``, the user's jobs, the product pages.

Thin handlers: find the owner, ask the UWS service (the same ``/async`` jobs) or the product
store, render a template. A user's mistake is the form again with the server's message at the
field (400), never a 500; another user's job is a 404, as on ``/async``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from datalink import DATALINK_EXTENSION, DataLinkURLs, kev_to_metres, split_product_id
from uws import (
    Action,
    AuthenticationRequiredError,
    InvalidTransitionError,
    JobFilter,
    JobNotFoundError,
    JobRecord,
    ParameterError,
    Reader,
    UWSError,
    token_claims,
)
from vo_service._context import ServiceContext
from vo_service._datalink import StoreProductSource
from vo_service._descriptor import PRODUCT_DESCRIPTIONS
from vo_service._store import is_product_hash
from vo_service._version import __version__
from vo_service.settings import Settings
from vo_service.web._assets import vendor_available, vendor_blueprint
from vo_service.web._forms import build_form, submitted_pairs, values_of
from vo_service.web._front import Check, WebFront
from vo_service.web._jobview import job_view
from vo_service.web._plots import plot_data
from vo_service.web._product import product_page
from vo_service.web._skyfits import significance_fits

__all__ = ["WEB_EXTENSION", "install_web", "web_blueprint"]

log = logging.getLogger(__name__)

#: Key of the :class:`WebFront` in ``app.extensions``.
WEB_EXTENSION = "web_front"
#: Jobs listed on the jobs page (newest first).
_LIST_LENGTH = 40


class _PagesBlueprint(Blueprint):
    """Our static files are cached a day by browsers: their URLs carry :func:`asset_version`,
    so a changed file is a new URL (a returning user's page loads without revalidations)."""

    def get_send_file_max_age(self, filename: str | None) -> int | None:
        return 86400


@functools.cache
def asset_version() -> str:
    """A short hash of the static files' names, sizes and times (changes when they do)."""
    digest = hashlib.sha256()
    for path in sorted((Path(__file__).parent / "static").iterdir()):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:12]


web = _PagesBlueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/web/static",
)


@web.app_template_global()
def asset(filename: str) -> str:
    """URL of one of our static files, versioned (see :class:`_PagesBlueprint`)."""
    return url_for("web.static", filename=filename, v=asset_version())


def web_blueprint() -> Blueprint:
    """The pages' blueprint (module-level: its routes are declared below)."""
    return web


def _front() -> WebFront:
    front: WebFront = current_app.extensions[WEB_EXTENSION]
    return front


def _base() -> str:
    return _front().context.settings.public_base_url.rstrip("/")


def _owner() -> str | None:
    return _front().owner(request)


def _page(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    ctx = _front().context
    body = render_template(
        template,
        version=__version__,
        ivoid=ctx.settings.ivoid,
        service_name=ctx.settings.service_name,
        **context,
    )
    return Response(body, status=status, mimetype="text/html")


@web.before_request
def _same_site_posts() -> None:
    """The pages' forms act on the user's jobs: a form of another site must not (CSRF).

    The identity modes are a proxy's header or HTTP Basic, which a browser also sends with a
    form another site makes it post; browsers name that form's site in ``Origin`` (and in
    ``Sec-Fetch-Site``). A POST whose origin is neither this request's host nor the public
    base URL's is refused; clients that send no ``Origin`` (scripts) are not browsers' forms.
    """
    if request.method != "POST":
        return
    origin = request.headers.get("Origin")
    if request.headers.get("Sec-Fetch-Site") == "cross-site" or (
        origin is not None
        and urlsplit(origin).netloc not in {request.host, urlsplit(_base()).netloc}
    ):
        abort(403, description="a form of another site cannot act on your jobs")


# The request form ----------------------------------------------------------------------------
def _form_page(
    values: dict[str, str] | None = None,
    check: Check | None = None,
    status: int = 200,
    note: str = "",
    parent: str | None = None,
) -> ResponseReturnValue:
    errors: dict[str, str] = {}
    if check is not None and check.error_field is not None and check.error is not None:
        errors[check.error_field] = check.error
    product, groups = build_form(values, errors)
    field_names = {f.name.lower() for g in groups for f in g.fields} | {"product_type"}
    general = None
    if (
        check is not None
        and check.error is not None
        and (check.error_field or "").lower() not in field_names
    ):
        general = f"{check.error_field}: {check.error}"
    archive = _front().context.archive
    return _page(
        "form.html",
        status,
        product=product,
        groups=groups,
        descriptions=PRODUCT_DESCRIPTIONS,
        check=check,
        general_error=general,
        note=note,
        parent=parent,
        share=request.args.get("SHARE") or request.form.get("share"),
        n_scw=archive.count(),
        span=archive.time_span(),
    )


@web.get("/")
def home() -> ResponseReturnValue:
    """The request form (with a job's parameters when cloning: ``?clone=<job>``)."""
    return _form_page()


@web.post("/web/jobs")
def submit() -> ResponseReturnValue:
    """Create the job (``action=check`` only validates and shows the sky preview)."""
    front = _front()
    pairs = submitted_pairs(request.form.items(multi=True))
    values = values_of(pairs)
    parent = _clone_parent()
    if request.form.get("action") == "check":
        check = front.check(pairs)
        return _form_page(values, check, 200 if check.ok else 400, parent=parent)
    owner = _owner()
    try:
        job = front.service.create(
            owner, pairs, run=True, client=front.client(request, owner), parent_id=parent
        )
    except ParameterError as exc:
        check = Check(error_field=exc.parameter, error=exc.reason)
        return _form_page(values, check, 400, parent=parent)
    return redirect(url_for("web.job", job_id=job.id), 303)


@web.post("/web/check")
def check() -> ResponseReturnValue:
    """Inline validation and sky preview for the form's script: the same validator as a job
    creation; JSON with the message and its field, and the preview as an HTML fragment."""
    pairs = submitted_pairs(request.form.items(multi=True))
    result = _front().check(pairs)
    fragment = render_template("_preview.html", check=result)
    return jsonify(ok=result.ok, field=result.error_field, message=result.error, html=fragment)


# Jobs ------------------------------------------------------------------------------------------
@web.get("/web/jobs")
def jobs() -> ResponseReturnValue:
    """The user's jobs, newest first."""
    front = _front()
    owner = _owner()
    views = []
    flt = JobFilter(last=_LIST_LENGTH, client=front.client(request, owner))
    for summary in front.service.list_jobs(owner, flt):
        try:
            views.append(job_view(front.service.get(owner, summary.id)))
        except JobNotFoundError:
            continue  # deleted meanwhile
    return _page("jobs.html", jobs=views)


def _reader() -> Reader:
    """The requester as a reader of shared jobs (token roles as groups, a link's key)."""
    claims = token_claims(request)
    groups = frozenset(claims.roles) if claims is not None else frozenset()
    return Reader(_owner(), groups, request.args.get("SHARE") or None)


def _readable(job_id: str) -> JobRecord:
    reader = _reader()
    return _front().service.get(reader.user, job_id, reader=reader)


def _clone_parent() -> str | None:
    """The job a submitted form clones (``clone_of``), once the requester may read it."""
    given = request.form.get("clone_of", "").strip()
    if not given:
        return None
    reader = _reader()
    reader = Reader(reader.user, reader.groups, request.form.get("share") or None)
    return _front().service.get(reader.user, given, reader=reader).id


@web.get("/web/jobs/<job_id>")
def job(job_id: str) -> ResponseReturnValue:
    """One job: phase, progress, error, products (read only for a job shared with the user)."""
    found = _readable(job_id)
    owned = found.owner == _owner()
    comments = _front().service.comments.comments(found.id)
    return _page(
        "job.html",
        job=job_view(found),
        owned=owned,
        share=request.args.get("SHARE"),
        comments=comments,
    )


@web.post("/web/jobs/<job_id>/comments")
def comment(job_id: str) -> ResponseReturnValue:
    """Add a comment (the job's owner and its readers); a bad one is the page with the
    message, nothing stored."""
    try:
        _front().service.comment(_reader(), job_id, request.form.get("text", ""))
    except ParameterError as exc:
        found = _readable(job_id)
        return _page(
            "job.html",
            400,
            job=job_view(found),
            owned=found.owner == _owner(),
            share=request.args.get("SHARE"),
            comments=_front().service.comments.comments(found.id),
            comment_error=exc.reason,
        )
    share = request.args.get("SHARE")
    target = (
        url_for("web.job", job_id=job_id, SHARE=share)
        if share
        else url_for("web.job", job_id=job_id)
    )
    return redirect(f"{target}#comments", 303)


@web.get("/web/jobs/<job_id>/state")
def job_state(job_id: str) -> ResponseReturnValue:
    """The job's phase and progress as JSON (what the pages' script polls)."""
    view = job_view(_readable(job_id))
    return jsonify(view.state(""))


@web.post("/web/jobs/<job_id>/abort")
def abort_job(job_id: str) -> ResponseReturnValue:
    _front().service.check_writable(_reader(), job_id)  # 403 for a job only shared with you
    with contextlib.suppress(InvalidTransitionError):  # finished meanwhile: the page says so
        _front().service.apply(_owner(), job_id, Action.ABORT)
    return redirect(url_for("web.job", job_id=job_id), 303)


@web.post("/web/jobs/<job_id>/delete")
def delete_job(job_id: str) -> ResponseReturnValue:
    _front().service.check_writable(_reader(), job_id)
    _front().service.delete(_owner(), job_id)
    return redirect(url_for("web.jobs"), 303)


@web.get("/web/jobs/<job_id>/clone")
def clone_job(job_id: str) -> ResponseReturnValue:
    """The form filled with the job's parameters, to change and submit as a new job (which
    records this one as its parent)."""
    found = _readable(job_id)
    if found.kind != _front().kind:
        abort(404, description="only product jobs can be cloned into the request form")
    note = f"A copy of job {found.id}: change what you need and submit it as a new job."
    return _form_page(values_of(found.parameters), note=note, parent=found.id)


# Products --------------------------------------------------------------------------------------
def _urls() -> DataLinkURLs:
    urls: DataLinkURLs = current_app.extensions[DATALINK_EXTENSION].urls()
    return urls


@web.get("/web/products")
def product_by_id() -> ResponseReturnValue:
    """``?ID=<product ID>`` (as DataLink names it): redirect to the product's page."""
    given = request.args.get("ID", "").strip()
    authority, key = split_product_id(given)
    product_hash = key.split("/", 1)[0]
    if not is_product_hash(product_hash) or (
        authority is not None and authority.lower() != _front().context.settings.ivoid.lower()
    ):
        abort(404, description="no product of this service has this identifier")
    return redirect(url_for("web.product", product_hash=product_hash), 303)


@web.get("/web/products/<product_hash>")
def product(product_hash: str) -> ResponseReturnValue:
    """The product page (public, as the product's files are)."""
    front = _front()
    stored = front.context.store.get(product_hash)
    if stored is None:
        abort(404, description="no such product")
    page = product_page(front, stored, _urls(), _base())
    plots = plot_data(stored, front.context.store.folder(stored.hash))
    vendor = {
        "aladin": vendor_available("aladin.js"),
        "plotly": vendor_available("plotly-basic.min.js"),
    }
    comments = front.service.comments_on_result(_reader(), f"/products/{stored.hash}/")
    return _page("product.html", page=page, plots=plots, vendor=vendor, comments=comments)


@web.get("/web/products/<product_hash>/sky.fits")
def sky_fits(product_hash: str) -> ResponseReturnValue:
    """The significance map of an image product alone, as the sky view loads it."""
    store = _front().context.store
    stored = store.get(product_hash)
    if stored is None or "image.fits" not in {f.name for f in stored.files}:
        abort(404, description="no such image product")
    body = significance_fits(store.folder(stored.hash) / "image.fits")
    if body is None:
        abort(404, description="the product has no significance map")
    response = Response(body, mimetype="application/fits")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@web.get("/web/products/<product_hash>/soda")
def soda(product_hash: str) -> ResponseReturnValue:
    """The cut-out and re-band form's target: keV and MJD into a SODA sync request."""
    if _front().context.store.get(product_hash) is None:
        abort(404, description="no such product")
    args = request.args
    query: dict[str, str] = {"ID": f"{_front().context.settings.ivoid}?{product_hash}"}
    try:
        if args.get("radius", "").strip():
            ra, dec, radius = (float(args[k]) for k in ("ra", "dec", "radius"))
            query["CIRCLE"] = f"{ra:g} {dec:g} {radius:g}"
        if args.get("e1", "").strip() and args.get("e2", "").strip():
            low, high = kev_to_metres((float(args["e1"]), float(args["e2"])))
            query["BAND"] = f"{low:.10g} {high:.10g}"
        if args.get("t1", "").strip() and args.get("t2", "").strip():
            query["TIME"] = f"{float(args['t1']):.10g} {float(args['t2']):.10g}"
    except (KeyError, ValueError):
        abort(400, description="give numbers: RA, Dec and radius in degrees, keV, MJD")
    if len(query) == 1:
        abort(400, description="give a circle, a band or a time range")
    return redirect(f"/soda/sync?{urlencode(query)}", 303)


# Errors ----------------------------------------------------------------------------------------
@web.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> ResponseReturnValue:
    status = exc.code or 500
    message = exc.description if status < 500 else "internal error; the operators have the details"
    return _page("error.html", status, code=status, message=message)


@web.errorhandler(UWSError)
def _uws_error(exc: UWSError) -> ResponseReturnValue:
    response = _page("error.html", exc.status, code=exc.status, message=exc.message)
    assert isinstance(response, Response)
    if isinstance(exc, AuthenticationRequiredError) and exc.challenge:
        response.headers["WWW-Authenticate"] = exc.challenge
    retry = getattr(exc, "retry_after", None)
    if retry is not None:
        response.headers["Retry-After"] = str(retry)
    return response


def install_web(app: Flask, settings: Settings, context: ServiceContext) -> None:
    """Mount the front end over the ``/async`` jobs (after ``register_uws``)."""
    from vo_service._jobs import UWS_EXTENSION, build_identity, build_service, job_kinds
    from vo_service._users import anonymous_clients, build_tokens

    kinds = job_kinds(settings)
    service = build_service(settings, app.extensions[UWS_EXTENSION], kinds)
    app.extensions[WEB_EXTENSION] = WebFront(
        service=service,
        identity=build_identity(settings, context.engine),
        context=context,
        source=StoreProductSource(settings),
        kind="product",
        clients=anonymous_clients(settings),
        tokens=build_tokens(settings, context.engine),
    )
    app.register_blueprint(web)
    app.register_blueprint(vendor_blueprint())
