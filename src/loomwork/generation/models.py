"""A group's settings: for now, which invocation drafts with AI."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
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
