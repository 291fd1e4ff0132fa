"""revisions, labels and the change clock of the resolve cache; every existing artifact gets a
baseline revision of its current state

Revision ID: 0010
Revises: 0009
"""

import hashlib
import json
import uuid
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CHUNK = 2000


def upgrade() -> None:
    op.create_table(
        "artifact_revisions",
        sa.Column("artifact_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("author_type", sa.String(length=10), nullable=False),
        sa.Column("via_agent", sa.Boolean(), nullable=False),
        sa.Column("approved_by", sa.Uuid(), nullable=True),
        sa.Column("operation", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["artifact_id"], ["artifacts.id"],
                                name=op.f("fk_artifact_revisions_artifact_id_artifacts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("artifact_id", "version", name=op.f("pk_artifact_revisions")),
    )
    op.create_table(
        "artifact_labels",
        sa.Column("artifact_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["artifact_id"], ["artifacts.id"],
                                name=op.f("fk_artifact_labels_artifact_id_artifacts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("artifact_id", "name", name=op.f("pk_artifact_labels")),
    )
    clock = op.create_table(
        "change_clock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_clock")),
    )
    op.bulk_insert(clock, [{"id": 1, "value": 0}])
    _baseline_revisions()


def _baseline_revisions() -> None:
    """Artifacts written before revisions existed get one revision: their current state, as `baseline`."""
    bind = op.get_bind()
    artifacts = sa.table("artifacts", sa.column("id", sa.Uuid()), sa.column("version", sa.Integer()))
    connections = sa.table("artifact_connections", sa.column("artifact_id", sa.Uuid()), sa.column("slot", sa.String()),
                           sa.column("position", sa.Integer()), sa.column("resource_id", sa.Uuid()),
                           sa.column("active", sa.Boolean()))
    revisions = sa.table(
        "artifact_revisions", sa.column("artifact_id", sa.Uuid()), sa.column("version", sa.Integer()),
        sa.column("created_at", sa.DateTime(timezone=True)), sa.column("author_id", sa.Uuid()),
        sa.column("author_name", sa.String()), sa.column("author_type", sa.String()),
        sa.column("via_agent", sa.Boolean()), sa.column("approved_by", sa.Uuid()),
        sa.column("operation", sa.String()), sa.column("message", sa.Text()), sa.column("state", sa.Text()),
        sa.column("content_hash", sa.String()))
    rows = bind.execute(sa.select(artifacts.c.id, artifacts.c.version)).all()
    now = datetime.now(timezone.utc)
    for start in range(0, len(rows), CHUNK):
        chunk = {row.id: row.version for row in rows[start:start + CHUNK]}
        states: dict[uuid.UUID, dict] = {aid: {} for aid in chunk}
        pending: dict[uuid.UUID, list[str]] = {aid: [] for aid in chunk}
        for c in bind.execute(sa.select(connections).where(connections.c.artifact_id.in_(list(chunk)))
                              .order_by(connections.c.artifact_id, connections.c.slot, connections.c.position)):
            states[c.artifact_id].setdefault(c.slot, []).append(c.resource_id.hex)
            if not c.active:
                pending[c.artifact_id].append(c.resource_id.hex)
        values = []
        for aid, version in chunk.items():
            state = dict(states[aid])
            if pending[aid]:
                state["~pending"] = sorted(pending[aid])
            text = json.dumps(state, separators=(",", ":"), sort_keys=True)
            digest = hashlib.sha256(f"{aid.hex}:{version}:{text}".encode()).hexdigest()[:32]
            values.append({"artifact_id": aid, "version": version, "created_at": now, "author_id": None,
                           "author_name": "migration", "author_type": "person", "via_agent": False,
                           "approved_by": None, "operation": "baseline", "message": None, "state": text,
                           "content_hash": digest})
        if values:
            bind.execute(revisions.insert(), values)


def downgrade() -> None:
    op.drop_table("change_clock")
    op.drop_table("artifact_labels")
    op.drop_table("artifact_revisions")
