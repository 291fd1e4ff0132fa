"""uploads keep their file as chunks: storing or sending an export holds one chunk in memory

An export of 100,000 personas is a 55 MB file; stored as one value it passed through the server's memory
whole (and again inside the database driver) on the way in and on the way out. Existing uploads become
one chunk each.

Revision ID: 0018
Revises: 0017
"""

from alembic import op
import sqlalchemy as sa

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


# SQLite alters a table by copying it, and dropping the old copy deletes (ON DELETE CASCADE) the rows that
# point at it: the files wait in a table of their own while `uploads` changes, with nothing pointing at it.
MOVING = "uploads_moving_0018"


def _chunks_table() -> None:
    op.create_table(
        "upload_chunks",
        sa.Column("upload_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"], ["uploads.id"], name=op.f("fk_upload_chunks_upload_id_uploads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("upload_id", "seq", name=op.f("pk_upload_chunks")),
    )


def _moving_table() -> None:
    op.create_table(MOVING, sa.Column("id", sa.Uuid(), primary_key=True), sa.Column("data", sa.LargeBinary()))


def upgrade() -> None:
    _moving_table()
    op.execute(f"INSERT INTO {MOVING} (id, data) SELECT id, data FROM uploads")
    with op.batch_alter_table("uploads") as batch_op:
        batch_op.drop_column("data")
    _chunks_table()
    op.execute(f"INSERT INTO upload_chunks (upload_id, seq, data) SELECT id, 0, data FROM {MOVING}")
    op.drop_table(MOVING)


def downgrade() -> None:
    # Uploads are temporary (they expire within a day): a downgrade keeps each one's first chunk only,
    # which is the whole file for any upload under a megabyte.
    _moving_table()
    op.execute(f"INSERT INTO {MOVING} (id, data) SELECT upload_id, data FROM upload_chunks WHERE seq = 0")
    op.drop_table("upload_chunks")
    with op.batch_alter_table("uploads") as batch_op:
        batch_op.add_column(sa.Column("data", sa.LargeBinary(), nullable=False, server_default=sa.text("''")))
    op.execute(
        f"UPDATE uploads SET data = (SELECT m.data FROM {MOVING} m WHERE m.id = uploads.id) "
        f"WHERE EXISTS (SELECT 1 FROM {MOVING} m WHERE m.id = uploads.id)"
    )
    op.drop_table(MOVING)
