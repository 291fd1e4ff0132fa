"""hardening: uploads expire; an API key's hash names the secret it was made under

Revision ID: 0011
Revises: 0010
"""

from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        # Uploads made before this revision (kept forever until now) expire at once: an export is cheap to redo.
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False,
                                      server_default=sa.text("CURRENT_TIMESTAMP")))
        batch_op.add_column(sa.Column("size_bytes", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False,
                                      server_default="0"))
        batch_op.create_index(batch_op.f("ix_uploads_expires_at"), ["expires_at"], unique=False)
    op.execute("UPDATE uploads SET size_bytes = length(data)")
    # A plain ADD COLUMN: batch mode may copy the table on SQLite, and dropping `api_keys` in that copy would
    # cascade to the page sessions that name their key. NULL: hashed under the raw server secret.
    op.add_column("api_keys", sa.Column("secret_id", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("secret_id")
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_uploads_expires_at"))
        batch_op.drop_column("size_bytes")
        batch_op.drop_column("expires_at")
