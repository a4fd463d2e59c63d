"""Users: bearer tokens (``uws_token``), the anonymous client of a job (``uws_job.client``),
a clone's parent (``uws_job.parent_id``), job sharing (``uws_share``), comments
(``uws_comment``) and notifications (``uws_notification``).

Revision ID: uws_0002
Revises: uws_0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from uws._schema import UTCDateTime

revision = "uws_0002"
down_revision = "uws_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uws_job") as batch:
        batch.add_column(sa.Column("client", sa.String(64), nullable=True))
        batch.add_column(sa.Column("parent_id", sa.String(32), nullable=True))
    op.create_index("ix_uws_job_client_created", "uws_job", ["client", "creation_time"])
    op.create_table(
        "uws_share",
        sa.Column(
            "job_id",
            sa.String(32),
            sa.ForeignKey("uws_job.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("grantee", sa.String(320), primary_key=True),
    )
    op.create_index("ix_uws_share_grantee", "uws_share", ["grantee"])
    op.create_table(
        "uws_comment",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "job_id",
            sa.String(32),
            sa.ForeignKey("uws_job.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("author", sa.String(255), nullable=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_uws_comment_job_id", "uws_comment", ["job_id"])
    op.create_table(
        "uws_notification",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "job_id",
            sa.String(32),
            sa.ForeignKey("uws_job.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("email", sa.String(255), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_uws_notification_job_id", "uws_notification", ["job_id"])
    op.create_index("ix_uws_notification_state_next", "uws_notification", ["state", "next_at"])
    op.create_table(
        "uws_token",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=True),
        sa.Column("quota_class", sa.String(64), nullable=True),
        sa.Column("email", sa.String(255), nullable=True),
        sa.Column("notify", sa.JSON(), nullable=True),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_index("ix_uws_token_subject", "uws_token", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_uws_notification_state_next", table_name="uws_notification")
    op.drop_index("ix_uws_notification_job_id", table_name="uws_notification")
    op.drop_table("uws_notification")
    op.drop_index("ix_uws_comment_job_id", table_name="uws_comment")
    op.drop_table("uws_comment")
    op.drop_index("ix_uws_share_grantee", table_name="uws_share")
    op.drop_table("uws_share")
    op.drop_index("ix_uws_token_subject", table_name="uws_token")
    op.drop_table("uws_token")
    op.drop_index("ix_uws_job_client_created", table_name="uws_job")
    with op.batch_alter_table("uws_job") as batch:
        batch.drop_column("parent_id")
        batch.drop_column("client")
