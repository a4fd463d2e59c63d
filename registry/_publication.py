"""The published resources of one running service, assembled from its parts.

A :class:`Publication` holds what the service hands the registry (identity, metadata,
capability registry, tables, coverage provider, stamp store) and builds the three records
(service, registry, authority) with dates that move only when their content changes.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from registry._capabilities import REGISTRY_RESOURCE, SERVICE_RESOURCE, CapabilityRegistry
from registry._coverage import Coverage, CoverageProvider, coverage_from_pointings
from registry._record import (
    ResourceIdentity,
    ResourceMetadata,
    authority_record,
    registry_record,
    service_record,
)
from registry._stamps import RecordStamps
from registry._tables import TableSchema

__all__ = ["MANAGED_SET", "Publication", "PublishedRecord"]

#: The OAI-PMH set of records a publishing registry manages (Registry Interfaces 1.1).
MANAGED_SET = "ivo_managed"

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PublishedRecord:
    """One record as OAI-PMH serves it: identifier, datestamp, sets and the ``ri:Resource``.

    A record that was published once and is gone now (the service was renamed) has no
    resource; OAI-PMH reports it as deleted.
    """

    identifier: str
    datestamp: datetime
    resource: etree._Element | None
    sets: tuple[str, ...] = (MANAGED_SET,)

    @property
    def deleted(self) -> bool:
        """Whether the record was withdrawn."""
        return self.resource is None


class Publication:
    """The records of one service.

    Parameters
    ----------
    identity
        Authority, service key and public base URL.
    metadata
        Curation and content of the service.
    capabilities
        The application's capability registry.
    tables
        The queryable tables, described once.
    coverage
        Provider of the archive's pointings, time span and energy band.
    stamps
        Store of the records' creation and update dates.
    cache_seconds
        How long built records are reused; building needs the MOC of every pointing.
    clock
        Source of "now", replaceable in tests.
    """

    def __init__(
        self,
        identity: ResourceIdentity,
        metadata: ResourceMetadata,
        capabilities: CapabilityRegistry,
        tables: Sequence[TableSchema],
        coverage: CoverageProvider,
        stamps: RecordStamps | None = None,
        *,
        cache_seconds: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.identity = identity
        self.metadata = metadata
        self.capabilities = capabilities
        self.tables = tuple(tables)
        self.coverage = coverage
        self.stamps = stamps if stamps is not None else RecordStamps()
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[PublishedRecord]] | None = None
        self._coverage: tuple[str, Coverage] | None = None

    def records(self) -> list[PublishedRecord]:
        """The service, registry and authority records, then withdrawn ones.

        Records are rebuilt at most every ``cache_seconds``.
        """
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            records = self._build()
            self._cached = (time.monotonic(), records)
            return records

    def record(self, identifier: str) -> PublishedRecord | None:
        """The record with ``identifier``, if this registry publishes it."""
        return next((r for r in self.records() if r.identifier == identifier), None)

    def resource(self, identifier: str) -> etree._Element:
        """The ``ri:Resource`` of a currently published record."""
        found = self.record(identifier)
        if found is None or found.resource is None:
            raise KeyError(f"{identifier} is not published here")
        return found.resource

    def service_record(self) -> etree._Element:
        """The data service's ``vs:CatalogService`` record."""
        return self.resource(self.identity.service_id)

    def registry_record(self) -> etree._Element:
        """The publishing registry's ``vg:Registry`` record."""
        return self.resource(self.identity.registry_id)

    def invalidate(self) -> None:
        """Forget the cached records (after the archive or the capabilities changed)."""
        with self._lock:
            self._cached = None

    def _current_coverage(self) -> Coverage:
        """The coverage, recomputed only when the provider reports something new.

        The MOC of a large archive takes seconds (``benchmarks/registry_record.py``); hashing
        the pointing arrays takes milliseconds.
        """
        pointings = self.coverage.pointing_coverage()
        digest = hashlib.sha256()
        digest.update(pointings.ra_deg.tobytes())
        digest.update(pointings.dec_deg.tobytes())
        digest.update(
            repr(
                (
                    pointings.radius_deg,
                    pointings.t_min_mjd,
                    pointings.t_max_mjd,
                    pointings.e_min_kev,
                    pointings.e_max_kev,
                )
            ).encode()
        )
        key = digest.hexdigest()
        if self._coverage is None or self._coverage[0] != key:
            self._coverage = (key, coverage_from_pointings(pointings))
        return self._coverage[1]

    def _build(self) -> list[PublishedRecord]:
        identity, metadata = self.identity, self.metadata
        coverage = self._current_coverage()
        service_caps = self.capabilities.for_resource(SERVICE_RESOURCE)
        registry_caps = self.capabilities.for_resource(REGISTRY_RESOURCE)
        builders: list[tuple[str, Callable[[datetime, datetime], etree._Element]]] = [
            (
                identity.service_id,
                lambda c, u: service_record(
                    identity, metadata, service_caps, coverage, self.tables, c, u
                ),
            ),
            (
                identity.registry_id,
                lambda c, u: registry_record(identity, metadata, registry_caps, c, u),
            ),
            (identity.authority_id, lambda c, u: authority_record(identity, metadata, c, u)),
        ]
        now = self._clock().replace(microsecond=0)
        records = []
        for identifier, build in builders:
            # The digest covers everything but the dates, so it changes with the content only.
            undated = etree.tostring(build(_EPOCH, _EPOCH), method="c14n")
            digest = hashlib.sha256(undated).hexdigest()
            stamp = self.stamps.stamp(identifier, digest, now)
            records.append(
                PublishedRecord(identifier, stamp.updated, build(stamp.created, stamp.updated))
            )
        current = {identifier for identifier, _ in builders}
        retired = self.stamps.retire_others(current, identity.authority_id, now)
        records += [PublishedRecord(key, stamp.updated, None) for key, stamp in retired.items()]
        return records
