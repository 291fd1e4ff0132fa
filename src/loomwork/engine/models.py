"""Artifacts own no values: they are ordered, per-slot connections to resources."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from loomwork.db.base import Base, UtcDateTime, created_at, utcnow, uuid_pk
from loomwork.resources.secrets import ENCRYPTED, EncryptedColumn, rotate_each_token


class DraftStatus(StrEnum):
    OPEN = "open"
    COMMITTED = "committed"  # its changes were saved to the artifact; it takes no more patches
    DISCARDED = "discarded"  # its owner (or the sweeper) threw it away: gone for every read and patch


class EntryState(StrEnum):
    """Where one patch of a draft stands."""

    APPLIED = "applied"  # folded into the draft's form
    DORMANT = "dormant"  # a proposal waiting for a decision
    REJECTED = "rejected"  # a proposal turned down


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (Index("ix_artifacts_group_kind_updated", "group_id", "kind", "updated_at", "id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("profiles.id", ondelete="SET NULL"))
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("profiles.id", ondelete="SET NULL"))


class Connection(Base):
    __tablename__ = "artifact_connections"
    __table_args__ = (
        # Covering indexes, so search filters and facet counts read indexes only:
        # "which artifacts use this resource in this slot" and "what does this artifact use in this slot".
        Index("ix_artifact_connections_by_resource", "resource_id", "slot", "active", "artifact_id"),
        Index("ix_artifact_connections_by_artifact", "artifact_id", "slot", "active", "resource_id"),
    )

    artifact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True)
    slot: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    # RESTRICT: a resource in use cannot vanish from under an artifact.
    resource_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("resources.id", ondelete="RESTRICT"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Draft(Base):
    """A profile's private working copy of one artifact form: a journal plus its folded state.

    `form_state` is kept up to date as entries apply, so a patch never re-folds the journal.
    """

    __tablename__ = "drafts"
    __table_args__ = (Index("ix_drafts_owner_kind_updated", "profile_id", "kind", "updated_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    # The artifact being edited (or, once committed, created). No foreign key: a deleted
    # target must leave the draft behind so patches can answer `artifact_gone`.
    target_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    base_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default=DraftStatus.OPEN)
    version: Mapped[int] = mapped_column(Integer, default=0)
    entry_count: Mapped[int] = mapped_column(Integer, default=0)
    form_state: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DraftEntry(Base):
    """One patch of a draft; its key is the operation's idempotency key. Never rewritten, only decided."""

    __tablename__ = "draft_entries"
    __table_args__ = (
        Index("ix_draft_entries_draft_state", "draft_id", "state"),
        # A retried "new draft" patch finds its first entry by key alone.
        Index("ix_draft_entries_key", "key"),
        # The review queue finds a proposal by its own id; the limits count a proposer's waiting ones.
        Index("ix_draft_entries_proposal_id", "proposal_id", unique=True),
        Index("ix_draft_entries_actor_state", "actor_id", "state"),
    )

    draft_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10))  # an EntryState
    request_hash: Mapped[str] = mapped_column(String(64))
    patch: Mapped[dict[str, Any]] = mapped_column(JSON)
    expected_version: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("profiles.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(200))
    via_agent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_at()
    decided_accept: Mapped[bool | None] = mapped_column(Boolean)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("profiles.id", ondelete="SET NULL"))
    decision_response: Mapped[str | None] = mapped_column(Text)
    # A proposal (a dormant entry, or one decided from dormant) has an id of its own (API.md section 8).
    proposal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # A proposal's secrets, encrypted ({value field: token}); its `patch` shows them masked.
    sealed: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # What the proposal would make each field it changes, as readable values ({field: value}).
    review: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The live value of each of those fields when a person decided it, frozen (API.md section 14).
    decided_now: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    # Stored replies leave the draft's proposals out and list their seqs, so they never grow with them.
    response_proposals: Mapped[list[int] | None] = mapped_column(JSON)
    decision_proposals: Mapped[list[int] | None] = mapped_column(JSON)
    # The review queue's answer to the decision, replayed when the same decision comes again.
    decision_reply: Mapped[str | None] = mapped_column(Text)


# A waiting proposal's secrets are tokens too: `loomwork rotate-secret` re-encrypts them, else a proposal made
# before a rotation could not be accepted once the old secret is dropped.
ENCRYPTED.append(EncryptedColumn(DraftEntry.__table__, "sealed", rotate_each_token))


class Revision(Base):
    """One committed version of an artifact, never changed after it is written (API.md section 9).

    `state` is the compact form state at that version: resource ids per slot (32 hex digits each) and the
    pending ones. Resources are immutable and deduplicated, so ids plus the resources table are the full
    resolved state at a fraction of the size of the values (a typical persona's revision is ~0.7 KB).
    """

    __tablename__ = "artifact_revisions"

    artifact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = created_at()
    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    author_name: Mapped[str] = mapped_column(String(200))
    author_type: Mapped[str] = mapped_column(String(10))
    via_agent: Mapped[bool] = mapped_column(Boolean, default=False)
    approved_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    operation: Mapped[str] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(32))


class Label(Base):
    """A name (`production`, `staging`, ...) pointing at one version of one artifact."""

    __tablename__ = "artifact_labels"

    artifact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class ChangeClock(Base):
    """One row on SQLite, bumped in the transaction of every revision, label move and delete, so each
    worker's resolve cache sees in one cheap read whether anything it holds may be stale. (PostgreSQL
    tells the workers through LISTEN/NOTIFY instead: no row every writer would queue on.)"""

    __tablename__ = "change_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
