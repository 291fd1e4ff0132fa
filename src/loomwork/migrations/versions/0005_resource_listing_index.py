"""the resource listing index ends with the id, so "newest first, ties by id" reads in index order

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Without the id, resources created in one statement (one created_at) were sorted in a temporary
    # tree on every get section: 100,000 names took tens of milliseconds.
    op.drop_index("ix_resources_group_kind_created", table_name="resources")
    op.create_index("ix_resources_group_kind_created", "resources", ["group_id", "kind", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_resources_group_kind_created", table_name="resources")
    op.create_index("ix_resources_group_kind_created", "resources", ["group_id", "kind", "created_at"])
