"""The archive index: which science windows exist, where they point, when, and where they are."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from processing.archive._events import EventFileError, read_header, verify_event_file
from processing.archive._layout import ScwId, default_event_layout
from processing.archive._tables import ScienceWindowRow
from processing.instrument import Attitude, radec_to_unit

__all__ = ["ArchiveIndex", "IngestReport", "ScienceWindow", "UnknownScienceWindow"]

log = logging.getLogger(__name__)


class UnknownScienceWindow(LookupError):
    """Some requested science windows are not in the archive."""

    def __init__(self, missing: Sequence[str]) -> None:
        super().__init__(f"science windows not in the archive: {', '.join(missing)}")
        self.missing = list(missing)


@dataclass(frozen=True)
class ScienceWindow:
    """One science window as the index knows it."""

    scw_id: str
    revolution: int
    ra_x: float
    dec_x: float
    ra_z: float
    dec_z: float
    tstart: float
    tstop: float
    ontime: float
    deadc: float
    n_events: int
    path: str
    checksum: str
    simulated: bool

    @property
    def attitude(self) -> Attitude:
        """Pointing and orientation of the spacecraft."""
        return Attitude(self.ra_x, self.dec_x, self.ra_z, self.dec_z)

    @classmethod
    def from_row(cls, row: ScienceWindowRow) -> ScienceWindow:
        return cls(
            scw_id=row.scw_id,
            revolution=row.revolution,
            ra_x=row.ra_x,
            dec_x=row.dec_x,
            ra_z=row.ra_z,
            dec_z=row.dec_z,
            tstart=row.tstart,
            tstop=row.tstop,
            ontime=row.ontime,
            deadc=row.deadc,
            n_events=row.n_events,
            path=row.path,
            checksum=row.checksum,
            simulated=bool(row.simulated),
        )


@dataclass
class IngestReport:
    """What an ingest did; ``skipped`` names each file left out and why."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


