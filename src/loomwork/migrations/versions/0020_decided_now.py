"""a decided proposal keeps the live values it was decided against (API.md section 14)

`draft_entries.decided_now`: the readable live value of each field the proposal changes, frozen at the moment a
person accepted or rejected it, so the queue shows the change a decision made, not today's value against
itself. Proposals decided before this migration have none and keep showing the live value.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("draft_entries") as batch:
        batch.add_column(sa.Column("decided_now", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("draft_entries") as batch:
        batch.drop_column("decided_now")
