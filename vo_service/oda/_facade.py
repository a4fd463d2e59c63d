"""The rules of the ODA front: an oda_api call becomes (or finds) a UWS product job.

A ``/run_analysis`` call with ``query_status=new`` is validated by the product job kind's own
validator (the one ``/async`` uses); its ``job_id`` is a hash of the validated parameters and
the owner, so an identical request gets the same ``job_id``. The UWS job is created through
the same :class:`uws.UWSService` as ``/async`` jobs, tagged with runId ``oda:<job_id>``; an
identical earlier request is answered at creation (COMPLETED, nothing computed). A poll
(``query_status`` submitted/progress/ready with its ``job_id``) reads the newest job of the
caller with that tag; polls neither validate nor compute anything. This front keeps no state
of its own: the job table is the state.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from datalink import DATALINK_MIME
from uws import (
    ACTIVE_PHASES,
    JobFilter,
    JobRecord,
    ParameterError,
    ParameterSet,
    UWSService,
)
from vo_service._downloads import links_url, product_url
from vo_service._store import ProductStore, StoredProduct
from vo_service.oda._encode import EncodingError
from vo_service.oda._envelope import QUERY_STATUS, envelope, failure
from vo_service.oda._products import encode_products
from vo_service.oda._wire import INSTRUMENT, OdaCall, OdaParameterError, translate

__all__ = ["JOB_TAG", "ForeignJobError", "OdaFacade"]

log = logging.getLogger(__name__)

#: runId prefix of the UWS jobs this front creates.
JOB_TAG = "oda:"
#: The product job kind (vo_service._products).
PRODUCT_KIND = "product"


class ForeignJobError(Exception):
    """A poll names a ``job_id`` that is not one of the caller's requests (HTTP 403)."""


