"""A signed-in browser: a server-side session row, found by the hash of the cookie's random id."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from loomwork.db.base import Base, UtcDateTime, created_at


class WebSession(Base):
    """The raw session id lives only in the browser's cookie; a stolen table cannot sign anyone in."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    # The key it was opened with: revoking that key ends the session.
    key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
