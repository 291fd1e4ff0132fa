"""the review queue: proposals get ids, reasons and bounded stored replies; values a draft stages stay private

Revision ID: 0009
Revises: 0008
"""

import uuid

from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("draft_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proposal_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("sealed", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("review", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("response_proposals", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("decision_proposals", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("decision_reply", sa.Text(), nullable=True))
        batch_op.create_index("ix_draft_entries_proposal_id", ["proposal_id"], unique=True)
        batch_op.create_index("ix_draft_entries_actor_state", ["actor_id", "state"])
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staged_by", sa.Uuid(), nullable=True))
        batch_op.create_index("ix_resources_staged_by", ["staged_by"])
    # Proposals made before this revision get their ids now, so every proposal is in the queue.
    entries = sa.table("draft_entries", sa.column("draft_id", sa.Uuid()), sa.column("key", sa.String()),
                       sa.column("via_agent", sa.Boolean()), sa.column("state", sa.String()),
                       sa.column("decided_accept", sa.Boolean()), sa.column("proposal_id", sa.Uuid()))
    bind = op.get_bind()
    rows = bind.execute(sa.select(entries.c.draft_id, entries.c.key).where(
        sa.or_(entries.c.state == "dormant", entries.c.decided_accept.is_not(None)))).all()
    for draft_id, key in rows:
        bind.execute(entries.update().where(entries.c.draft_id == draft_id, entries.c.key == key)
                     .values(proposal_id=uuid.uuid4()))


def downgrade() -> None:
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.drop_index("ix_resources_staged_by")
        batch_op.drop_column("staged_by")
    with op.batch_alter_table("draft_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_draft_entries_actor_state")
        batch_op.drop_index("ix_draft_entries_proposal_id")
        for column in ("decision_reply", "decision_proposals", "response_proposals", "reason", "review", "sealed",
                       "proposal_id"):
            batch_op.drop_column(column)
