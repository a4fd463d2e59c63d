"""Published tables: ivoa.obscore, isgri.scw, isgri.detections and TAP_SCHEMA.

Built from the declarations in vo_service._tap_tables (PostgreSQL: with pgsphere indexes).

Revision ID: s003
Revises: s002
"""

from alembic import op

from vo_service._tap_db import create_tap_objects, drop_tap_objects

revision = "s003"
down_revision = "s002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_tap_objects(op.get_bind())


def downgrade() -> None:
    drop_tap_objects(op.get_bind())
