"""SODA 1.0: requests, their processing, and the UWS job kind for ``{async}``.

A request names products (ID) and filters: a sky region (POS, CIRCLE or POLYGON), an
energy band (BAND, wavelength in metres) and a time range (TIME, MJD). Processing one
combination: BAND and TIME re-derive the product through the source (clipped to its
extents), then a region cuts the ``#this`` FITS file of the (new) product. The sync
endpoint takes one value of each parameter; async takes several and gives one result
per combination.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datalink._cutout import cut_fits
from datalink._errors import (
    DataLinkError,
    MultiValuedParamNotSupported,
    NoOverlap,
    SodaError,
    UnsupportedOperation,
)
from datalink._params import (
    SPATIAL_PARAMETERS,
    Interval,
    RawParameters,
    SkyRegion,
    parse_interval,
    parse_spatial,
)
from datalink._source import (
    ProductDescription,
    ProductNotFoundError,
    ProductSource,
    RederivationError,
    metres_to_kev,
)
from uws import (
    JobContext,
    JobFailure,
    JobKind,
    JobResult,
    ParameterError,
    ParameterSet,
    xml_safe,
)

__all__ = [
    "SODA_PARAMETERS",
    "SodaOutcome",
    "SodaRequest",
    "SodaTask",
    "parse_soda_request",
    "run_soda_task",
    "soda_job_kind",
]

log = logging.getLogger(__name__)

#: Parameters SODA defines and this service reads (others are ignored, as SODA allows).
SODA_PARAMETERS = ("ID", *SPATIAL_PARAMETERS, "BAND", "TIME")


@dataclass(frozen=True)
class SodaTask:
    """One combination of a SODA request: a product and at most one value of each filter."""

    id: str
    region: SkyRegion | None = None
    band: Interval | None = None
    time: Interval | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-compatible form (UWS job parameters)."""
        return {
            "id": self.id,
            "region": None if self.region is None else self.region.to_json(),
            "band": None if self.band is None else self.band.to_json(),
            "time": None if self.time is None else self.time.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SodaTask:
        """Inverse of :meth:`to_json`."""
        return cls(
            data["id"],
            None if data["region"] is None else SkyRegion.from_json(data["region"]),
            None if data["band"] is None else Interval.from_json(data["band"]),
            None if data["time"] is None else Interval.from_json(data["time"]),
        )


@dataclass(frozen=True)
class SodaRequest:
    """A parsed SODA request: every value of every parameter."""

    ids: tuple[str, ...]
    regions: tuple[SkyRegion, ...] = ()
    bands: tuple[Interval, ...] = ()
    times: tuple[Interval, ...] = ()

    def tasks(self) -> Iterator[SodaTask]:
        """One task per combination (ID x region x band x time)."""
        for pid, region, band, time in itertools.product(
            self.ids, self.regions or (None,), self.bands or (None,), self.times or (None,)
        ):
            yield SodaTask(pid, region, band, time)


def parse_soda_request(params: RawParameters, *, multi_valued: bool) -> SodaRequest:
    """Parse a SODA request's parameters (names ignore case).

    Parameters
    ----------
    params
        The raw parameters.
    multi_valued
        Whether several values are allowed (async); when not (sync), a repeated
        parameter, or two spatial parameters, is ``MultiValuedParamNotSupported``.

    Raises
    ------
    SodaError
        A missing ID or a malformed value, naming the parameter.
    """
    ids = [v.strip() for v in params.getall("ID")]
    if not ids or not all(ids):
        raise SodaError("missing; give the identifier of a product", "ID")
    for product_id in ids:
        if xml_safe(product_id) != product_id:  # no product has such an ID (nor can a database)
            raise SodaError(f"characters XML does not allow: {ascii(product_id)[:80]}", "ID")
    regions: list[SkyRegion] = []
    for name in SPATIAL_PARAMETERS:
        for value in params.getall(name):
            regions.append(parse_spatial(name, value))
    bands = [parse_interval(v, "BAND") for v in params.getall("BAND")]
    times = [parse_interval(v, "TIME") for v in params.getall("TIME")]
    for band in bands:
        if band.hi <= 0:
            raise SodaError("a wavelength interval must reach above 0 m", "BAND")
    if not multi_valued:
        for name in ("ID", "BAND", "TIME", *SPATIAL_PARAMETERS):
            params.single(name)
        if len(regions) > 1:
            given = [n for n in SPATIAL_PARAMETERS if params.getall(n)]
            raise MultiValuedParamNotSupported(
                f"{' and '.join(given)} together give several regions; sync takes one",
                given[0],
            )
    return SodaRequest(tuple(ids), tuple(regions), tuple(bands), tuple(times))


@dataclass(frozen=True)
class SodaOutcome:
    """What one task produced: FITS bytes of a cut-out, or a (re-derived) product's file."""

    product: ProductDescription
    data: bytes | None = None
    path: Path | None = None
    url: str | None = None
    content_type: str = "application/fits"


def check_supported(product: ProductDescription, task: SodaTask) -> None:
    """Raise :class:`UnsupportedOperation` (HTTP 422) for operations the product lacks."""
    if task.region is not None and not product.spatial_cut:
        raise UnsupportedOperation(f"a {product.kind} cannot be cut spatially", "POS")
    if task.band is not None and not product.rederive_band:
        raise UnsupportedOperation(f"this {product.kind} cannot be re-derived in energy", "BAND")
    if task.time is not None and not product.rederive_time:
        raise UnsupportedOperation(f"this {product.kind} cannot be re-derived in time", "TIME")


def _clip(
    interval: Interval | None, extent: tuple[float, float] | None, name: str
) -> tuple[float, float] | None:
    if interval is None:
        return None
    if extent is None:
        return interval.lo, interval.hi
    clipped = interval.intersect(*extent)
    if clipped is None:
        raise NoOverlap(f"the interval does not overlap the product's {extent}", name)
    return clipped.lo, clipped.hi


def run_soda_task(source: ProductSource, task: SodaTask) -> SodaOutcome:
    """Carry out one SODA task.

    Raises
    ------
    ProductNotFoundError
        Unknown ID.
    UnsupportedOperation
        An operation this product does not support (HTTP 422).
    NoOverlap
        The filters miss the product (HTTP 204).
    SodaError
        The source could not re-derive the product.
    """
    product = source.describe(task.id)
    check_supported(product, task)
    if task.band is not None or task.time is not None:
        band_m = _clip(task.band, product.extents.band_m, "BAND")
        band_kev = None if band_m is None else metres_to_kev(band_m)
        time_mjd = _clip(task.time, product.extents.time_mjd, "TIME")
        if band_kev is not None and not math.isfinite(band_kev[1]) and product.extents.band_kev:
            band_kev = (band_kev[0], product.extents.band_kev[1])
        try:
            product = source.rederive(product.id, band_kev=band_kev, time_mjd=time_mjd)
        except RederivationError as exc:
            raise UnsupportedOperation(str(exc), "BAND" if task.band else "TIME") from exc
        log.info("soda re-derived %s as %s", task.id, product.id)
    primary = product.primary
    if primary is None:
        raise UnsupportedOperation(f"the {product.kind} has no #this file", "ID")
    if task.region is None:
        return SodaOutcome(
            product,
            path=primary.path,
            url=primary.access_url,
            content_type=primary.content_type or "application/octet-stream",
        )
    if primary.path is None:
        raise UnsupportedOperation("the product's file is not available for cutting", "ID")
    return SodaOutcome(product, data=cut_fits(primary.path, task.region))


# --- the UWS job kind -------------------------------------------------------------------


def _validate(source: ProductSource, params: ParameterSet) -> dict[str, Any]:
    """UWS validator: parse, check every ID and operation now, store the tasks."""
    try:
        request = parse_soda_request(RawParameters(params.pairs), multi_valued=True)
        for task in request.tasks():
            check_supported(source.describe(task.id), task)
    except ProductNotFoundError as exc:
        raise ParameterError("ID", exc.reason + f": {exc.product_id}") from exc
    except DataLinkError as exc:
        raise ParameterError(exc.parameter or "ID", f"{exc.code}: {exc.message}") from exc
    return {"tasks": [t.to_json() for t in request.tasks()]}


def _absolute(url: str, public_url: str | None) -> str:
    if url.startswith("/") and public_url:
        return public_url.rstrip("/") + url
    return url


def _run(source: ProductSource, public_url: str | None, ctx: JobContext) -> list[JobResult]:
    """UWS handler: one result per task; a task that misses the product is skipped."""
    tasks = [SodaTask.from_json(t) for t in ctx.parameters["tasks"]]
    results = []
    for number, task in enumerate(tasks, start=1):
        if ctx.should_stop():
            break
        try:
            outcome = run_soda_task(source, task)
        except NoOverlap as exc:
            log.info("soda job %s: task %d empty: %s", ctx.job_id, number, exc.message)
            ctx.progress(number, len(tasks), f"task {number}: no overlap")
            continue
        except ProductNotFoundError as exc:
            raise JobFailure(f"NotFoundFault: {exc}") from exc
        except DataLinkError as exc:
            raise JobFailure(exc.document_text()) from exc
        name = f"result-{number}"
        if outcome.data is not None:
            (ctx.work_dir / f"{name}.fits").write_bytes(outcome.data)
            results.append(
                JobResult(
                    name,
                    path=f"{name}.fits",
                    mime_type=outcome.content_type,
                    size=len(outcome.data),
                )
            )
        elif outcome.url is not None:
            href = _absolute(outcome.url, public_url)
            results.append(JobResult(name, href=href, mime_type=outcome.content_type))
        ctx.progress(number, len(tasks), f"task {number} done")
    if not results:
        raise JobFailure("NoOverlap: no combination of the filters overlaps the products")
    return results


def soda_job_kind(
    source: ProductSource, name: str = "soda", *, public_url: str | None = None
) -> JobKind:
    """The UWS job kind that runs SODA ``{async}`` requests on ``source``'s products.

    Register it in the :class:`~uws.KindRegistry` of the SODA async endpoint (see
    :func:`datalink.soda_async_blueprint`). ``source`` must be picklable: the runner
    sends the kind to its worker processes.

    Parameters
    ----------
    source
        The product source.
    name
        The kind's name.
    public_url
        The service's public base URL: ``/``-relative URLs of re-derived products
        become absolute result URLs.
    """
    return JobKind(
        name,
        functools.partial(_validate, source),
        functools.partial(_run, source, public_url),
        "SODA 1.0 cut-outs and re-derivations; one result per parameter combination",
    )
