"""The product job kind: request validation (with name resolution and ScW selection), and the
handler that runs the analysis DAG and stores the products.

Builders of each product type are registered in ``PRODUCT_BUILDERS`` (an extension point, see
:mod:`vo_service._builders`).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from datalink import DATALINK_MIME
from processing.archive import ScienceWindow
from processing.instrument import Instrument, load_instrument
from processing.pipeline import (
    CacheStore,
    CancelToken,
    Executor,
    Pipeline,
    ProductCache,
    Progress,
    create_executor,
)
from processing.products import ProductDescriptor
from uws import JobContext, JobFailure, JobKind, JobResult, ParameterSet
from uws import ParameterError as UWSParameterError
from vo_service._answers import answer_key, recall, remember
from vo_service._build_env import PRODUCT_BUILDERS, BuildEnvironment
from vo_service._builders import register_builders
from vo_service._catalogs import CatalogError, parse_user_catalog
from vo_service._context import ServiceContext
from vo_service._downloads import links_url, product_url
from vo_service._request import ProductRequest, RequestError, parse_request
from vo_service._resolver import UnresolvedName
from vo_service._selection import select_science_windows
from vo_service._store import StoredProduct, StoreError
from vo_service.settings import Settings

__all__ = [
    "build_products",
    "describe_product_job",
    "handle_product_job",
    "product_job_kind",
    "validate_product_parameters",
]

log = logging.getLogger(__name__)

#: Result id of a product's DataLink ``{links}`` document.
LINKS_RESULT = "links"


register_builders()


@functools.lru_cache(maxsize=4)
def _context(settings_json: str) -> ServiceContext:
    return ServiceContext.build(Settings.model_validate_json(settings_json), migrate=False)


@functools.lru_cache(maxsize=4)
def _instrument(archive_root: str) -> Instrument:
    return load_instrument(Path(archive_root))


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
    return found.ra, found.dec, found.resolver


def _check_threshold(
    settings_json: str, request: ProductRequest, scws: list[ScienceWindow]
) -> None:
    """Refuse a band that starts below the detector's low threshold in a selected ScW."""
    settings = Settings.model_validate_json(settings_json)
    threshold = _instrument(str(settings.resolved_archive_path)).low_threshold
    worst = max(scws, key=lambda s: threshold.at(s.revolution))
    limit = threshold.at(worst.revolution)
    if request.product_type in {"image", "light_curve", "transient_search"} and (
        request.e1_kev < limit
    ):
        raise RequestError(
            request.name_of("E1_keV"),
            f"{request.e1_kev:g} keV is below the low threshold ({limit:g} keV) of revolution "
            f"{worst.revolution}; use E1_keV >= {limit:g}",
        )


def validate_product_parameters(settings_json: str, params: ParameterSet) -> dict[str, Any]:
    """UWS validator of product jobs: parse, resolve the name, select the science windows.

    Raises
    ------
    uws.ParameterError
        Naming the parameter, for anything the user must change.
    """
    try:
        request = parse_request(params.pairs)
        context = _context(settings_json)
        ra, dec, resolver = _resolve(context, request)
        if request.product_type not in PRODUCT_BUILDERS:
            raise RequestError(
                request.name_of("product_type"),
                f"{request.product_type!r} is not offered by this service "
                f"(offered: {', '.join(sorted(PRODUCT_BUILDERS))})",
            )
        scws = select_science_windows(context.archive, request, ra, dec)
        _check_threshold(settings_json, request, scws)
        catalog = None
        if request.selected_catalog is not None:
            try:
                catalog = parse_user_catalog(
                    request.selected_catalog, context.store, context.settings.ivoid
                )
            except CatalogError as exc:
                raise RequestError(request.name_of("selected_catalog"), str(exc)) from exc
    except RequestError as exc:
        raise UWSParameterError(exc.param, exc.message) from exc
    return {
        "request": request.canonical(),
        "ra": ra,
        "dec": dec,
        "resolver": resolver,
        "scw_ids": [s.scw_id for s in scws],
        "user_catalog": None if catalog is None else [list(c) for c in catalog],
    }


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
    """Run the DAG of validated parameters and store its products (job handler and SODA)."""
    settings = Settings.model_validate_json(settings_json)
    context = _context(settings_json)
    request = ProductRequest.from_canonical(params["request"])
    builder = PRODUCT_BUILDERS.get(request.product_type)
    if builder is None:
        raise JobFailure(f"product_type {request.product_type!r} is not offered")
    cache = ProductCache(
        CacheStore(settings.resolved_cache_path),
        context.engine,
        budget_bytes=settings.cache_budget_bytes,
    )
    catalog = params.get("user_catalog")
    with _executor(settings) as executor:
        env = BuildEnvironment(
            context=context,
            instrument=_instrument(str(settings.resolved_archive_path)),
            pipeline=Pipeline(cache, executor),
            request=request,
            ra=params.get("ra"),
            dec=params.get("dec"),
            resolver=params.get("resolver"),
            science_windows=context.archive.get(params["scw_ids"]),
            token=token,
            progress=progress,
            holder=holder,
            user=user,
            user_catalog=None
            if catalog is None
            else tuple((str(n), float(r), float(d)) for n, r, d in catalog),
        )
        products = builder(env)
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
    settings = Settings.model_validate_json(settings_json)
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
