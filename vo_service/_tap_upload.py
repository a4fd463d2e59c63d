"""Table uploads (DALI ``UPLOAD=name,param:part`` with the VOTable as a multipart part, or
``UPLOAD=name,https://...``).

Sync queries read the part at once. Before an async job is created, its uploads are kept as
files named by their SHA-256 in the service's data folder (``tap/uploads/``) and the request's
``UPLOAD`` is rewritten to ``name,stored:<sha256>``: the job's parameters hold no table, and
the runner (which validates the parameters again, outside any request) finds the files.
Uploads are limited in bytes and rows, and table and column names must be ADQL identifiers.
A URL is fetched only from a public host (every address it resolves to is global), without
redirects, so that an upload cannot make the service reach into its own network.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import os
import re
import socket
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import requests
from astropy.io.votable import parse_single_table
from astropy.table import Table as AstropyTable
from flask import has_request_context, request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from registry import Column
from uws import ParameterError, ParameterSet
from vo_service._tap_adql import AdqlError
from vo_service._tap_query import TapLimits, upload_name

__all__ = [
    "keep_request_uploads",
    "load_upload",
    "parse_upload",
    "request_uploads",
    "stored_names",
    "stored_uploads",
]

_HASH = re.compile(r"[0-9a-f]{64}")
#: Key of the uploaded columns' declarations in the table's ``meta``.
UPLOAD_COLUMNS = "tap_upload_columns"
_DATATYPES = frozenset(
    {"boolean", "short", "int", "long", "char", "unicodeChar", "float", "double"}
)


def parse_upload(params: ParameterSet) -> list[tuple[str, str]]:
    """(table name, part name) of every ``UPLOAD`` item."""
    items = []
    for value in params.getall("UPLOAD"):
        for item in value.split(";"):
            if not item.strip():
                continue
            name, sep, source = item.strip().partition(",")
            if not sep:
                raise ParameterError("UPLOAD", f"{item!r}: expected table-name,param:part")
            try:
                key = upload_name(name.strip())
            except AdqlError as exc:
                raise ParameterError("UPLOAD", str(exc)) from exc
            source = source.strip()
            if not source.startswith(("param:", "stored:", "http://", "https://")):
                raise ParameterError(
                    "UPLOAD", f"{key}: the table must be param:<part> or an http(s) URL"
                )
            items.append((key, source))
    return items


def _public_host(host: str | None) -> bool:
    if not host:
        return False
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return all(ipaddress.ip_address(str(a).split("%")[0]).is_global for a in addresses)


#: Tests serve uploads from this machine; the service itself never fetches from private hosts.
ALLOW_PRIVATE_HOSTS = False


def _fetch(name: str, url: str, limits: TapLimits) -> bytes:
    """An upload by URL: public hosts only (no requests into the service's own network)."""
    host = urlsplit(url).hostname
    if not ALLOW_PRIVATE_HOSTS and not _public_host(host):
        raise ParameterError("UPLOAD", f"{name}: the URL's host is not a public internet host")
    try:
        with requests.get(url, stream=True, timeout=10, allow_redirects=False) as response:
            if response.status_code != 200:
                raise ParameterError("UPLOAD", f"{name}: the URL answered {response.status_code}")
            data = response.raw.read(limits.upload_max_bytes + 1, decode_content=True)
    except requests.RequestException as exc:
        raise ParameterError("UPLOAD", f"{name}: the URL could not be read") from exc
    return bytes(data)


def load_upload(name: str, data: bytes, limits: TapLimits) -> AstropyTable:
    """The table of an uploaded VOTable, within the limits."""
    if len(data) > limits.upload_max_bytes:
        raise ParameterError("UPLOAD", f"{name}: larger than {limits.upload_max_bytes} bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            votable = parse_single_table(io.BytesIO(data))
            table = votable.to_table(use_names_over_ids=True)
    except Exception as exc:  # astropy raises many types for a bad VOTable
        raise ParameterError("UPLOAD", f"{name}: not a readable VOTable") from exc
    # The uploaded columns' metadata goes on to the results that select them.
    table.meta[UPLOAD_COLUMNS] = {
        f.name.lower(): Column(
            f.name,
            f.datatype if f.datatype in _DATATYPES else "char",
            f.description or "uploaded column",
            None if f.unit is None else str(f.unit),
            f.ucd,
            f.arraysize,
            f.xtype,
            f.utype,
        )
        for f in votable.fields
    }
    if len(table) > limits.upload_max_rows:
        raise ParameterError("UPLOAD", f"{name}: more than {limits.upload_max_rows} rows")
    return table


def _part(name: str, source: str, limits: TapLimits) -> bytes:
    if not source.startswith("param:"):
        return _fetch(name, source, limits)
    part = source.removeprefix("param:")
    if not has_request_context():
        raise ParameterError("UPLOAD", f"{name}: uploads come with the request that names them")
    upload = request.files.get(part)
    if upload is not None:
        return upload.stream.read(limits.upload_max_bytes + 1)
    # A part sent without a file name is a form field (some clients send uploads so).
    value = request.form.get(part)
    if value is None:
        raise ParameterError("UPLOAD", f"{name}: no multipart part {part!r} in the request")
    return value.encode("utf-8")


def request_uploads(params: ParameterSet, limits: TapLimits) -> dict[str, AstropyTable]:
    """The uploaded tables of the current (sync) request."""
    return {
        name: load_upload(name, _part(name, part, limits), limits)
        for name, part in parse_upload(params)
    }


def _sweep(folder: Path, max_age_s: float) -> None:
    """Remove kept uploads older than any job that may still read them."""
    limit = time.time() - max_age_s
    for path in folder.glob("*.vot"):
        try:
            if path.stat().st_mtime < limit:
                path.unlink()
        except OSError:
            continue  # removed by another process meanwhile


def _keep(data: bytes, folder: Path) -> str:
    digest = hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{digest}.vot"
    if not target.exists():
        tmp = folder / f".{digest}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        tmp.rename(target)
    else:
        os.utime(target)  # a new job reads it: it lives as long as that job
    return digest


def keep_request_uploads(folder: Path, limits: TapLimits, max_age_s: float) -> None:
    """Before an async job is created (or its parameters change): keep the request's uploads
    and name them ``stored:<sha256>`` in its ``UPLOAD``, so that the job's parameters hold no
    table and the runner finds the files. Used as a ``before_request`` hook."""
    if request.method != "POST" or "UPLOAD" not in {k.upper() for k in request.values}:
        return
    params = ParameterSet([*request.args.items(multi=True), *request.form.items(multi=True)])
    _sweep(folder, max_age_s)
    parts: set[str] = set()
    rewritten = []
    for name, source in parse_upload(params):
        if source.startswith("param:"):
            parts.add(source.removeprefix("param:"))
        data = _part(name, source, limits)
        load_upload(name, data, limits)  # refuse now what the job could not read
        rewritten.append(f"{name},stored:{_keep(data, folder)}")
    form = MultiDict(
        (k, v)
        for k, v in request.form.items(multi=True)
        if k.upper() != "UPLOAD" and k not in parts
    )
    form.add("UPLOAD", ";".join(rewritten))
    request.form = ImmutableMultiDict(form)
    request.args = ImmutableMultiDict(
        (k, v) for k, v in request.args.items(multi=True) if k.upper() != "UPLOAD"
    )


def stored_names(params: ParameterSet) -> dict[str, str]:
    """Table name -> file hash of an async job's uploads (as :func:`keep_request_uploads` named
    them)."""
    stored = {}
    for name, source in parse_upload(params):
        digest = source.removeprefix("stored:")
        if not source.startswith("stored:") or not _HASH.fullmatch(digest):
            raise ParameterError("UPLOAD", f"{name}: send the table with the request")
        stored[name] = digest
    return stored


def stored_uploads(
    uploads: dict[str, str], folder: Path, limits: TapLimits
) -> dict[str, AstropyTable]:
    """The tables an async job was given (see :func:`store_uploads`)."""
    return {
        name: load_upload(name, (folder / f"{digest}.vot").read_bytes(), limits)
        for name, digest in uploads.items()
    }
