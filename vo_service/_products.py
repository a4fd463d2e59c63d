"""The product job kind: request validation (with name resolution and ScW selection), and the
handler that runs the recipe's DAG and stores the products.

Every way in (``/async``, ``/sync``, the ODA facade, the web form, the CLI and SODA
re-derivation) normalises a request the same way: :func:`~vo_service._request.parse_request`
checks and snaps it, :func:`accept_request` resolves its name, selects its science windows and
asks the recipe (:func:`processing.products.get_recipe`) whether it can be made. What is stored
as the job's parameters is the normalised request; products are made by the recipe of its
(instrument, product type), and processing errors become protocol errors in
:mod:`vo_service._failures`.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from datalink import DATALINK_MIME
from processing.archive import ScienceWindow
from processing.pipeline import (
    CacheStore,
    CancelToken,
    Executor,
    Pipeline,
    ProductCache,
    Progress,
    create_executor,
)
from processing.products import (
    ProductDescriptor,
    Recipe,
    RecipeInputs,
    RecipeNotFoundError,
    get_recipe,
    recipe_keys,
)
from uws import JobContext, JobFailure, JobKind, JobResult, ParameterSet
from uws import ParameterError as UWSParameterError
from vo_service._answers import answer_key, recall, remember
from vo_service._builders import decorate, request_extent
from vo_service._catalogs import CatalogError, parse_user_catalog
from vo_service._context import ServiceContext
from vo_service._downloads import links_url, product_url
from vo_service._failures import PROCESSING_ERRORS, job_failure, request_error
from vo_service._request import (
    ProductRequest,
    RequestError,
    normalised_position,
    parse_request,
)
from vo_service._resolver import UnresolvedName
from vo_service._selection import select_science_windows
from vo_service._store import StoredProduct, StoreError
from vo_service.settings import Settings

__all__ = [
    "accept_rederivation",
    "accept_request",
    "build_products",
    "describe_product_job",
    "handle_product_job",
    "product_job_kind",
    "recipe_inputs",
    "validate_product_parameters",
]

log = logging.getLogger(__name__)

#: Result id of a product's DataLink ``{links}`` document.
LINKS_RESULT = "links"


@functools.lru_cache(maxsize=4)
def _settings(settings_json: str) -> Settings:
    """The settings a job kind was bound to (jobs carry them as JSON to worker processes)."""
    return Settings.model_validate_json(settings_json)


@functools.lru_cache(maxsize=4)
def _context(settings_json: str) -> ServiceContext:
    return ServiceContext.build(_settings(settings_json), migrate=False)


def _resolve(
    context: ServiceContext, request: ProductRequest
) -> tuple[float | None, float | None, str | None]:
    if request.ra is not None:
        return request.ra, request.dec, None
    if request.src_name is None:
        return None, None, None
    try:
        found = context.resolver.resolve(request.src_name)
    except UnresolvedName as exc:
        raise RequestError(request.name_of("src_name"), str(exc)) from exc
    ra, dec = normalised_position(found.ra, found.dec)
    return ra, dec, found.resolver


def _recipe_for(request: ProductRequest) -> Recipe:
    try:
        return get_recipe(request.instrument, request.product_type)
    except RecipeNotFoundError as exc:
        offered = sorted({t for _, t in recipe_keys()})
        if request.product_type not in offered:
            raise RequestError(
                request.name_of("product_type"),
                f"{request.product_type!r} is not offered by this service "
                f"(offered: {', '.join(offered)})",
            ) from exc
        makers = sorted(i for i, t in recipe_keys() if t == request.product_type)
        raise RequestError(
            request.name_of("instrument"),
            f"{request.instrument!r} makes no {request.product_type} products "
            f"(instruments that do: {', '.join(makers)})",
        ) from exc


def recipe_inputs(
    context: ServiceContext,
    request: ProductRequest,
    position: tuple[float, float] | None,
    science_windows: Sequence[ScienceWindow],
    user_catalog: tuple[tuple[str, float, float], ...] | None,
) -> RecipeInputs:
    """What the recipe of ``request`` is given (the one translation from service to processing)."""
    return RecipeInputs(
        instrument=request.instrument,
        product_type=request.product_type,
        archive=context.archive,
        science_windows=tuple(science_windows),
        band=request.band if request.banded else None,
        position=position,
        radius_deg=request.radius_deg,
        detection_threshold=request.detection_threshold,
        time_bin_s=request.time_bin_s,
        user_catalog=user_catalog,
        unit=request.unit,
    )


def check_request(
    context: ServiceContext,
    request: ProductRequest,
    position: tuple[float, float] | None,
    science_windows: Sequence[ScienceWindow],
) -> None:
    """The recipe's own checks of a request whose science windows are chosen.

    Raises
    ------
    RequestError
        Naming the parameter.
    """
    recipe = _recipe_for(request)
    try:
        recipe.check(recipe_inputs(context, request, position, science_windows, None))
    except PROCESSING_ERRORS as exc:
        raise request_error(exc) from exc


def accept_request(settings_json: str, request: ProductRequest) -> dict[str, Any]:
    """The job parameters of a normalised request: its name resolved, its science windows
    selected, its sky model read, and its recipe's checks passed.

    Raises
    ------
    RequestError
        Naming the parameter, for anything the user must change.
    """
    context = _context(settings_json)
    ra, dec, resolver = _resolve(context, request)
    _recipe_for(request)
    scws = select_science_windows(context.archive, request, ra, dec)
    position = None if ra is None or dec is None else (ra, dec)
    check_request(context, request, position, scws)
    catalog = None
    if request.selected_catalog is not None:
        try:
            catalog = parse_user_catalog(
                request.selected_catalog, context.store, context.settings.ivoid
            )
        except CatalogError as exc:
            raise RequestError(request.name_of("selected_catalog"), str(exc)) from exc
    return {
        "request": request.canonical(),
        "ra": ra,
        "dec": dec,
        "resolver": resolver,
        "scw_ids": [s.scw_id for s in scws],
        "user_catalog": None if catalog is None else [list(c) for c in catalog],
    }


def accept_rederivation(
    settings_json: str,
    request: ProductRequest,
    position: tuple[float, float] | None,
    scw_ids: Sequence[str],
) -> None:
    """Check a product's request re-derived for a new band or time (SODA) on the product's own
    science windows, as :func:`accept_request` checks a new request.

    Raises
    ------
    RequestError
        Naming the parameter, with the message ``/async`` gives for the same values.
    """
    context = _context(settings_json)
    check_request(context, request, position, context.archive.get(scw_ids))


def validate_product_parameters(settings_json: str, params: ParameterSet) -> dict[str, Any]:
    """UWS validator of product jobs: normalise, resolve the name, select the science windows.

    Raises
    ------
    uws.ParameterError
        Naming the parameter, for anything the user must change.
    """
    try:
        return accept_request(settings_json, parse_request(params.pairs))
    except RequestError as exc:
        raise UWSParameterError(exc.param, exc.message) from exc


@contextmanager
def _executor(settings: Settings) -> Iterator[Executor]:
    kind = settings.executor
    if kind == "local":
        # Job handlers run in daemon worker processes that cannot start a process cluster;
        # the runner host starts the LocalCluster and hands its address down (see _engine).
        kind = "inline"
    with create_executor(
        kind, scheduler=settings.dask_scheduler, n_workers=settings.dask_workers
    ) as ex:
        yield ex


def build_products(
    settings_json: str,
    params: dict[str, Any],
    *,
    token: CancelToken,
    progress: Callable[[Progress], None],
    holder: str,
    user: str | None,
) -> list[tuple[ProductDescriptor, StoredProduct]]:
    """Run the recipe of validated parameters and store its products (job handler and SODA).

    Raises
    ------
    uws.JobFailure
        For a request the recipe refuses (naming the parameter) or a store failure.
    """
    settings = _settings(settings_json)
    context = _context(settings_json)
    try:
        request = ProductRequest.from_canonical(params["request"])
    except RequestError as exc:
        raise JobFailure(str(exc)) from exc
    try:
        recipe = _recipe_for(request)
    except RequestError as exc:
        raise JobFailure(str(exc)) from exc
    ra, dec = params.get("ra"), params.get("dec")
    position = None if ra is None or dec is None else (float(ra), float(dec))
    scws = context.archive.get(params["scw_ids"])
    catalog = params.get("user_catalog")
    inputs = recipe_inputs(
        context,
        request,
        position,
        scws,
        None if catalog is None else tuple((str(n), float(r), float(d)) for n, r, d in catalog),
    )
    cache = ProductCache(
        CacheStore(settings.resolved_cache_path),
        context.engine,
        budget_bytes=settings.cache_budget_bytes,
    )
    try:
        plan = recipe.plan(inputs)
        with _executor(settings) as executor:
            outcome = plan.run(
                Pipeline(cache, executor),
                token=token,
                progress=progress,
                holder=holder,
                shard_size=settings.max_pointings,
            )
    except PROCESSING_ERRORS as exc:
        raise job_failure(exc) from exc
    extent = request_extent(request, position, params.get("resolver"), scws)
    products = [
        decorate(
            context,
            ProductDescriptor(
                p.provenance_hash,
                p.product_type,
                p.files,
                {**extent, **p.metadata},
                p.progenitors,
            ),
            plan.target,
            user,
        )
        for p in outcome.products
    ]
    try:
        stored = [(product, context.store.put(product)) for product in products]
    except StoreError as exc:
        raise JobFailure(
            exc.strerror or "the product store failed", error_type="transient"
        ) from exc
    from vo_service._tap_publish import publish_stored

    publish_stored(context, [s for _, s in stored])  # ivoa.obscore, isgri.detections
    return stored


def handle_product_job(settings_json: str, job: JobContext) -> list[JobResult]:
    """Run a product job: DAG on the executor, products into the store, results listed."""
    settings = _settings(settings_json)
    token = CancelToken()
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.1):
            if job.should_stop():
                token.cancel()
                return

    threading.Thread(target=watch, name="cancel-watch", daemon=True).start()

    def progress(p: Progress) -> None:
        job.progress(p.done, p.total, f"{p.cached} cached, {p.computed} computed")

    try:
        built = build_products(
            settings_json,
            job.parameters,
            token=token,
            progress=progress,
            holder=job.job_id,
            user=job.owner,
        )
    finally:
        stop.set()
    context = _context(settings_json)
    results = _job_results(settings, built)
    key = answer_key(job.parameters, job.owner, settings.public_base_url)
    remember(context.store, key, [stored.hash for _, stored in built], results)
    return results


def _job_results(
    settings: Settings, built: list[tuple[ProductDescriptor, StoredProduct]]
) -> list[JobResult]:
    """Every file of every product (the builder's order: the primary file first), then each
    product's DataLink ``{links}`` (``links`` for the first product)."""
    base = settings.public_base_url
    results: list[JobResult] = []
    used: set[str] = set()

    def unique(name: str, product_hash: str) -> str:
        rid = name if name not in used else f"{product_hash[:12]}-{name}"
        used.add(rid)
        return rid

    for n, (product, stored) in enumerate(built):
        sizes = {f.name: f.size for f in stored.files}
        for k, f in enumerate(product.files):
            results.append(
                JobResult(
                    id=unique(f.name, stored.hash),
                    mime_type=f.content_type,
                    href=product_url(base, stored.hash, f.name),
                    size=sizes.get(f.name),
                    primary=(n == 0 and k == 0),
                )
            )
    for _, stored in built:
        results.append(
            JobResult(
                id=unique(LINKS_RESULT, stored.hash),
                mime_type=DATALINK_MIME,
                href=links_url(base, f"{settings.ivoid}?{stored.hash}"),
            )
        )
    return results


def describe_product_job(
    results: Sequence[tuple[str, str | None, str | None]],
) -> list[tuple[str, dict[str, str]]]:
    """``jobInfo`` of a product job: each product's IVOA identifier and ``{links}`` URL, read
    from its ``links`` results (a job answered from an earlier one has the same results)."""
    entries: list[tuple[str, dict[str, str]]] = []
    for _, href, mime_type in results:
        if mime_type != DATALINK_MIME or href is None:
            continue
        ids = parse_qs(urlsplit(href).query).get("ID")
        if ids:
            entries.append(("product", {"id": ids[0], "links": href}))
    return entries


def answer_product_job(
    settings_json: str, spec: dict[str, Any], owner: str | None
) -> list[JobResult] | None:
    """The results of an identical earlier request whose products all exist (the job is then
    created COMPLETED: :mod:`vo_service._answers`)."""
    context = _context(settings_json)
    return recall(context.store, answer_key(spec, owner, context.settings.public_base_url))


def product_job_kind(settings: Settings) -> JobKind:
    """The ``product`` job kind bound to these settings (picklable for worker processes)."""
    settings_json = settings.model_dump_json()
    return JobKind(
        name="product",
        validate=functools.partial(validate_product_parameters, settings_json),
        handler=functools.partial(handle_product_job, settings_json),
        answer=functools.partial(answer_product_job, settings_json),
        describe=describe_product_job,
        description="Images, catalogs, spectra and light curves from the coded-mask archive",
    )


def describe(request: ProductRequest) -> str:
    """One-line description of a request (logs, job info)."""
    return json.dumps(request.canonical(), sort_keys=True)