class ArchiveIndex:
    """Query and maintain the science-window index of one archive.

    Parameters
    ----------
    engine
        Database holding the ``archive_scw`` table (created by the migrations).
    root
        Archive root folder; file paths in the index are relative to it.
    """

    def __init__(self, engine: Engine, root: Path) -> None:
        self.engine = engine
        self.root = Path(root)

    # Maintenance ------------------------------------------------------------------------------
    def ingest(
        self, root: Path | None = None, progress: Callable[[int, int], None] | None = None
    ) -> IngestReport:
        """Index every event file under ``root/scw`` (default: the archive root).

        Re-ingesting is idempotent: unchanged files are left alone, changed files are updated.
        A corrupt or foreign file is reported by name in ``skipped``; nothing already indexed is
        removed or altered because of it.
        """
        base = Path(root) if root is not None else self.root
        events_file = default_event_layout().file.removesuffix(".gz")
        files = sorted((base / "scw").glob(f"*/*/{events_file}*"))
        report = IngestReport()
        with Session(self.engine) as session:
            known = {r.scw_id: r for r in session.scalars(select(ScienceWindowRow))}
            for n, path in enumerate(files, 1):
                if progress:
                    progress(n, len(files))
                self._ingest_one(session, base, path, known, report)
            session.commit()
        if report.added or report.updated:
            with self.engine.connect() as connection:  # statistics for the query planner
                connection.execute(text("ANALYZE archive_scw"))
                connection.commit()
        for name, reason in report.skipped:
            log.warning("skipped %s: %s", name, reason)
        return report

    def _ingest_one(
        self,
        session: Session,
        base: Path,
        path: Path,
        known: dict[str, ScienceWindowRow],
        report: IngestReport,
    ) -> None:
        rel = str(path.relative_to(base)) if base == self.root else str(path.resolve())
        try:
            scw = ScwId.parse(path.parent.name)
            header = read_header(path)
            if str(header.get("DETNAM", "ISGRI")).strip() != "ISGRI":
                raise EventFileError(f"{path}: DETNAM is {header.get('DETNAM')!r}, not ISGRI")
            checksum = verify_event_file(path, header)  # the whole stream, CRC included
            if int(header["REVOL"]) != scw.revolution or str(header["SWID"]).strip() != scw.base:
                raise EventFileError(f"{path}: header REVOL/SWID do not match the folder name")
            values: dict[str, Any] = {
                "revolution": int(header["REVOL"]),
                "ra_x": float(header["RA_SCX"]),
                "dec_x": float(header["DEC_SCX"]),
                "ra_z": float(header["RA_SCZ"]),
                "dec_z": float(header["DEC_SCZ"]),
                "tstart": float(header["TSTART"]),
                "tstop": float(header["TSTOP"]),
                "ontime": float(header.get("ONTIME", (header["TSTOP"] - header["TSTART"]) * 86400)),
                "deadc": float(header.get("DEADC", 1.0)),
                "n_events": int(header["NAXIS2"]),
                "path": rel,
                "checksum": checksum,
                "file_size": path.stat().st_size,
                "simulated": int(bool(header.get("SIMULATE", False))),
            }
        except (EventFileError, ValueError, KeyError, OSError) as exc:
            # Named by its place in the archive, never by an absolute path.
            name = str(path.relative_to(base))
            report.skipped.append((name, str(exc).replace(str(path), name)))
            return
        cx, cy, cz = radec_to_unit(values["ra_x"], values["dec_x"])
        values.update(cx=float(cx), cy=float(cy), cz=float(cz))
        row = known.get(str(scw))
        if row is None:
            row = ScienceWindowRow(scw_id=str(scw), ingested_at=datetime.now(UTC), **values)
            session.add(row)
            known[str(scw)] = row
            report.added.append(str(scw))
        elif row.checksum == checksum and row.path == rel:
            report.unchanged.append(str(scw))
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.ingested_at = datetime.now(UTC)
            report.updated.append(str(scw))

    # Queries ----------------------------------------------------------------------------------
    def count(self) -> int:
        """Number of indexed science windows."""
        with Session(self.engine) as session:
            return int(session.scalar(select(func.count(ScienceWindowRow.id))) or 0)

    def _select(self, *conditions: object) -> list[ScienceWindow]:
        stmt = select(ScienceWindowRow).where(*conditions).order_by(ScienceWindowRow.tstart)  # type: ignore[arg-type]
        with Session(self.engine) as session:
            return [ScienceWindow.from_row(r) for r in session.scalars(stmt)]

    def all(self) -> list[ScienceWindow]:
        """Every science window, in time order."""
        return self._select()

    def query(
        self,
        ra: float | None = None,
        dec: float | None = None,
        radius_deg: float | None = None,
        t1: float | None = None,
        t2: float | None = None,
    ) -> list[ScienceWindow]:
        """Science windows pointing within ``radius_deg`` of (ra, dec), overlapping [t1, t2] (IJD).

        Any criterion left as ``None`` is not applied. The result is in time order.
        """
        conditions: list[object] = []
        if ra is not None and dec is not None and radius_deg is not None:
            ux, uy, uz = radec_to_unit(ra, dec)
            radius = min(radius_deg, 180.0)
            cos_r = float(np.cos(np.radians(radius)))
            dot = ScienceWindowRow.cx * float(ux) + ScienceWindowRow.cy * float(uy)
            conditions.append(dot + ScienceWindowRow.cz * float(uz) >= cos_r - 1e-12)
            # The cone's declination band, which the index on cz finds without a scan.
            low, high = max(dec - radius, -90.0), min(dec + radius, 90.0)
            if low > -90.0:
                conditions.append(ScienceWindowRow.cz >= float(np.sin(np.radians(low))) - 1e-12)
            if high < 90.0:
                conditions.append(ScienceWindowRow.cz <= float(np.sin(np.radians(high))) + 1e-12)
        if t1 is not None:
            conditions.append(ScienceWindowRow.tstop > t1)
            # A window ending after t1 starts after t1 minus the longest window: a range of
            # the tstart index instead of every window that started before t2.
            longest = self._longest()
            if longest is not None:
                conditions.append(ScienceWindowRow.tstart > t1 - longest - 1e-9)
        if t2 is not None:
            conditions.append(ScienceWindowRow.tstart < t2)
        return self._select(*conditions)

    def _longest(self) -> float | None:
        """Duration (days) of the longest science window (its own index answers it)."""
        duration = ScienceWindowRow.tstop - ScienceWindowRow.tstart
        with Session(self.engine) as session:
            value = session.scalar(select(func.max(duration)))
        return None if value is None else float(value)

    def get(self, scw_ids: Iterable[str]) -> list[ScienceWindow]:
        """The listed science windows (``RRRRPPPPSSSF`` with or without ``.VVV``), in time order.

        Raises
        ------
        UnknownScienceWindow
            Naming every id that is not in the archive.
        ValueError
            For a malformed id.
        """
        wanted = [str(ScwId.parse(s)) for s in scw_ids]
        found = self._select(ScienceWindowRow.scw_id.in_(wanted)) if wanted else []
        missing = sorted(set(wanted) - {s.scw_id for s in found})
        if missing:
            raise UnknownScienceWindow(missing)
        return found

    def pointings(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """RA and Dec of every pointing axis (for coverage maps)."""
        with Session(self.engine) as session:
            rows = session.execute(select(ScienceWindowRow.ra_x, ScienceWindowRow.dec_x)).all()
        arr = np.asarray(rows, dtype=float).reshape(-1, 2)
        return arr[:, 0], arr[:, 1]

    def time_span(self) -> tuple[float, float] | None:
        """First start and last stop (IJD), or ``None`` for an empty archive."""
        with Session(self.engine) as session:
            lo, hi = session.execute(
                select(func.min(ScienceWindowRow.tstart), func.max(ScienceWindowRow.tstop))
            ).one()
        return None if lo is None else (float(lo), float(hi))

    def events_path(self, scw: ScienceWindow) -> Path:
        """Absolute path of a science window's event file."""
        path = Path(scw.path)
        return path if path.is_absolute() else self.root / path
