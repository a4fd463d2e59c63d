"""Archive index of science windows.

Revision ID: a001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "a001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_scw",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scw_id", sa.String(16), nullable=False, unique=True),
        sa.Column("revolution", sa.Integer, nullable=False),
        sa.Column("ra_x", sa.Float, nullable=False),
        sa.Column("dec_x", sa.Float, nullable=False),
        sa.Column("ra_z", sa.Float, nullable=False),
        sa.Column("dec_z", sa.Float, nullable=False),
        sa.Column("cx", sa.Float, nullable=False),
        sa.Column("cy", sa.Float, nullable=False),
        sa.Column("cz", sa.Float, nullable=False),
        sa.Column("tstart", sa.Float, nullable=False),
        sa.Column("tstop", sa.Float, nullable=False),
        sa.Column("ontime", sa.Float, nullable=False),
        sa.Column("deadc", sa.Float, nullable=False),
        sa.Column("n_events", sa.Integer, nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("file_size", sa.Integer, nullable=False),
        sa.Column("simulated", sa.Integer, nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_archive_scw_revolution", "archive_scw", ["revolution"])
    op.create_index("ix_archive_scw_tstart", "archive_scw", ["tstart"])
    op.create_index("ix_archive_scw_time", "archive_scw", ["tstart", "tstop"])


def downgrade() -> None:
    op.drop_table("archive_scw")
