"""persona runs: what `personas/try` sent through an invocation and what came back (API.md section 15)

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persona_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("persona_id", sa.Uuid(), nullable=True),
        sa.Column("persona_version", sa.Integer(), nullable=True),
        sa.Column("persona_label", sa.String(length=64), nullable=True),
        sa.Column("draft_id", sa.Uuid(), nullable=True),
        sa.Column("invocation_id", sa.Uuid(), nullable=True),
        sa.Column("invocation_version", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=True),
        sa.Column("input", sa.JSON(), nullable=False),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("reply", sa.JSON(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_persona_runs_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["persona_id"], ["artifacts.id"], name=op.f("fk_persona_runs_persona_id_artifacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["invocation_id"],
            ["artifacts.id"],
            name=op.f("fk_persona_runs_invocation_id_artifacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profiles.id"], name=op.f("fk_persona_runs_profile_id_profiles"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persona_runs")),
    )
    op.create_index("ix_persona_runs_persona_created", "persona_runs", ["persona_id", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("persona_runs") as batch_op:
        batch_op.drop_index("ix_persona_runs_persona_created")
    op.drop_table("persona_runs")
