"""A product of the service: its files (downloaded on demand), as astropy objects, its DataLink
``{links}`` and SODA cut-outs.

A product is what its DataLink ``{links}`` document says: the rows that are files of the
product (``#this``, ``#preview``, ``#auxiliary``, ...) in the service's order, the primary file
first. The document is read with pyvo, and cut-outs are made with pyvo's SODA query built from
the ``#cutout`` row's service descriptor.
"""

from __future__ import annotations

import fnmatch
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from astropy.io.votable import parse
from pyvo.dal.adhoc import DatalinkResults, SodaQuery

from vo_service.client._errors import (
    ClientError,
    NoOverlap,
    ProductNotFound,
    error_from_response,
)
from vo_service.client._http import Connection

if TYPE_CHECKING:
    from astropy.io.fits import HDUList
    from astropy.table import Table

__all__ = ["Product", "ProductFile", "degrees"]

#: DataLink rows that are not files of the product itself: its inputs, documentation, and
#: services or other products reached from it.
_NOT_FILES = frozenset(
    {"#progenitor", "#documentation", "#proc", "#cutout", "#counterpart", "#coderived"}
)
_DATALINK_MIME = "application/x-votable+xml;content=datalink"
_VOTABLE_MIME = "application/x-votable+xml"
_FITS_MIME = "application/fits"


@dataclass(frozen=True)
class ProductFile:
    """One file of a product, as its DataLink row describes it."""

    name: str
    url: str
    content_type: str
    semantics: str
    description: str
    size: int | None


def _text(row: Any, key: str) -> str:
    try:
        value = row[key]
    except (KeyError, IndexError):
        return ""
    if value is None or _masked(value):
        return ""
    if isinstance(value, bytes):
        value = value.decode()
    return str(value).strip()


def _masked(value: Any) -> bool:
    """Whether a table cell is masked (astropy writes an empty numeric cell so)."""
    try:
        return bool(getattr(value, "mask", False))
    except ValueError:  # an array cell: masked only as a whole counts
        return False


def _size(row: Any) -> int | None:
    text = _text(row, "content_length")
    try:
        return int(text) if text and int(text) > 0 else None
    except ValueError:
        return None


def degrees(name: str, value: Any) -> float:
    """An angle in degrees: a number, or an astropy ``Quantity``/``Angle``."""
    if hasattr(value, "to_value") and hasattr(value, "unit"):
        from astropy import units as u

        return float(value.to_value(u.deg))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ClientError(f"{name}: not an angle: {value!r}") from None


