"""keys and agents: profile types and sponsors, manageable keys, sessions and audit events name their key

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Only columns added in place: on SQLite a batch copy of `profiles` or `api_keys` would drop the table,
    # and with foreign keys on, dropping a table deletes every row that points at it.
    op.add_column("profiles", sa.Column("type", sa.String(length=16), server_default="person", nullable=False))
    op.add_column("profiles", sa.Column("sponsor_profile_id", sa.Uuid(), nullable=True))
    op.create_index(op.f("ix_profiles_sponsor_profile_id"), "profiles", ["sponsor_profile_id"], unique=False)

    op.add_column("api_keys", sa.Column("name", sa.String(length=200), server_default="", nullable=False))
    for column in ("expires_at", "last_used_at", "revoked_at"):
        op.add_column("api_keys", sa.Column(column, sa.DateTime(timezone=True), nullable=True))

    op.add_column("audit_events", sa.Column("key_id", sa.Uuid(), nullable=True))

    # A session must name the key it was opened with. The open ones name none, so they end (people sign in
    # again once); nothing points at this table, so it is simply made anew.
    op.drop_index(op.f("ix_web_sessions_profile_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
    _create_web_sessions(with_key=True)


def _create_web_sessions(*, with_key: bool) -> None:
    key = [sa.Column("key_id", sa.Uuid(), nullable=False),
           sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name=op.f("fk_web_sessions_key_id_api_keys"),
                                   ondelete="CASCADE")] if with_key else []
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        *key,
        sa.ForeignKeyConstraint(["profile_id"], ["profiles.id"], name=op.f("fk_web_sessions_profile_id_profiles"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_web_sessions")),
    )
    op.create_index(op.f("ix_web_sessions_profile_id"), "web_sessions", ["profile_id"], unique=False)
    if with_key:
        op.create_index(op.f("ix_web_sessions_key_id"), "web_sessions", ["key_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_web_sessions_key_id"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_profile_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
    _create_web_sessions(with_key=False)
    op.drop_column("audit_events", "key_id")
    for column in ("revoked_at", "last_used_at", "expires_at", "name"):
        op.drop_column("api_keys", column)
    op.drop_index(op.f("ix_profiles_sponsor_profile_id"), table_name="profiles")
    op.drop_column("profiles", "sponsor_profile_id")
    op.drop_column("profiles", "type")
