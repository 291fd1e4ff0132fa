"""Groups (tenants), the profiles in them and their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from loomwork.db.base import Base, UtcDateTime, created_at, uuid_pk

PROFILE_TYPES = ("person", "agent")


class Role(StrEnum):
    """What a profile may do in its group, each role allowing all that the one before it does."""

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = created_at()


class Profile(Base):
    __tablename__ = "profiles"
    __table_args__ = (UniqueConstraint("group_id", "name"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # An agent's every request is an agent request, whatever its headers say; its sponsor answers for it.
    type: Mapped[str] = mapped_column(String(16), default="person", server_default="person")
    # No foreign key: SQLite can add one only by copying the table, and dropping `profiles` in that copy would
    # cascade through every table that points at it. The service checks the sponsor is a person of the group.
    sponsor_profile_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    created_at: Mapped[datetime] = created_at()


class ApiKey(Base):
    """Only a keyed hash of the secret part is stored; the prefix finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = uuid_pk()
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="", server_default=text("''"))
    # Which server secret keyed the hash (keyring.secret_id); NULL: the raw secret, before per-purpose keys.
    secret_id: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Whole minutes: written at most once a minute per key, so using a key stays a read.
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
