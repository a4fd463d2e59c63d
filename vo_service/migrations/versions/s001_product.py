"""Product store.

Revision ID: s001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "s001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("product_type", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("progenitors", sa.JSON, nullable=False),
    )
    op.create_index("ix_product_product_type", "product", ["product_type"])
    op.create_index("ix_product_created_at", "product", ["created_at"])


def downgrade() -> None:
    op.drop_table("product")
