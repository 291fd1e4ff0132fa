"""covering indexes on connections for search filters and facet counts

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("artifact_connections", schema=None) as batch_op:
        batch_op.drop_index("ix_artifact_connections_resource_id")
        batch_op.create_index("ix_artifact_connections_by_resource", ["resource_id", "slot", "active", "artifact_id"])
        batch_op.create_index("ix_artifact_connections_by_artifact", ["artifact_id", "slot", "active", "resource_id"])


def downgrade() -> None:
    with op.batch_alter_table("artifact_connections", schema=None) as batch_op:
        batch_op.drop_index("ix_artifact_connections_by_artifact")
        batch_op.drop_index("ix_artifact_connections_by_resource")
        batch_op.create_index("ix_artifact_connections_resource_id", ["resource_id"])
