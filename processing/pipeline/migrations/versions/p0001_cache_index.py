"""Cache index: entries and leases.

Revision ID: p0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the entry and lease tables."""
    op.create_table(
        "pipeline_cache_entries",
        sa.Column("provenance_hash", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(128), nullable=False),
        sa.Column("unit_version", sa.String(64), nullable=False),
        sa.Column("codec", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hit_count", sa.Integer(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("provenance_hash", name="pk_pipeline_cache_entries"),
    )
    op.create_index(
        "ix_pipeline_cache_entries_unit", "pipeline_cache_entries", ["unit"], unique=False
    )
    op.create_index(
        "ix_pipeline_cache_entries_last_used_at",
        "pipeline_cache_entries",
        ["last_used_at"],
        unique=False,
    )
    op.create_table(
        "pipeline_cache_leases",
        sa.Column("provenance_hash", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provenance_hash", "holder", name="pk_pipeline_cache_leases"),
    )
    op.create_index(
        "ix_pipeline_cache_leases_expires_at", "pipeline_cache_leases", ["expires_at"], unique=False
    )


def downgrade() -> None:
    """Drop the tables."""
    op.drop_table("pipeline_cache_leases")
    op.drop_table("pipeline_cache_entries")
