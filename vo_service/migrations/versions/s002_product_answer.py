"""Answers of repeated product requests.

Revision ID: s002
Revises: s001
"""

import sqlalchemy as sa
from alembic import op

revision = "s002"
down_revision = "s001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product_answer",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("products", sa.JSON, nullable=False),
        sa.Column("results", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("product_answer")
