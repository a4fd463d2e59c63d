"""Science-window identifiers and the archive's folder layout (as distributed by the ISDC)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MJDREF", "EventLayout", "ScwId", "default_event_layout", "scw_dir"]

#: INTEGRAL Julian Date reference: IJD = MJD - 51544.0 (TT).
MJDREF = 51544.0


@dataclass(frozen=True)
class EventLayout:
    """How one camera's per-ScW event file is named and laid out.

    The event table holds, in this order, TIME (d), the energy (keV), the detector-image Y and Z
    indices and a flag; the columns are named as the camera's user-level files name them. The
    instruments' calibration YAML files hold their layouts (:func:`default_event_layout`).
    """

    file: str
    extname: str
    gti_extname: str
    energy_column: str
    y_column: str
    z_column: str
    flag_column: str

    @property
    def column_names(self) -> tuple[str, str, str, str, str]:
        """The event table's columns, in file order."""
        return ("TIME", self.energy_column, self.y_column, self.z_column, self.flag_column)


def default_event_layout() -> EventLayout:
    """The event layout of the archive's default camera, as its calibration facts give it."""
    from processing.instrument import calibration_layout  # the facts are the instrument's

    return calibration_layout().events


_SCW_RE = re.compile(r"^(\d{4})(\d{4})(\d{3})(\d)(?:\.(\d{3}))?$")


@dataclass(frozen=True, order=True)
class ScwId:
    """A science-window identifier ``RRRRPPPPSSSF`` with its version (``.001``)."""

    revolution: int
    pointing: int
    subpointing: int
    kind: int = 0
    version: int = 1

    @classmethod
    def parse(cls, text: str) -> ScwId:
        """Parse ``RRRRPPPPSSSF`` or ``RRRRPPPPSSSF.VVV``.

        Raises
        ------
        ValueError
            With the offending text, when it is not a ScW identifier.
        """
        match = _SCW_RE.match(text.strip())
        if not match:
            raise ValueError(f"not a science-window id (RRRRPPPPSSSF[.VVV]): {text!r}")
        rev, pnt, sub, kind, ver = match.groups()
        return cls(int(rev), int(pnt), int(sub), int(kind), int(ver) if ver else 1)

    @property
    def base(self) -> str:
        """The 12-digit identifier without version."""
        return f"{self.revolution:04d}{self.pointing:04d}{self.subpointing:03d}{self.kind}"

    def __str__(self) -> str:
        return f"{self.base}.{self.version:03d}"


def scw_dir(scw: ScwId) -> Path:
    """Folder of a science window relative to the archive root: ``scw/RRRR/RRRRPPPPSSSF.VVV``."""
    return Path("scw") / f"{scw.revolution:04d}" / str(scw)
