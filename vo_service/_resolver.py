"""Source-name resolution: Sesame (SIMBAD, NED, VizieR) when reachable, then the local catalog.

One Sesame request asks SIMBAD, then NED, then VizieR, through astropy's client (astroquery would
take a query per database for the same names: docs/architecture.md, "Name resolution").
Results are cached in memory; a network failure switches the network resolvers off for a while so
that an offline service answers from its local catalog without waiting on every request.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from processing.archive import CatalogSource, read_reference_catalog

__all__ = ["NameResolver", "Resolution", "UnresolvedName"]

log = logging.getLogger(__name__)
_NETWORK_RETRY_S = 300.0


class UnresolvedName(LookupError):
    """No resolver knows the name."""


@dataclass(frozen=True)
class Resolution:
    """A resolved position and who resolved it (recorded in provenance)."""

    name: str
    ra: float
    dec: float
    resolver: str


def _key(name: str) -> str:
    return re.sub(r"[\s_\-+]+", "", name.strip().lower())


def sesame(name: str, timeout: float) -> tuple[float, float]:
    """Resolve through CDS Sesame with astropy (network; SIMBAD, then NED, then VizieR)."""
    from astropy.coordinates import SkyCoord
    from astropy.utils.data import conf

    with conf.set_temp("remote_timeout", timeout):
        coord = SkyCoord.from_name(name, parse=False, cache=False).icrs
    return float(coord.ra.deg), float(coord.dec.deg)


class NameResolver:
    """Resolve source names.

    Parameters
    ----------
    archive_root
        Archive whose reference catalog is the local catalog.
    use_network
        Try Sesame first.
    timeout
        Network timeout in seconds.
    network
        The network resolver (replaceable in tests).
    """

    def __init__(
        self,
        archive_root: Path,
        *,
        use_network: bool = True,
        timeout: float = 3.0,
        network: Callable[[str, float], tuple[float, float]] = sesame,
    ) -> None:
        self.archive_root = Path(archive_root)
        self.use_network = use_network
        self.timeout = timeout
        self._network = network
        self._network_down_until = 0.0
        self._cache: dict[str, Resolution] = {}
        self._local: dict[str, CatalogSource] | None = None
        self._lock = threading.Lock()

    def _local_catalog(self) -> dict[str, CatalogSource]:
        if self._local is None:
            self._local = {_key(s.name): s for s in read_reference_catalog(self.archive_root)}
        return self._local

    def resolve(self, name: str) -> Resolution:
        """Position of ``name``.

        Raises
        ------
        UnresolvedName
            When neither the network nor the local catalog knows it.
        """
        key = _key(name)
        if not key:
            raise UnresolvedName("empty source name")
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        result = None
        if self.use_network and time.monotonic() >= self._network_down_until:
            try:
                ra, dec = self._network(name, self.timeout)
                result = Resolution(name, ra, dec, "sesame")
            except Exception as exc:  # any network or lookup failure falls back to local
                log.info("Sesame could not resolve %r (%s); using the local catalog", name, exc)
                if not _is_name_error(exc):
                    self._network_down_until = time.monotonic() + _NETWORK_RETRY_S
        if result is None:
            local = self._local_catalog().get(key)
            if local is None:
                raise UnresolvedName(f"unknown source name {name!r} (Sesame and the local catalog)")
            result = Resolution(local.name, local.ra, local.dec, "local catalog")
        with self._lock:
            self._cache[key] = result
        return result


def _is_name_error(exc: Exception) -> bool:
    """Sesame answered but did not know the name (the network itself works)."""
    return type(exc).__name__ == "NameResolveError" and "Unable to find coordinates" in str(exc)
