"""tallies: counts kept with each write (db/tallies.py), filled from the data already there

Revision ID: 0013
Revises: 0012
"""

import uuid

from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

WHOLE = uuid.UUID(int=0)
# Per group: artifacts per kind, active connections per (kind, slot, resource), resources per kind.
BACKFILL = (
    "INSERT INTO tally_totals (group_id, scope, item, n) "
    "SELECT group_id, kind, :whole, count(*) FROM artifacts GROUP BY group_id, kind",
    "INSERT INTO tally_totals (group_id, scope, item, n) "
    "SELECT a.group_id, a.kind || '.' || c.slot, c.resource_id, count(*) "
    "FROM artifact_connections c JOIN artifacts a ON a.id = c.artifact_id WHERE c.active "
    "GROUP BY a.group_id, a.kind, c.slot, c.resource_id",
    "INSERT INTO tally_totals (group_id, scope, item, n) "
    "SELECT group_id, 'resources.' || kind, :whole, count(*) FROM resources WHERE staged_by IS NULL GROUP BY group_id, kind",
)


def upgrade() -> None:
    op.create_table(
        "tally_totals",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("item", sa.Uuid(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "scope", "item", name=op.f("pk_tally_totals")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tally_deltas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("item", sa.Uuid(), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tally_deltas")),
    )
    with op.batch_alter_table("tally_deltas", schema=None) as batch_op:
        batch_op.create_index("ix_tally_deltas_group_scope", ["group_id", "scope", "item", "delta"], unique=False)
    for statement in BACKFILL:
        query = sa.text(statement)
        if ":whole" in statement:
            query = query.bindparams(sa.bindparam("whole", WHOLE, type_=sa.Uuid()))
        op.execute(query)


def downgrade() -> None:
    with op.batch_alter_table("tally_deltas", schema=None) as batch_op:
        batch_op.drop_index("ix_tally_deltas_group_scope")
    op.drop_table("tally_deltas")
    op.drop_table("tally_totals")
