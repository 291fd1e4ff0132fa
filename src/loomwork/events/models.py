"""The outbox (one row per event, numbered per group in commit order), webhooks and their deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loomwork.db.base import Base, UtcDateTime, created_at, uuid_pk
from loomwork.resources.secrets import ENCRYPTED, EncryptedColumn

Cursor = BigInteger().with_variant(Integer, "sqlite")


class EventCursor(Base):
    """A group's last event cursor. Committing transactions take this row's lock to number their
    events, so within a group cursors follow commit order with no gaps (see events/outbox.py)."""

    __tablename__ = "event_cursors"

    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    last: Mapped[int] = mapped_column(Cursor, default=0)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("group_id", "cursor"),)

    id: Mapped[uuid.UUID] = uuid_pk()  # the deliveries' webhook-id
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    cursor: Mapped[int] = mapped_column(Cursor)
    type: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str | None] = mapped_column(String(40))  # the artifact kind, for the feed's `kinds` filter
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class Webhook(Base):
    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_group_id", "group_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(String(500), default="")
    # The signing secret (whsec_...), encrypted with resources.secrets: it is shown once, at create.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    # Events up to this cursor have their deliveries (the worker fans out after it).
    fanned_out: Mapped[int] = mapped_column(Cursor, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = created_at()
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("profiles.id", ondelete="SET NULL"))


class WebhookDelivery(Base):
    """One event (or test message) for one webhook; attempted until delivered or failed."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "created_at"),
        UniqueConstraint("webhook_id", "message_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(64))  # webhook-id: the same on every attempt
    event_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON signed and sent
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When a worker may take it next. A claim moves it a lease ahead, so a worker killed mid-attempt
    # leaves it due again once the lease runs out.
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claim: Mapped[str | None] = mapped_column(String(64))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at()
    retry_from: Mapped[datetime] = mapped_column(UtcDateTime)  # retries last a window from here (redeliver resets)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "at"),)

    id: Mapped[int] = mapped_column(Cursor, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column(Integer)
    response_excerpt: Mapped[str] = mapped_column(String(1024), default="")


class WorkerLease(Base):
    """On SQLite one delivery worker runs at a time: the one holding this lease, renewed while it runs."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


# `loomwork rotate-secret` re-encrypts the signing secrets with the provider keys.
ENCRYPTED.append(EncryptedColumn(Webhook.__table__, "secret_encrypted"))
