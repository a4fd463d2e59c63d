"""Database tables of the archive index (SQLAlchemy 2 typed ORM)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["ArchiveBase", "ScienceWindowRow"]


class ArchiveBase(DeclarativeBase):
    """Declarative base of the archive tables (own metadata, own migrations)."""


class ScienceWindowRow(ArchiveBase):
    """One indexed science window.

    The pointing axis is also stored as a unit vector (cx, cy, cz) so that cone searches are a
    plain dot product that every SQL engine evaluates alike; the declination band of the cone
    (an index on cz) and the time range (an index on tstart, bounded below by the longest
    science window) narrow the rows it is evaluated on.
    """

    __tablename__ = "archive_scw"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scw_id: Mapped[str] = mapped_column(String(16), unique=True)
    revolution: Mapped[int] = mapped_column(Integer, index=True)
    ra_x: Mapped[float] = mapped_column(Float)
    dec_x: Mapped[float] = mapped_column(Float)
    ra_z: Mapped[float] = mapped_column(Float)
    dec_z: Mapped[float] = mapped_column(Float)
    cx: Mapped[float] = mapped_column(Float)
    cy: Mapped[float] = mapped_column(Float)
    cz: Mapped[float] = mapped_column(Float)
    tstart: Mapped[float] = mapped_column(Float, index=True)
    tstop: Mapped[float] = mapped_column(Float)
    ontime: Mapped[float] = mapped_column(Float)
    deadc: Mapped[float] = mapped_column(Float)
    n_events: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(512))
    checksum: Mapped[str] = mapped_column(String(64))
    file_size: Mapped[int] = mapped_column(Integer)
    simulated: Mapped[int] = mapped_column(Integer, default=0)
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_archive_scw_time", "tstart", "tstop"),
        # Cone searches bound cz (a declination band) and time searches the longest duration.
        Index("ix_archive_scw_cz", "cz"),
    )


Index("ix_archive_scw_duration", ScienceWindowRow.tstop - ScienceWindowRow.tstart)
