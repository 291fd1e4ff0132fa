"""a reader's staged resources are found by (staged_by, group_id, kind)

With staged_by alone in its index, SQLite's planner counted a reader's staged values of a few kinds by
walking every resource of those kinds in the group (ix_resources_group_kind_created): 140 ms of every
`get` at 100,000 resources. With all three equality columns in one index it reads only the few.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_resources_staged_by_group_kind", "resources", ["staged_by", "group_id", "kind"])
    op.drop_index("ix_resources_staged_by", table_name="resources")


def downgrade() -> None:
    op.create_index("ix_resources_staged_by", "resources", ["staged_by"])
    op.drop_index("ix_resources_staged_by_group_kind", table_name="resources")
