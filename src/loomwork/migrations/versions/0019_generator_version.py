"""group settings pin the generator's invocation version: what an editor moves (a label, the newest version)
no longer changes what the generator calls

A generator already set keeps calling what it called: the version its label names, or the invocation's
newest version.

Revision ID: 0019
Revises: 0018
"""

from alembic import op
import sqlalchemy as sa

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("group_settings") as batch_op:
        batch_op.add_column(sa.Column("generator_version", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE group_settings SET generator_version = COALESCE("
        "(SELECT l.version FROM artifact_labels l WHERE l.artifact_id = group_settings.generator_invocation_id "
        "AND l.name = group_settings.generator_label), "
        "(SELECT a.version FROM artifacts a WHERE a.id = group_settings.generator_invocation_id)) "
        "WHERE generator_invocation_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("group_settings") as batch_op:
        batch_op.drop_column("generator_version")