@dataclass(frozen=True)
class OdaFacade:
    """The ODA front over a UWS service and the product store."""

    service: UWSService
    store: ProductStore
    public_url: str
    #: IVOA identifier of the service (product IDs are ``<ivoid>?<hash>``).
    ivoid: str

    @property
    def url(self) -> str:
        """The base URL oda_api users give ``DispatcherAPI``."""
        return f"{self.public_url}/oda"

    def run_analysis(self, owner: str | None, call: OdaCall, notes: list[str]) -> dict[str, Any]:
        """The envelope answering ``call`` of ``owner``.

        Raises
        ------
        ForeignJobError
            When a poll's ``job_id`` is neither a job of the caller nor this request's.
        """
        try:
            translation = translate(call)
        except OdaParameterError as exc:
            return self._failed(call, f"{exc.param}: {exc.message}")
        notes = [*translation.notes, *notes]
        if call.query_status != "new" and call.job_id is not None:
            job = self._tagged(owner, call.job_id)
            if job is not None:
                return self._answer(job, call, call.job_id, notes)
        try:
            spec = self.service.kinds.validate(PRODUCT_KIND, ParameterSet(translation.pairs))
        except ParameterError as exc:
            return self._failed(call, str(exc))
        job_id = request_job_id(spec, owner)
        if call.query_status != "new" and call.job_id not in (None, job_id):
            raise ForeignJobError(f"job_id {call.job_id} is not a request of yours")
        job = self._tagged(owner, job_id)
        if job is None or job.phase not in ACTIVE_PHASES:
            try:
                job = self.service.create(
                    owner, [*translation.pairs, ("RUNID", JOB_TAG + job_id)], run=True
                )
            except ParameterError as exc:  # the archive changed since the validation above
                return self._failed(call, str(exc))
            log.info("oda job_id %s: UWS job %s (%s)", job_id, job.id, job.phase.value)
        return self._answer(job, call, job_id, notes)

    # ---------------------------------------------------------------------------------------
    def _tagged(self, owner: str | None, job_id: str) -> JobRecord | None:
        found = self.service.list_jobs(owner, JobFilter(run_id=JOB_TAG + job_id, last=1))
        return self.service.get(owner, found[0].id) if found else None

    def _failed(self, call: OdaCall, message: str) -> dict[str, Any]:
        job_id = call.job_id or _call_hash(call)
        return failure(message, job_id=job_id, session_id=call.session_id)

    def _answer(
        self, job: JobRecord, call: OdaCall, job_id: str, notes: list[str]
    ) -> dict[str, Any]:
        status = QUERY_STATUS[job.phase]
        monitor = {"uws_job": f"{self.public_url}/async/{job.id}"}
        common: dict[str, Any] = {"job_id": job_id, "session_id": call.session_id}
        if status == "failed":
            message = (
                job.error.message
                if job.error is not None
                else f"the job ended in {job.phase.value} without products"
            )
            return failure(message, monitor=monitor, **common)
        if status == "done":
            return self._done(job, call, notes, monitor, common)
        products: dict[str, Any] = {}
        if call.query_status == "new":
            products = self._request_products(job, call)
        report = []
        if job.progress is not None:
            report.append(
                {
                    "node": "vo-service",
                    "message": job.progress.note or "",
                    "action": "progress",
                    "progress": job.progress.done,
                    "progress_max": job.progress.total,
                }
            )
        return envelope(status, products=products, report=report, monitor=monitor, **common)

    def _request_products(self, job: JobRecord, call: OdaCall) -> dict[str, Any]:
        """What a ``submitted`` answer to a new request carries (no data)."""
        spec = job.spec or {}
        return {
            "analysis_parameters": call.analysis_parameters(),
            "api_code": self.api_code(call),
            "input_prod_list": list(spec.get("scw_ids") or []),
        }

    def _done(
        self,
        job: JobRecord,
        call: OdaCall,
        notes: list[str],
        monitor: dict[str, Any],
        common: dict[str, Any],
    ) -> dict[str, Any]:
        stored = self._stored_products(job)
        if stored is None:
            return failure(
                "the products of this request are no longer stored; submit it again",
                **common,
            )
        try:
            products = encode_products(
                [(p, self.store.folder(p.hash)) for p in stored],
                (call.instrument or INSTRUMENT).lower(),
            )
        except (OSError, KeyError, ValueError, EncodingError) as exc:
            log.exception("oda: encoding the products of job %s failed", job.id)
            return failure(
                f"the products could not be encoded for oda_api: {type(exc).__name__}", **common
            )
        links = [self._links(p) for p in stored]
        products.update(
            {
                "analysis_parameters": call.analysis_parameters(),
                "api_code": self.api_code(call),
                "input_prod_list": list((job.spec or {}).get("scw_ids") or []),
                "job_id": common["job_id"],
                "session_id": call.session_id,
                # The safe route (no pickle, no eval): each product's DataLink and files.
                "datalink": links,
            }
        )
        comment = "\n".join(
            [*notes, *(f"product {p['id']}: files and DataLink at {p['links']}" for p in links)]
        )
        return envelope("done", products=products, comment=comment, monitor=monitor, **common)

    def _stored_products(self, job: JobRecord) -> list[StoredProduct] | None:
        products = []
        for result in job.results:
            if result.mime_type != DATALINK_MIME or result.href is None:
                continue
            ids = parse_qs(urlsplit(result.href).query).get("ID") or [""]
            product = self.store.get(ids[0].rpartition("?")[2])
            if product is None or not self.store.folder(product.hash).is_dir():
                return None
            products.append(product)
        return products

    def _links(self, product: StoredProduct) -> dict[str, Any]:
        base = self.public_url
        product_id = f"{self.ivoid}?{product.hash}"
        return {
            "id": product_id,
            "links": links_url(base, product_id),
            "files": [
                {
                    "name": f.name,
                    "url": product_url(base, product.hash, f.name),
                    "content_type": f.content_type,
                }
                for f in product.files
            ],
        }

    def api_code(self, call: OdaCall) -> str:
        """A script that repeats the request (``products.api_code``)."""
        params = {k: v for k, v in call.params.items() if v is not None}
        args = {
            "instrument": call.instrument,
            "product": call.product,
            "product_type": call.query_type,
            **params,
        }
        lines = [
            "from oda_api.api import DispatcherAPI",
            f"disp = DispatcherAPI(url={self.url!r})",
            f"par_dict = {json.dumps(args, indent=4)}",
            "data_collection = disp.get_product(**par_dict)",
        ]
        return "\n".join(lines) + "\n"


def request_job_id(spec: dict[str, Any], owner: str | None) -> str:
    """The ``job_id`` of a validated request of ``owner`` (16 hex digits, as ODA's)."""
    text = json.dumps({"spec": spec, "owner": owner}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _call_hash(call: OdaCall) -> str:
    """A ``job_id`` for a call refused before validation (the client needs one)."""
    text = json.dumps([call.instrument, call.product, sorted(call.params.items(), key=str)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]
