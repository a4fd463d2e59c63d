"""The client: product requests by name, checked against the service's own description of its
parameters, run as UWS jobs (or through ``/sync``) and returned as downloaded products."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from vo_service.client._errors import ClientError
from vo_service.client._http import Connection
from vo_service.client._job import Job, ProgressCallback
from vo_service.client._params import Parameter, ProductTypes, read_descriptors, to_text
from vo_service.client._product import Product

__all__ = ["Client"]

#: Seconds a ``/sync`` request may take beyond the connection's timeout (the service answers
#: after at most its ``sync_timeout``, 60 s by default, with a redirect to the job).
_SYNC_GRACE = 600.0


class Client:
    """A client of one coded-mask VO data service.

    Parameters
    ----------
    url : str
        The service's base URL, e.g. ``http://127.0.0.1:8080``.
    download_dir : str or Path, optional
        Products are downloaded into ``<download_dir>/<product hash>/`` (default:
        ``vo_products`` in the working directory). A file already there is not fetched again.
    session : requests.Session, optional
        For authentication, proxies or retries (``session.auth = ("alice", "secret")`` for a
        service with HTTP Basic).
    timeout : float
        Seconds allowed for one HTTP request (long polls add their own wait).
    check_locally : bool
        Check parameters against the service's description before sending them (default).
        Rules that join several parameters are always checked by the service.

    Examples
    --------
    >>> from vo_service.client import Client
    >>> client = Client("http://127.0.0.1:8080")
    >>> spectrum = client.get_product("spectrum", src_name="Crab")  # doctest: +SKIP
    >>> spectrum.files[:3]  # doctest: +SKIP
    [PosixPath('vo_products/701d…/Crab.pha'), PosixPath('…/Crab.rmf'), PosixPath('…/Crab.arf')]
    """

    def __init__(
        self,
        url: str,
        *,
        download_dir: str | os.PathLike[str] | None = None,
        session: requests.Session | None = None,
        timeout: float = 60.0,
        check_locally: bool = True,
    ) -> None:
        self._connection = Connection.open(
            url, session=session, download_dir=download_dir, timeout=timeout
        )
        self._check_locally = check_locally
        self._types: ProductTypes | None = None

    def __repr__(self) -> str:
        return f"<Client {self.url}>"

    @property
    def url(self) -> str:
        """The service's base URL."""
        return self._connection.base_url

    @property
    def download_dir(self) -> Path:
        """Where products are downloaded."""
        return self._connection.download_dir

    def _descriptors(self) -> ProductTypes:
        if self._types is None:
            response = self._connection.request("GET", "/async/params")
            self._types = read_descriptors(response.content, "async")
        return self._types

    def product_types(self) -> dict[str, str]:
        """The product types the service offers, each with what it holds."""
        return dict(self._descriptors().descriptions)

    def parameters(self, product_type: str = "image") -> dict[str, Parameter]:
        """The parameters a ``product_type`` request takes, by name, as the service describes
        them (unit, UCD, range or options, default); ``print(p)`` for each gives a summary."""
        return {
            name: p
            for name, p in self._descriptors().of(product_type).items()
            if name not in ("product_type", "PHASE")
        }

    def validate(self, product_type: str = "image", **params: Any) -> dict[str, str]:
        """The request as it would be sent (each value as text, names as the service spells
        them), checked against the service's description of its parameters.

        Raises
        ------
        ParameterError
            Naming the parameter: unknown to this product type, not a number, out of range,
            not one of the options.
        """
        return self._descriptors().check(product_type, params)

    def _request(self, product_type: str, params: dict[str, Any]) -> dict[str, str]:
        if self._check_locally:
            return self.validate(product_type, **params)
        sent = {"product_type": product_type}
        sent.update({k: to_text(k, v) for k, v in params.items() if v is not None})
        return sent

    def submit(
        self,
        product_type: str = "image",
        *,
        run: bool = True,
        run_id: str | None = None,
        **params: Any,
    ) -> Job:
        """Create a job for a product (and start it, unless ``run=False``).

        Parameters are the service's (``src_name``, ``RA``/``DEC``, ``radius``, ``E1_keV``,
        ... : :meth:`parameters`); numbers may be astropy quantities, times astropy ``Time``.

        Raises
        ------
        ParameterError
            For a wrong parameter, found locally or by the service (HTTP 400).
        """
        data = self._request(product_type, params)
        if run:
            data["PHASE"] = "RUN"
        if run_id is not None:
            data["RUNID"] = run_id
        created = self._connection.request("POST", "/async", data=data, ok=(303,))
        return Job(self._connection, self._connection.url(created.headers["Location"]))

    def get_product(
        self,
        product_type: str = "image",
        *,
        timeout: float | None = None,
        progress: ProgressCallback | bool | None = None,
        download: bool = True,
        **params: Any,
    ) -> Product:
        """Request a product and wait for it: its files are downloaded (unless
        ``download=False``) and it is returned.

        A repeated request is answered at once from the service's earlier result. Interrupting
        the wait (Ctrl-C, a notebook's stop button) aborts the job.

        Parameters
        ----------
        product_type : str
            ``image``, ``spectrum``, ``light_curve``, ``transient_search``, ``spectral_fit``
            (:meth:`product_types`).
        timeout : float, optional
            Seconds to wait at most (:class:`JobTimeout` then; the job goes on).
        progress : callable or bool, optional
            Called with a :class:`Progress` at each change; ``True`` prints a status line.
        **params
            The request's parameters (:meth:`parameters`).

        Raises
        ------
        ParameterError
            For a wrong parameter (found locally or by the service).
        JobError
            When the job fails (:class:`JobAborted` when it is aborted).
        """
        job = self.submit(product_type, **params)
        try:
            product = job.product(timeout, progress=progress)
        except KeyboardInterrupt:
            # A job that finished meanwhile (409) or a service gone leaves nothing to stop.
            with contextlib.suppress(ClientError):
                job.abort()
            raise
        if download:
            product.download()
        return product

    def fetch(
        self, product_type: str = "image", *, timeout: float | None = None, **params: Any
    ) -> Path:
        """The primary file of a product through ``/sync`` (one request, no job to manage),
        downloaded; for quick products (a spectrum, a light curve).

        When the service is still working after its ``sync_timeout`` it answers with the job,
        which is then waited for (``timeout``).
        """
        query = self._request(product_type, params)
        response = self._connection.request(
            "GET", "/sync", params=query, extra_timeout=_SYNC_GRACE, ok=(303,)
        )
        location = self._connection.url(response.headers["Location"])
        jobs = self._connection.url("/async/")
        if location.startswith(jobs):
            job_url = location.removesuffix("/error")
            return Job(self._connection, job_url).product(timeout).file()
        # /products/<hash>/<file>: the same folder as the product's other files.
        parts = [unquote(p) for p in urlsplit(location).path.strip("/").split("/")]
        return self._connection.download(location, self.download_dir.joinpath(*parts[-2:]))

    def job(self, url_or_id: str) -> Job:
        """A job of this service again, by its URL or its identifier."""
        url = url_or_id if "/" in url_or_id else f"/async/{url_or_id}"
        return Job(self._connection, self._connection.url(url))

    def product(self, product_id: str) -> Product:
        """A product by its identifier (``ivo://…?<hash>``, as a job, a catalog or a DataLink
        document gives it); its files are downloaded when asked for.

        Raises
        ------
        ProductNotFound
            When the service does not know it.
        """
        return Product.load(self._connection, product_id)

    def cutout(
        self,
        product: Product | str,
        ra: Any,
        dec: Any,
        radius: Any,
        *,
        filename: str | Path | None = None,
    ) -> Path:
        """A SODA cut-out of a product's sky images within ``radius`` of (``ra``, ``dec``),
        saved as FITS: see :meth:`Product.cutout`. ``product`` may be its identifier."""
        if isinstance(product, str):
            product = self.product(product)
        if not isinstance(product, Product):
            raise TypeError(f"not a product or a product identifier: {product!r}")
        return product.cutout(ra, dec, radius, filename=filename)
