"""SQLAlchemy 2 tables of the UWS job store.

Kept apart from the API models (``_models.py``): these describe rows, nothing else.
The Alembic migrations in ``uws/migrations`` create exactly these tables.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "CommentRow",
    "ErrorRow",
    "JobRow",
    "NotificationRow",
    "ParameterRow",
    "ResultRow",
    "ShareRow",
    "TokenRow",
    "UTCDateTime",
]


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of the UWS tables (their own metadata, their own migrations)."""


class JobRow(Base):
    """One UWS job."""

    __tablename__ = "uws_job"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str | None] = mapped_column(String(255))
    #: The anonymous client (a cookie's random value) whose list shows the job; ``None`` for
    #: jobs with an owner and for anonymous jobs of clients that keep no cookie.
    client: Mapped[str | None] = mapped_column(String(64))
    #: The job this one was cloned from (no foreign key: the parent may be deleted first).
    parent_id: Mapped[str | None] = mapped_column(String(32))
    run_id: Mapped[str | None] = mapped_column(String(255))
    phase: Mapped[str] = mapped_column(String(16))
    creation_time: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    start_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    end_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    queued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    destruction: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    execution_duration: Mapped[int] = mapped_column(Integer)
    quote: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    progress_done: Mapped[float | None] = mapped_column(Float)
    progress_total: Mapped[float | None] = mapped_column(Float)
    progress_note: Mapped[str | None] = mapped_column(Text)
    runner_id: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_uws_job_owner_phase_created", "owner", "phase", "creation_time"),
        Index("ix_uws_job_phase_queued", "phase", "queued_at"),
        Index("ix_uws_job_destruction", "destruction"),
        Index("ix_uws_job_client_created", "client", "creation_time"),
    )


class ParameterRow(Base):
    """One raw parameter value of a job, name as the client spelt it."""

    __tablename__ = "uws_parameter"

    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("uws_job.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)


class ResultRow(Base):
    """One result of a job."""

    __tablename__ = "uws_result"

    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("uws_job.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    result_id: Mapped[str] = mapped_column(String(255))
    href: Mapped[str | None] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    mime_type: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)
    primary: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (UniqueConstraint("job_id", "result_id", name="uq_uws_result_id"),)


class ErrorRow(Base):
    """The error that ended a job (ERROR, or ABORTED by the server)."""

    __tablename__ = "uws_error"

    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("uws_job.id", ondelete="CASCADE"), primary_key=True
    )
    error_type: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)


class TokenRow(Base):
    """One issued bearer token (its claims; the signed token itself is never stored)."""

    __tablename__ = "uws_token"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), index=True)
    roles: Mapped[list[str] | None] = mapped_column(JSON)
    quota_class: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(255))
    notify: Mapped[list[str] | None] = mapped_column(JSON)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)


class ShareRow(Base):
    """One grant of read access to a job: ``user:<name>``, ``group:<name>`` or ``link:<key>``."""

    __tablename__ = "uws_share"

    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("uws_job.id", ondelete="CASCADE"), primary_key=True
    )
    grantee: Mapped[str] = mapped_column(String(320), primary_key=True, index=True)


class CommentRow(Base):
    """One comment on a job (plain text, sanitised when written)."""

    __tablename__ = "uws_comment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("uws_job.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text)


class NotificationRow(Base):
    """One notification a job asked for (``email`` or ``webhook:<url>``) and its delivery."""

    __tablename__ = "uws_notification"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("uws_job.id", ondelete="CASCADE"), index=True
    )
    target: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_uws_notification_state_next", "state", "next_at"),)
