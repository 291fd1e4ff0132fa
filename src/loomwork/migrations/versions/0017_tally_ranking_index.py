"""the tallies' ranking index: a facet's top counts without ranking every item

The first page of a list ranked every item of every facet's tally (12,000 rows at 100,000 personas,
30 ms) to show 50 of each. With (group_id, scope, n DESC, item) it reads the top of each scope.

Revision ID: 0017
Revises: 0016
"""

from alembic import op
import sqlalchemy as sa

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tally_totals_rank", "tally_totals", ["group_id", "scope", sa.text("n DESC"), "item"])


def downgrade() -> None:
    op.drop_index("ix_tally_totals_rank", table_name="tally_totals")
