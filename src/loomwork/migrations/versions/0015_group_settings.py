"""group settings: the invocation that generates with AI, and the generator's agent profile

Revision ID: 0015
Revises: 0013
"""

from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_settings",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("generator_invocation_id", sa.Uuid(), nullable=True),
        sa.Column("generator_label", sa.String(length=64), nullable=True),
        sa.Column("generator_profile_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name=op.f("fk_group_settings_group_id_groups"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["generator_invocation_id"], ["artifacts.id"],
                                name=op.f("fk_group_settings_generator_invocation_id_artifacts"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["generator_profile_id"], ["profiles.id"],
                                name=op.f("fk_group_settings_generator_profile_id_profiles"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["updated_by"], ["profiles.id"], name=op.f("fk_group_settings_updated_by_profiles"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_group_settings")),
    )


def downgrade() -> None:
    op.drop_table("group_settings")
