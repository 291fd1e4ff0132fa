"""the audit trail: one row per committed change, proposal and decision

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=True),
        sa.Column("profile_name", sa.String(length=200), nullable=False),
        sa.Column("via_agent", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("artifact_id", sa.Uuid(), nullable=True),
        sa.Column("draft_id", sa.Uuid(), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name=op.f("fk_audit_events_group_id_groups"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["profile_id"], ["profiles.id"], name=op.f("fk_audit_events_profile_id_profiles"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_group_at", "audit_events", ["group_id", "at", "id"])
    op.create_index("ix_audit_events_group_artifact_at", "audit_events", ["group_id", "artifact_id", "at", "id"])
    op.create_index("ix_audit_events_group_profile_at", "audit_events", ["group_id", "profile_id", "at", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_group_profile_at", table_name="audit_events")
    op.drop_index("ix_audit_events_group_artifact_at", table_name="audit_events")
    op.drop_index("ix_audit_events_group_at", table_name="audit_events")
    op.drop_table("audit_events")
