"""The audit trail: one row per committed change, proposal or decision, never rewritten."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from loomwork.db.base import Base, UtcDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        # Newest first within a group, alone or narrowed to one artifact or one profile.
        Index("ix_audit_events_group_at", "group_id", "at", "id"),
        Index("ix_audit_events_group_artifact_at", "group_id", "artifact_id", "at", "id"),
        Index("ix_audit_events_group_profile_at", "group_id", "profile_id", "at", "id"),
    )

    # A sequence, not a UUID: it orders the events of one request (one `at`) as they happened.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    profile_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("profiles.id", ondelete="SET NULL"))
    # The name at the time, so the trail still says who after a profile is renamed or removed.
    profile_name: Mapped[str] = mapped_column(String(200))
    via_agent: Mapped[bool] = mapped_column(Boolean)
    # The API key that made the change (None for the command line); no foreign key, like the ids below.
    key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    action: Mapped[str] = mapped_column(String(20))
    # An artifact kind (persona, ...) or, for resource events, a resource kind (department, ...).
    kind: Mapped[str] = mapped_column(String(40))
    # No foreign keys: the history of an artifact or draft outlives it.
    artifact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    draft_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
