"""UWS job, parameter, result and error tables.

Revision ID: uws_0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from uws._schema import UTCDateTime

revision = "uws_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uws_job",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("run_id", sa.String(255), nullable=True),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("creation_time", UTCDateTime(), nullable=False),
        sa.Column("start_time", UTCDateTime(), nullable=True),
        sa.Column("end_time", UTCDateTime(), nullable=True),
        sa.Column("queued_at", UTCDateTime(), nullable=True),
        sa.Column("destruction", UTCDateTime(), nullable=False),
        sa.Column("execution_duration", sa.Integer(), nullable=False),
        sa.Column("quote", UTCDateTime(), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=True),
        sa.Column("progress_done", sa.Float(), nullable=True),
        sa.Column("progress_total", sa.Float(), nullable=True),
        sa.Column("progress_note", sa.Text(), nullable=True),
        sa.Column("runner_id", sa.String(128), nullable=True),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_uws_job_owner_phase_created", "uws_job", ["owner", "phase", "creation_time"]
    )
    op.create_index("ix_uws_job_phase_queued", "uws_job", ["phase", "queued_at"])
    op.create_index("ix_uws_job_destruction", "uws_job", ["destruction"])
    op.create_table(
        "uws_parameter",
        sa.Column(
            "job_id",
            sa.String(32),
            sa.ForeignKey("uws_job.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "uws_result",
        sa.Column(
            "job_id",
            sa.String(32),
            sa.ForeignKey("uws_job.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("result_id", sa.String(255), nullable=False),
        sa.Column("href", sa.Text(), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("mime_type", sa.String(255), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("primary", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("job_id", "result_id", name="uq_uws_result_id"),
    )
    op.create_table(
        "uws_error",
        sa.Column(
            "job_id",
            sa.String(32),
            sa.ForeignKey("uws_job.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("error_type", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("uws_error")
    op.drop_table("uws_result")
    op.drop_table("uws_parameter")
    op.drop_index("ix_uws_job_destruction", "uws_job")
    op.drop_index("ix_uws_job_phase_queued", "uws_job")
    op.drop_index("ix_uws_job_owner_phase_created", "uws_job")
    op.drop_table("uws_job")
