"""Every resource of every kind lives in one table, deduplicated per group and kind."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from loomwork.db.base import Base, created_at, uuid_pk


class Resource(Base):
    __tablename__ = "resources"
    __table_args__ = (
        # Dedupe: one row per normalised value; the hash keeps the index small for 10,000-character texts.
        UniqueConstraint("group_id", "kind", "value_hash"),
        Index("ix_resources_group_kind_created", "group_id", "kind", "created_at", "id"),
        # A reader's staged values by kind (get's counts): led by staged_by so that no planner prefers
        # walking every resource of the kinds in the group (ix_resources_group_kind_created) to find a few.
        Index("ix_resources_staged_by_group_kind", "staged_by", "group_id", "kind"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    # The stored form: plain text for text kinds, canonical JSON for structured ones.
    value: Mapped[str] = mapped_column(Text)
    value_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()
    # Staged: a value only a private draft holds, seen by that draft's owner alone until a live
    # connection (a commit) publishes it (NULL). No foreign key: profiles are never deleted.
    staged_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
