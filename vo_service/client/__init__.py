"""A small Python client of the coded-mask VO data service, for scripts and notebooks.

It speaks the service's standard protocols through pyvo and requests (UWS 1.1 jobs, DataLink
``{links}``, SODA cut-outs) and hands back local files and astropy objects::

    from vo_service.client import Client

    spectrum = Client("http://127.0.0.1:8080").get_product("spectrum", src_name="Crab")
    spectrum.files                 # local paths, downloaded, the primary file (Crab.pha) first
    spectrum.table()               # the spectrum as an astropy Table
    spectrum.product_id            # ivo://…?<hash>

Jobs without waiting: ``job = client.submit("image", src_name="Crab")``, then
``job.wait(progress=True)``, ``job.phase``, ``job.abort()``, ``job.product()``. Importing this
package loads requests, pyvo and astropy, never the service itself (Flask, SQLAlchemy, dask,
the analysis). See ``docs/client.md``.
"""

from vo_service.client._client import Client
from vo_service.client._errors import (
    ClientError,
    JobAborted,
    JobError,
    JobTimeout,
    NoOverlap,
    ParameterError,
    ProductNotFound,
    ServiceError,
)
from vo_service.client._job import Job, Progress, print_progress
from vo_service.client._params import Parameter
from vo_service.client._product import Product, ProductFile

__all__ = [
    "Client",
    "ClientError",
    "Job",
    "JobAborted",
    "JobError",
    "JobTimeout",
    "NoOverlap",
    "Parameter",
    "ParameterError",
    "Product",
    "ProductFile",
    "ProductNotFound",
    "Progress",
    "ServiceError",
    "print_progress",
]
