"""VOSI availability from checks that the service plugs in.

A check is any callable returning a :class:`CheckResult`; the service registers one per
dependency (database, archive, product store, executor). The service is available when
every *critical* check passes; each check contributes a note, so an operator reading
``/availability`` sees which dependency failed and why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree
from vo_models.vosi.availability import Availability

__all__ = ["AvailabilityCheck", "AvailabilityMonitor", "AvailabilityReport", "CheckResult"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``ok`` and a sentence saying what was found."""

    ok: bool
    note: str


#: A check takes no arguments; the service closes over what it needs (engine, paths).
AvailabilityCheck = Callable[[], CheckResult]


@dataclass(frozen=True)
class _RegisteredCheck:
    name: str
    check: AvailabilityCheck
    critical: bool


@dataclass(frozen=True)
class AvailabilityReport:
    """The evaluated checks: overall availability and one note per check."""

    available: bool
    up_since: datetime
    notes: tuple[str, ...]

    def document(self) -> etree._Element:
        """The VOSI ``availability`` document (written by vo-models, which gets it right)."""
        model = Availability(
            available=self.available, up_since=self.up_since, note=list(self.notes)
        )
        return etree.fromstring(model.to_xml())


class AvailabilityMonitor:
    """Holds the registered checks and evaluates them on demand.

    Parameters
    ----------
    up_since
        When the service came up (default: now).
    clock
        Source of "now", replaceable in tests.
    """

    def __init__(
        self,
        up_since: datetime | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._checks: list[_RegisteredCheck] = []
        self._clock = clock
        self.up_since = up_since or clock()

    def add(self, name: str, check: AvailabilityCheck, *, critical: bool = True) -> None:
        """Register a check; a failing critical check makes the service unavailable."""
        if any(c.name == name for c in self._checks):
            raise ValueError(f"availability check {name!r} registered twice")
        self._checks.append(_RegisteredCheck(name, check, critical))

    @property
    def names(self) -> list[str]:
        """Names of the registered checks, in order."""
        return [c.name for c in self._checks]

    def report(self) -> AvailabilityReport:
        """Run every check now."""
        available = True
        notes = []
        for registered in self._checks:
            result = self._run(registered)
            if not result.ok and registered.critical:
                available = False
            status = "ok" if result.ok else ("FAILED" if registered.critical else "degraded")
            notes.append(f"{registered.name}: {status}: {result.note}")
        if not available:
            logger.warning("service unavailable: %s", "; ".join(notes))
        return AvailabilityReport(available=available, up_since=self.up_since, notes=tuple(notes))

    @staticmethod
    def _run(registered: _RegisteredCheck) -> CheckResult:
        try:
            return registered.check()
        # A check that crashes is a failed dependency, reported in the note and logged with
        # its traceback; letting it escape would turn /availability into a 500.
        except Exception as exc:
            logger.exception("availability check %s raised", registered.name)
            return CheckResult(False, f"check raised {type(exc).__name__}: {exc}")
