"""Uploads: files the server made (exports), kept in the database and downloadable by their group only.

A file is stored and sent a chunk (CHUNK_BYTES) at a time, each chunk a row of its own: storing or
downloading an export of 100,000 artifacts holds one chunk in memory, not the whole file.

An upload expires (Settings.upload_ttl_seconds, a day by default): from then on it answers 404 like an
unknown id, and the sweeper (`sweep_expired`, run in the background by the app and on every store)
deletes it. Each caller (profile) holds at most `upload_quota_count` live uploads of `upload_quota_bytes`
in all; one more answers 429 `quota_exceeded` until some expire. The allowance is the caller's, not the
group's: a viewer's agent exporting in a loop must not leave its admin without exports for a day.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

from sqlalchemy import (
    BigInteger,
    CursorResult,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from loomwork.db.base import Base, UtcDateTime, created_at, utcnow, uuid_pk
from loomwork.db.database import Database
from loomwork.db.scoping import in_group
from loomwork.errors import NotFound, QuotaExceeded


@dataclass(frozen=True)
class Limits:
    ttl_seconds: int = 24 * 3600
    quota_count: int = 20
    quota_bytes: int = 512 * 1024 * 1024


logger = logging.getLogger(__name__)
CHUNK_BYTES = 1024 * 1024

# Set once at start from the settings (`configure`), like the server secret: exports reach `store` from the engine.
limits = Limits()


def configure(new: Limits) -> None:
    global limits
    limits = new


class Upload(Base):
    __tablename__ = "uploads"

    id: Mapped[uuid.UUID] = uuid_pk()
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    profile_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("profiles.id", ondelete="SET NULL"))
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    row_count: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), server_default="0")
    created_at: Mapped[datetime] = created_at()
    # The server default is for rows made before expiry existed (migration 0011): store() always sets it.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True, server_default=text("CURRENT_TIMESTAMP"))


class UploadChunk(Base):
    """One CHUNK_BYTES piece of an upload's file, in order of `seq`; deleted with its upload."""

    __tablename__ = "upload_chunks"

    upload_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


chunk_table = UploadChunk.__table__


def check_quota(
    session: Session,
    group_id: uuid.UUID,
    profile_id: uuid.UUID,
    quota_count: int,
    quota_bytes: int,
    adding: int = 0,
) -> None:
    """429 when the profile's live uploads, with `adding` bytes more, would pass either quota."""
    count, size = session.execute(
        select(func.count(), func.coalesce(func.sum(Upload.size_bytes), 0)).where(
            in_group(Upload, group_id), Upload.profile_id == profile_id, Upload.expires_at > utcnow()
        )
    ).one()
    if count + 1 > quota_count or size + adding > quota_bytes:
        raise QuotaExceeded(
            f"You hold {count} uploads of {size:,} bytes; the quota is {quota_count} uploads and "
            f"{quota_bytes:,} bytes for each profile. Uploads expire by themselves; try again later.",
            quota_count=quota_count,
            quota_bytes=quota_bytes,
        )


def store(
    session: Session,
    group_id: uuid.UUID,
    profile_id: uuid.UUID,
    file_name: str,
    content_type: str,
    source: BinaryIO,
    row_count: int,
) -> Upload:
    """Store the file `source` holds (from its start), a chunk at a time."""
    size = source.seek(0, 2)
    source.seek(0)
    sweep_expired(session)
    check_quota(session, group_id, profile_id, limits.quota_count, limits.quota_bytes, size)
    now = utcnow()
    upload = Upload(
        id=uuid.uuid4(),
        group_id=group_id,
        profile_id=profile_id,
        file_name=file_name,
        content_type=content_type,
        row_count=row_count,
        size_bytes=size,
        created_at=now,
        expires_at=now + timedelta(seconds=limits.ttl_seconds),
    )
    session.add(upload)
    session.flush()
    seq = 0
    while block := source.read(CHUNK_BYTES):
        session.execute(insert(chunk_table), {"upload_id": upload.id, "seq": seq, "data": block})
        seq += 1
    return upload


def chunks(db: Database, upload_id: uuid.UUID) -> Iterator[bytes]:
    """The file of an upload `fetch` found, a chunk at a time, each read in a short transaction of its own (a
    slow download holds no transaction open). An upload swept away meanwhile ends the file early."""
    seq = 0
    while True:
        with db.transaction(write=False) as session:
            block = session.scalar(
                select(UploadChunk.data).where(UploadChunk.upload_id == upload_id, UploadChunk.seq == seq)
            )
        if block is None:
            return
        yield block
        seq += 1


def fetch(session: Session, group_id: uuid.UUID, upload_id: uuid.UUID) -> Upload:
    upload = session.scalar(
        select(Upload).where(Upload.id == upload_id, in_group(Upload, group_id), Upload.expires_at > utcnow())
    )
    if upload is None:  # unknown, another group's and expired read alike
        raise NotFound(
            f"No upload with id {upload_id} (uploads expire a while after they are made).", field="upload_id"
        )
    return upload


def sweep_expired(session: Session) -> int:
    """Delete every expired upload; returns how many."""
    result = session.execute(delete(Upload).where(Upload.expires_at <= utcnow()))
    assert isinstance(result, CursorResult)  # what a DELETE returns; Session.execute promises only a Result
    return result.rowcount or 0


async def sweep_forever(
    db: Database, every_seconds: float, sweeps: Sequence[Callable[[Session], object]] = (sweep_expired,)
) -> None:
    """The app's background sweeper: expired uploads leave the database even when no one exports (and the app
    adds what else expires: abandoned drafts). Each sweep runs in a transaction of its own."""
    import anyio

    def sweep(one: Callable[[Session], object]) -> None:
        with db.transaction(write=True) as session:
            one(session)

    while True:
        await anyio.sleep(every_seconds)
        for one in sweeps:
            try:
                await anyio.to_thread.run_sync(sweep, one)
            except Exception:
                logger.warning("A sweep (%r) failed; it runs again in %s s.", one, every_seconds, exc_info=True)
