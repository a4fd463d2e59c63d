"""The client's one connection to the service: base URL, HTTP session, download folder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from vo_service._version import __version__
from vo_service.client._errors import ServiceError, error_from_response

__all__ = ["Connection"]

#: The download folder when none is given: ``vo_products`` in the working directory.
DEFAULT_DOWNLOAD_DIR = "vo_products"


@dataclass(frozen=True)
class Connection:
    """Where the service is and how to talk to it (shared by a client, its jobs and products).

    Attributes
    ----------
    base_url : str
        The service's base URL, without a trailing slash.
    session : requests.Session
        Every request goes through it (authentication, proxies, retries are set there).
    download_dir : Path
        Products are downloaded into ``download_dir/<product hash>/``.
    timeout : float
        Seconds allowed for one HTTP request (a long poll adds its own wait to it).
    """

    base_url: str
    session: requests.Session
    download_dir: Path
    timeout: float

    @classmethod
    def open(
        cls,
        base_url: str,
        *,
        session: requests.Session | None = None,
        download_dir: str | os.PathLike[str] | None = None,
        timeout: float = 60.0,
    ) -> Connection:
        """A connection with a new session (its User-Agent names this client) unless one is
        given."""
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = f"vo-service-client/{__version__}"
        folder = Path(download_dir if download_dir is not None else DEFAULT_DOWNLOAD_DIR)
        return cls(base_url.rstrip("/"), session, folder, timeout)

    def url(self, path: str) -> str:
        """An absolute URL: ``path`` as is when it is one, else under the base URL."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        extra_timeout: float = 0.0,
        ok: tuple[int, ...] = (200,),
    ) -> requests.Response:
        """One HTTP request; a status outside ``ok`` raises the error it stands for.

        Redirects are not followed: callers read ``Location`` themselves.
        """
        try:
            response = self.session.request(
                method,
                self.url(path),
                params=params,
                data=data,
                timeout=self.timeout + extra_timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise ServiceError(0, f"the service did not answer: {type(exc).__name__}") from exc
        if response.status_code not in ok:
            raise error_from_response(response)
        return response

    def download(self, url: str, target: Path) -> Path:
        """Save ``url`` as ``target`` (through a temporary file, so a broken download leaves
        nothing behind); an existing ``target`` is kept, products never change."""
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.session.get(self.url(url), stream=True, timeout=self.timeout) as response:
                if response.status_code != 200:
                    raise error_from_response(response)
                handle, partial = tempfile.mkstemp(dir=target.parent, prefix=".part-")
                try:
                    with os.fdopen(handle, "wb") as sink:
                        for chunk in response.iter_content(chunk_size=1 << 20):
                            sink.write(chunk)
                    os.replace(partial, target)
                except BaseException:
                    Path(partial).unlink(missing_ok=True)
                    raise
        except requests.RequestException as exc:
            raise ServiceError(0, f"download failed: {type(exc).__name__}") from exc
        return target