class Product:
    """A product of the service (``Job.product()``, ``Client.get_product``, ``Client.product``).

    Attributes
    ----------
    product_id : str
        Its IVOA identifier, ``ivo://<authority>/<service>?<hash>``.
    links_url : str
        Its DataLink ``{links}`` document.
    entries : tuple of ProductFile
        Its files, the primary one first.
    job_url : str or None
        The job that made it, when it came from one.
    """

    def __init__(
        self,
        connection: Connection,
        product_id: str,
        links_url: str,
        entries: tuple[ProductFile, ...],
        *,
        links: DatalinkResults | None = None,
        job_url: str | None = None,
    ) -> None:
        self._connection = connection
        self.product_id = product_id
        self.links_url = links_url
        self.entries = entries
        self.job_url = job_url
        self._links = links

    @classmethod
    def load(
        cls,
        connection: Connection,
        product_id: str,
        links_url: str | None = None,
        *,
        job_url: str | None = None,
    ) -> Product:
        """The product ``product_id``, described by its ``{links}`` (at ``links_url``, or the
        service's ``/datalink/links``).

        Raises
        ------
        ProductNotFound
            When the service does not know the identifier.
        """
        if links_url is None:
            links_url = connection.url(f"/datalink/links?ID={quote(product_id, safe='')}")
        response = connection.request("GET", links_url)
        links = DatalinkResults(
            parse(io.BytesIO(response.content), verify="ignore"),
            url=links_url,
            session=connection.session,
        )
        rows = [row for row in links if _text(row, "ID") == product_id] or list(links)
        faults = [_text(row, "error_message") for row in rows if _text(row, "error_message")]
        if faults and len(faults) == len(rows):
            raise ProductNotFound(faults[0])
        entries = []
        for row in rows:
            url = _text(row, "access_url")
            if (
                not url
                or _text(row, "error_message")
                or _text(row, "service_def")
                or _text(row, "semantics") in _NOT_FILES
                or _text(row, "content_type").replace(" ", "") == _DATALINK_MIME
            ):
                continue
            entries.append(
                ProductFile(
                    name=unquote(urlsplit(url).path.rsplit("/", 1)[-1]),
                    url=url,
                    content_type=_text(row, "content_type"),
                    semantics=_text(row, "semantics"),
                    description=_text(row, "description"),
                    size=_size(row),
                )
            )
        return cls(connection, product_id, links_url, tuple(entries), links=links, job_url=job_url)

    def __repr__(self) -> str:
        return f"<Product {self.product_id} ({len(self.entries)} files)>"

    @property
    def names(self) -> list[str]:
        """The file names, the primary file first."""
        return [e.name for e in self.entries]

    @property
    def urls(self) -> dict[str, str]:
        """Each file's URL by its name."""
        return {e.name: e.url for e in self.entries}

    @property
    def folder(self) -> Path:
        """Where its files are downloaded: ``<download_dir>/<product hash>``."""
        key = self.product_id.rsplit("?", 1)[-1]
        return self._connection.download_dir / re.sub(r"[^A-Za-z0-9._-]", "_", key)

    @property
    def files(self) -> list[Path]:
        """Local paths of all its files, the primary one first (downloaded when not yet)."""
        return self.download()

    def download(self) -> list[Path]:
        """Download every file (those already there are kept); their local paths."""
        return [self._fetch(entry) for entry in self.entries]

    def _fetch(self, entry: ProductFile) -> Path:
        return self._connection.download(entry.url, self.folder / entry.name)

    def _entry(self, pattern: str | None, content_type: str | None = None) -> ProductFile:
        if pattern is None:
            chosen = [
                e
                for e in self.entries
                if content_type is None or e.content_type.split(";")[0].strip() == content_type
            ]
            what = f"{content_type} file" if content_type else "file"
        else:
            chosen = [e for e in self.entries if fnmatch.fnmatchcase(e.name, pattern)]
            what = f"file matching {pattern!r}"
        if not chosen:
            raise ClientError(f"the product has no {what} (its files: {', '.join(self.names)})")
        return chosen[0]

    def file(self, pattern: str | None = None) -> Path:
        """Local path of one file, downloaded when not yet there.

        Parameters
        ----------
        pattern : str, optional
            A file name or a shell pattern (``"*.rmf"``): the first file in the product's order
            that matches. By default the primary file.
        """
        return self._fetch(self._entry(pattern))

    def table(self, pattern: str | None = None, **read_args: Any) -> Table:
        """One file read as an astropy ``Table`` (VOTable or FITS table).

        By default the first VOTable (an image's source catalog, a spectrum's or light curve's
        table, the fit results of a ``spectral_fit``). ``read_args`` go to ``Table.read`` (e.g.
        ``hdu="SPECTRUM"`` for a FITS file).
        """
        from astropy.table import Table

        entry = self._entry(pattern, None if pattern else _VOTABLE_MIME)
        path = self._fetch(entry)
        if entry.content_type.startswith(_VOTABLE_MIME) or path.suffix in (".vot", ".xml"):
            read_args.setdefault("format", "votable")
        return Table.read(path, **read_args)

    def fits(self, pattern: str | None = None) -> HDUList:
        """One FITS file opened with astropy (by default the first: an image's sky images, a
        spectrum's PHA, a light curve's OGIP file). Close it when done (or use ``with``)."""
        from astropy.io import fits

        return fits.open(self._fetch(self._entry(pattern, None if pattern else _FITS_MIME)))

    def links(self) -> DatalinkResults:
        """The product's DataLink ``{links}``, as pyvo reads them."""
        if self._links is None:
            self._links = Product.load(self._connection, self.product_id, self.links_url)._links
        assert self._links is not None
        return self._links

    def cutout(self, ra: Any, dec: Any, radius: Any, *, filename: str | Path | None = None) -> Path:
        """A SODA cut-out of the product's sky images: every image within ``radius`` of
        (``ra``, ``dec``) (ICRS; degrees or astropy quantities), saved as a FITS file.

        Parameters
        ----------
        filename : str or Path, optional
            Where to save it; by default ``cutout_<ra>_<dec>_<radius>.fits`` in :attr:`folder`.

        Raises
        ------
        NoOverlap
            When the circle misses the product.
        ClientError
            When the product cannot be cut (a spectrum, a light curve).
        """
        ra_deg, dec_deg, r_deg = degrees("ra", ra), degrees("dec", dec), degrees("radius", radius)
        links = self.links()
        row = next(
            (r for r in links if _text(r, "semantics") == "#cutout" and _text(r, "service_def")),
            None,
        )
        if row is None:
            raise ClientError(f"the product {self.product_id} offers no spatial cut-out")
        service = links.get_adhocservice_by_id(_text(row, "service_def"))
        query = SodaQuery.from_resource(
            row, service, session=self._connection.session, circle=[ra_deg, dec_deg, r_deg]
        )
        # pyvo builds the request from the descriptor; the connection sends it (time limit,
        # errors as the client's exceptions).
        response = self._connection.request(
            "GET", query.queryurl, params=dict(query), ok=(200, 204, 404)
        )
        if response.status_code == 204:
            raise NoOverlap(
                f"the circle ({ra_deg:g}, {dec_deg:g}, {r_deg:g} deg) misses the product"
            )
        if response.status_code == 404:
            raise ProductNotFound(str(error_from_response(response)))
        target = (
            Path(filename)
            if filename is not None
            else self.folder / f"cutout_{ra_deg:.4f}_{dec_deg:+.4f}_{r_deg:g}.fits"
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(response.content)
        return target
