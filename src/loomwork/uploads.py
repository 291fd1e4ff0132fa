"""Uploads: files the server made (exports), kept in the database and downloadable by their group only."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from loomwork.db.base import Base, created_at, uuid_pk
from loomwork.errors import NotFound


class Upload(Base):
    __tablename__ = "uploads"

    id: Mapped[uuid.UUID] = uuid_pk()
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    profile_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("profiles.id", ondelete="SET NULL"))
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    row_count: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_at()


def store(session: Session, group_id: uuid.UUID, profile_id: uuid.UUID, file_name: str, content_type: str,
          data: bytes, row_count: int) -> Upload:
    upload = Upload(id=uuid.uuid4(), group_id=group_id, profile_id=profile_id, file_name=file_name,
                    content_type=content_type, data=data, row_count=row_count)
    session.add(upload)
    session.flush()
    return upload


def fetch(session: Session, group_id: uuid.UUID, upload_id: uuid.UUID) -> Upload:
    upload = session.scalar(select(Upload).where(Upload.id == upload_id, Upload.group_id == group_id))
    if upload is None:
        raise NotFound(f"No upload with id {upload_id}.", field="upload_id")
    return upload
