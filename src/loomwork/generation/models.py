"""A group's settings: for now, which invocation drafts with AI."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from loomwork.db.base import Base, UtcDateTime, utcnow


class GroupSettings(Base):
    __tablename__ = "group_settings"

    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    # Deleting the invocation switches generation off rather than pointing at nothing.
    generator_invocation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("artifacts.id", ondelete="SET NULL"), nullable=True
    )
    # The label an admin named when setting it (`production`), kept to show where the version came from.
    generator_label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The version generation runs, fixed when an admin sets the generator (the label's version then, else the
    # newest): an editor who moves a label or updates the invocation does not change what is called.
    generator_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The agent profile whose proposals generation makes (made on first use).
    generator_profile_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("profiles.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, nullable=False)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("profiles.id", ondelete="SET NULL"), nullable=True)


class PersonaRun(Base):
    """One `personas/try` run (API.md section 15): what was sent and what came back, so two versions can be
    compared on the same input. Deleted with its persona."""

    __tablename__ = "persona_runs"
    __table_args__ = (Index("ix_persona_runs_persona_created", "persona_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    # None for a draft of a persona not created yet.
    persona_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"), nullable=True)
    persona_version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: a draft's form state
    persona_label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    draft_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    invocation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("artifacts.id", ondelete="SET NULL"), nullable=True
    )
    invocation_version: Mapped[int] = mapped_column(Integer)
    profile_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("profiles.id", ondelete="SET NULL"), nullable=True)
    input: Mapped[dict[str, Any]] = mapped_column(JSON)  # {variables, messages, tool_ids}
    system: Mapped[str] = mapped_column(Text)
    reply: Mapped[dict[str, Any]] = mapped_column(JSON)  # {content, tool_calls}
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, nullable=False)
