"""Derived data for search: one document per artifact, rebuilt from the base tables on demand.

On SQLite an FTS5 index (a virtual table kept in step by triggers, see migration
0003) answers word-prefix text search; on PostgreSQL a GIN index on the
'simple' text-search vector of the same column does. Neither is mapped here:
they are the databases' own.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from loomwork.db.base import Base, UtcDateTime

FTS_TABLE = "search_fts"


class SearchDocument(Base):
    __tablename__ = "search_documents"
    __table_args__ = (Index("ix_search_documents_listing", "group_id", "kind", "updated_at", "artifact_id"),)

    # An integer key, because FTS5 rows are addressed by integer rowid.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    artifact_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("artifacts.id", ondelete="CASCADE"), unique=True)
    group_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Lowercased text of the kind's text slots (active connections only).
    document: Mapped[str] = mapped_column(Text)
