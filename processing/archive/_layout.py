"""Science-window identifiers and the archive's folder layout (as distributed by the ISDC)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EVENTS_FILE", "MJDREF", "ScwId", "scw_dir"]

#: INTEGRAL Julian Date reference: IJD = MJD - 51544.0 (TT).
MJDREF = 51544.0
EVENTS_FILE = "isgri_events.fits.gz"
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
