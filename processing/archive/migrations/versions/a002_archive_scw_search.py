"""Indexes of archive-scale selections: the pointing's z component (declination bands) and the
science-window duration (the longest one bounds a time search from below).

Revision ID: a002
Revises: a001
"""

import sqlalchemy as sa
from alembic import op

revision = "a002"
down_revision = "a001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_archive_scw_cz", "archive_scw", ["cz"])
    op.create_index("ix_archive_scw_duration", "archive_scw", [sa.text("(tstop - tstart)")])


def downgrade() -> None:
    op.drop_index("ix_archive_scw_duration", "archive_scw")
    op.drop_index("ix_archive_scw_cz", "archive_scw")
