"""A UWS 1.1 job of the service, as a handle: phase, progress, wait, abort, its products.

The job document is read with pyvo's UWS parser; the service's own ``jobInfo`` entries
(namespace ``urn:x-uws:jobinfo:v1``: ``<ji:progress done total fraction>note</ji:progress>``
and one ``<ji:product id links/>`` per product) are read from the same document, because
pyvo keeps only the last element of each name and none of their attributes.
"""

from __future__ import annotations

import io
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyvo.io.uws import parse_job

from vo_service.client._errors import ClientError, JobAborted, JobError, JobTimeout
from vo_service.client._http import Connection

if TYPE_CHECKING:
    from vo_service.client._product import Product

__all__ = ["FINAL_PHASES", "Job", "Progress", "ProgressCallback", "print_progress"]

_JOBINFO = "{urn:x-uws:jobinfo:v1}"
_DATALINK_MIME = "application/x-votable+xml;content=datalink"
FINAL_PHASES = frozenset({"COMPLETED", "ERROR", "ABORTED", "ARCHIVED"})
#: Longest single long poll (the service caps ``WAIT`` at its ``wait_cap``, 60 s by default).
_LONG_POLL = 30
#: Long poll while a progress callback wants news (progress is not a phase change, so a
#: ``WAIT`` would not return at it).
_PROGRESS_POLL = 2


@dataclass(frozen=True)
class Progress:
    """Where a job stands.

    Attributes
    ----------
    phase : str
        UWS phase (``QUEUED``, ``EXECUTING``, ``COMPLETED``, ...).
    done, total : float or None
        Analysis steps finished and planned, when the job has reported them.
    note : str
        The service's words, e.g. ``3 cached, 4 computed``.
    """

    phase: str
    done: float | None = None
    total: float | None = None
    note: str = ""

    @property
    def fraction(self) -> float | None:
        """``done / total`` (``None`` before the job has reported)."""
        if self.done is None or not self.total:
            return None
        return self.done / self.total

    def __str__(self) -> str:
        if self.fraction is None:
            return self.phase
        return (
            f"{self.phase} {self.done:g}/{self.total:g} ({100 * self.fraction:.0f} %)"
            f"{': ' + self.note if self.note else ''}"
        )


ProgressCallback = Callable[[Progress], None]


def print_progress(progress: Progress) -> None:
    """A progress callback that rewrites one status line on standard error."""
    end = "\n" if progress.phase in FINAL_PHASES else ""
    sys.stderr.write(f"\r{progress!s:<78}{end}")
    sys.stderr.flush()


@dataclass(frozen=True)
class _Document:
    """What the client reads from one job document."""

    job_id: str
    phase: str
    progress: Progress
    results: dict[str, tuple[str, str]]  # id -> (URL, MIME type), in the job's order
    parameters: dict[str, str]
    products: list[tuple[str, str]]  # (product ID, {links} URL)
    error: str

    @classmethod
    def read(cls, content: bytes) -> _Document:
        summary = parse_job(io.BytesIO(content))
        phase = str(summary.phase)
        results = {
            str(r.id_): (str(r.href), str(r.mimetype or "")) for r in summary.results if r.href
        }
        parameters = {str(p.id_): str(p.content or "") for p in summary.parameters}
        error = ""
        if summary.errorsummary is not None and summary.errorsummary.message is not None:
            error = str(summary.errorsummary.message.content or "")
        progress = Progress(phase)
        products: list[tuple[str, str]] = []
        info = ET.fromstring(content).find("{*}jobInfo")
        for entry in info if info is not None else ():
            if entry.tag == f"{_JOBINFO}progress":
                progress = Progress(
                    phase,
                    _number(entry.get("done")),
                    _number(entry.get("total")),
                    (entry.text or "").strip(),
                )
            elif entry.tag == f"{_JOBINFO}product":
                ident, links = entry.get("id"), entry.get("links")
                if ident and links:
                    products.append((ident, links))
        if not products:  # a service without the jobInfo entries: the links results
            products = [
                (_links_id(href), href) for href, mime in results.values() if mime == _DATALINK_MIME
            ]
        return cls(
            str(summary.jobid),
            phase,
            progress,
            results,
            parameters,
            products,
            error or "the service gave no reason",
        )


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _links_id(href: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(href).query).get("ID", [href])[0]


