"""ivoa.obscore.s_region as a geometry: pgsphere scircle with GiST indexes (PostgreSQL).

The products' STC-S circles become ``scircle`` values, the science windows' regions an
indexed expression over the archive index; SQLite keeps STC-S text, which its geometry
functions read, so this revision changes nothing there.

Revision ID: s004
Revises: s003
"""

from alembic import op

from vo_service._tap_db import create_region_objects, drop_region_objects

revision = "s004"
down_revision = "s003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_region_objects(op.get_bind())


def downgrade() -> None:
    drop_region_objects(op.get_bind())