class Job:
    """A job of the service (``Client.submit`` makes one; ``Client.job(url)`` finds one again).

    Properties that describe the job (``phase``, ``progress``) ask the service each time;
    ``results`` and ``parameters`` are those of the last document read (:meth:`refresh`).
    """

    def __init__(self, connection: Connection, url: str) -> None:
        self._connection = connection
        self.url = url
        self._document = self._fetch()

    def __repr__(self) -> str:
        return f"<Job {self.job_id} {self._document.phase}>"

    @property
    def job_id(self) -> str:
        """The job's identifier."""
        return self._document.job_id

    def refresh(self) -> Job:
        """Read the job document again."""
        self._document = self._fetch()
        return self

    def _fetch(self, wait: float | None = None) -> _Document:
        params = None if wait is None else {"WAIT": str(int(wait))}
        response = self._connection.request(
            "GET", self.url, params=params, extra_timeout=wait or 0.0
        )
        return _Document.read(response.content)

    @property
    def phase(self) -> str:
        """The job's phase now."""
        return self.refresh()._document.phase

    @property
    def progress(self) -> Progress:
        """The job's phase and progress now."""
        return self.refresh()._document.progress

    @property
    def parameters(self) -> dict[str, str]:
        """The job's parameters, as the service stored them."""
        return dict(self._document.parameters)

    @property
    def results(self) -> dict[str, str]:
        """Each result's URL by its id, the primary result first (files, then ``links``)."""
        return {rid: href for rid, (href, _) in self._document.results.items()}

    @property
    def error(self) -> str | None:
        """The error summary of a job that ended in ERROR or ABORTED, else ``None``."""
        document = self._document
        return document.error if document.phase in ("ERROR", "ABORTED") else None

    def run(self) -> Job:
        """Start a PENDING job (``PHASE=RUN``)."""
        self._connection.request("POST", f"{self.url}/phase", data={"PHASE": "RUN"}, ok=(303,))
        return self.refresh()

    def abort(self) -> Job:
        """Abort the job (``PHASE=ABORT``); the service answers 409 for a finished one."""
        self._connection.request("POST", f"{self.url}/phase", data={"PHASE": "ABORT"}, ok=(303,))
        return self.refresh()

    def delete(self) -> None:
        """Delete the job and its results from the service."""
        self._connection.request("DELETE", self.url, ok=(303, 200, 204))

    def wait(
        self,
        timeout: float | None = None,
        *,
        progress: ProgressCallback | bool | None = None,
    ) -> Job:
        """Wait until the job has finished (COMPLETED, ERROR or ABORTED).

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most (no limit by default).
        progress : callable or bool, optional
            Called with a :class:`Progress` each time the phase or progress changes, the
            final state included; ``True`` prints a status line (:func:`print_progress`).

        Raises
        ------
        JobTimeout
            When ``timeout`` passes first (the job goes on; wait again or :meth:`abort` it).
        ClientError
            When the job is PENDING (it would never finish: :meth:`run` it first).
        """
        report = print_progress if progress is True else (progress or None)
        deadline = None if timeout is None else time.monotonic() + timeout
        last: Progress | None = None
        while True:
            document = self._document
            if report is not None and document.progress != last:
                last = document.progress
                report(last)
            if document.phase in FINAL_PHASES:
                return self
            if document.phase == "PENDING":
                raise ClientError("the job is PENDING and would never finish: run() it first")
            block = float(_PROGRESS_POLL if report is not None else _LONG_POLL)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise JobTimeout(self.url, document.phase, float(timeout or 0))
                block = min(block, max(1.0, left))
            self._document = self._fetch(wait=block)

    def raise_if_error(self) -> None:
        """Raise :class:`JobError` (:class:`JobAborted`) for a job that ended so."""
        document = self._document
        if document.phase == "ABORTED":
            raise JobAborted(self.url, document.phase, document.error)
        if document.phase == "ERROR":
            raise JobError(self.url, document.phase, document.error)

    def products(
        self, timeout: float | None = None, *, progress: ProgressCallback | bool | None = None
    ) -> list[Product]:
        """Every product the job made, the primary one first (waits for the job first).

        Raises
        ------
        JobError, JobAborted
            When the job did not complete.
        """
        from vo_service.client._product import Product

        self.wait(timeout, progress=progress)
        self.raise_if_error()
        return [
            Product.load(self._connection, ident, links, job_url=self.url)
            for ident, links in self._document.products
        ]

    def product(
        self, timeout: float | None = None, *, progress: ProgressCallback | bool | None = None
    ) -> Product:
        """The job's primary product (waits for the job first); see :meth:`products`."""
        products = self.products(timeout, progress=progress)
        if not products:
            raise ClientError("the job completed without a product")
        return products[0]
