"""The review queue (API.md section 8): every proposal of the group, whoever's draft holds it.

A proposal is a dormant draft entry with an id of its own. Drafts stay private, but any editor
of the group may decide a proposal in one. Accepting applies the entry exactly as an ack does
(`drafts.apply_decision`); with `commit` the draft is then committed by the artifact service,
as its owner (the proposer) with the decider as approver, in a savepoint: a failed commit undoes
the accept too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from loomwork.audit import service as audit
from loomwork.db.paging import page_with_total
from loomwork.db.scoping import in_group
from loomwork.engine import artifacts, drafts
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.models import Artifact, Draft, DraftEntry, DraftStatus, EntryState
from loomwork.engine.repository import load_states
from loomwork.errors import LoomworkError, NotFound
from loomwork.identity import service as identity
from loomwork.identity.models import Profile
from loomwork.principal import Principal
from loomwork.resources import service as resources


class ProposalStatus(StrEnum):
    """Where a proposal stands in the review queue (derived from its entry and its draft, never stored)."""

    WAITING = "waiting"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    STALE = "stale"  # its draft was committed without it
    WITHDRAWN = "withdrawn"  # its draft was discarded without it


STATUSES = tuple(status.value for status in ProposalStatus)  # the queue's filter, as the API spells it
# Renders the decision's answer to its JSON text (the queue's decide response model).
ReplyRenderer = Callable[[dict[str, Any]], str]


def _status_condition(status: ProposalStatus) -> ColumnElement[bool]:
    return {
        ProposalStatus.WAITING: (DraftEntry.state == EntryState.DORMANT) & (Draft.status == DraftStatus.OPEN),
        ProposalStatus.STALE: (DraftEntry.state == EntryState.DORMANT) & (Draft.status == DraftStatus.COMMITTED),
        ProposalStatus.WITHDRAWN: (DraftEntry.state == EntryState.DORMANT) & (Draft.status == DraftStatus.DISCARDED),
        ProposalStatus.ACCEPTED: DraftEntry.decided_accept.is_(True),
        ProposalStatus.REJECTED: DraftEntry.decided_accept.is_(False),
    }[status]


def status_of(entry: DraftEntry, draft: Draft) -> ProposalStatus:
    if entry.decided_accept is not None:
        return ProposalStatus.ACCEPTED if entry.decided_accept else ProposalStatus.REJECTED
    return {DraftStatus.COMMITTED: ProposalStatus.STALE, DraftStatus.DISCARDED: ProposalStatus.WITHDRAWN}.get(
        DraftStatus(draft.status), ProposalStatus.WAITING
    )


def search(
    session: Session,
    kinds: Mapping[str, ArtifactKind],
    principal: Principal,
    filters: dict[str, Any],
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """The group's proposals, newest first, each with what it changes: the live value against the proposed."""
    conditions = [in_group(Draft, principal.group_id), DraftEntry.proposal_id.is_not(None)]
    if filters.get("status"):
        conditions.append(_status_condition(ProposalStatus(filters["status"])))
    if filters.get("kind"):
        conditions.append(Draft.kind == filters["kind"])
    if filters.get("artifact_id"):
        conditions.append(Draft.target_id == filters["artifact_id"])
    proposer = principal.profile_id if filters.get("mine") else filters.get("proposer_profile_id")
    if proposer:
        conditions.append(DraftEntry.actor_id == proposer)
    joined = select(DraftEntry, Draft).join(Draft, Draft.id == DraftEntry.draft_id).where(*conditions)
    rows, total = page_with_total(
        session, joined.order_by(DraftEntry.created_at.desc(), DraftEntry.proposal_id.desc()), limit, offset
    )
    return {"proposals": views(session, kinds, principal, rows), "total_count": total}


def views(
    session: Session, kinds: Mapping[str, ArtifactKind], principal: Principal, rows: Sequence[tuple[DraftEntry, Draft]]
) -> list[dict[str, Any]]:
    """Proposal views for (entry, draft) rows, in a fixed number of queries whatever their number."""
    targets = {draft.target_id for _entry, draft in rows if draft.target_id}
    live = load_states(session, _existing(session, principal, targets))
    labels = {
        rid: r.label
        for rid, r in resources.load(
            session, principal.group_id, {rid for state in live.values() for rid in state.all_ids()}
        ).items()
    }
    # A person's key with X-MCP proposes as an agent, yet the profile stays a person's: say which it is.
    people = identity.people(
        session, principal.group_id, [i for entry, _draft in rows for i in (entry.actor_id, entry.decided_by)]
    )
    found = []
    for entry, draft in rows:
        kind = kinds[draft.kind]
        state = live.get(draft.target_id) if draft.target_id else None
        now = (
            {}
            if state is None
            else {slot.field: slot.shown([labels.get(r) for r in state.ids(slot.key)]) for slot in kind.slots}
        )
        if entry.decided_now is not None:  # decided: the values it was decided against, not today's
            now = {**now, **entry.decided_now}
        review = entry.review or {}
        changes = [
            {"field": field, "now": now.get(field, [] if _many(kind, field) else None), "proposed": value}
            for field, value in review.items()
        ]
        found.append(
            {
                "proposal_id": entry.proposal_id,
                "draft_id": draft.id,
                "kind": kind.name,
                "artifact_id": draft.target_id,
                "artifact_name": now.get("name") or review.get("name"),
                "proposer": {
                    "profile_id": entry.actor_id,
                    "name": entry.actor_name,
                    "type": people[entry.actor_id]["type"]
                    if entry.actor_id in people
                    else ("agent" if entry.via_agent else "person"),
                },
                "via_agent": entry.via_agent,
                "created_at": entry.created_at,
                "status": status_of(entry, draft),
                "base_version": draft.base_version,
                "idempotency_key": entry.key,
                "decided_by": None
                if entry.decided_by is None
                else people.get(entry.decided_by, {"profile_id": entry.decided_by, "name": None, "type": None}),
                "decided_at": entry.decided_at,
                "reason": entry.reason,
                "changes": changes,
            }
        )
    return found


def _many(kind: ArtifactKind, field: str) -> bool:
    return any(slot.many and slot.section == field for slot in kind.slots)


def _existing(session: Session, principal: Principal, ids: set[uuid.UUID]) -> list[uuid.UUID]:
    if not ids:
        return []
    return list(
        session.scalars(select(Artifact.id).where(Artifact.id.in_(ids), in_group(Artifact, principal.group_id)))
    )


def _locked(session: Session, principal: Principal, proposal_id: uuid.UUID) -> tuple[DraftEntry, Draft]:
    """The proposal and its draft, the draft locked: concurrent deciders of one proposal take turns."""
    found = session.execute(
        select(DraftEntry.draft_id, DraftEntry.key)
        .join(Draft, Draft.id == DraftEntry.draft_id)
        .where(DraftEntry.proposal_id == proposal_id, in_group(Draft, principal.group_id))
    ).first()
    if found is None:
        raise NotFound(f"proposal_id: no proposal with id {proposal_id}.", field="proposal_id")
    draft = session.scalar(select(Draft).where(Draft.id == found.draft_id).with_for_update())
    entry = session.get(DraftEntry, (found.draft_id, found.key))
    if draft is None or entry is None:  # deleted with its draft since the lookup above
        raise NotFound(f"proposal_id: no proposal with id {proposal_id}.", field="proposal_id")
    return entry, draft


def _owner(session: Session, draft: Draft, entry: DraftEntry) -> Principal:
    """The draft's owner, as whom the commit is made: the proposer is its author, the decider approves it."""
    profile = session.get(Profile, draft.profile_id)
    if profile is None:  # a draft is deleted with its owner, so a bug if it comes
        raise NotFound(f"The owner of draft {draft.id} is gone.", field="draft_id")
    return Principal(
        profile_id=profile.id,
        group_id=profile.group_id,
        name=profile.name,
        role=profile.role,
        via_agent=entry.via_agent and entry.actor_id == draft.profile_id,
    )


def decide(
    session: Session,
    kinds: Mapping[str, ArtifactKind],
    principal: Principal,
    request: dict[str, Any],
    reply: ReplyRenderer,
) -> str:
    """Accept or reject one proposal (people only); the same decision again answers as the first time."""
    principal.refuse_agent("decide proposals")
    entry, draft = _locked(session, principal, request["proposal_id"])
    kind = kinds[draft.kind]
    accept = request["decision"] == "accept"
    if drafts.already_decided(entry, accept):
        if entry.decision_reply:
            return entry.decision_reply
        return reply(_answer(session, kinds, principal, entry, draft, None))  # decided by an ack
    drafts.require_open(session, kind, draft)  # committed meanwhile: 409 draft_committed (the proposal is stale)
    commit = request.get("commit")
    if commit is None:  # an agent's draft has no person to commit it later
        commit = entry.via_agent and entry.actor_id == draft.profile_id
    recorded = audit.mark(session)
    committed = None
    try:
        with session.begin_nested():
            drafts.apply_decision(session, kind, principal, draft, entry, accept, reason=request.get("reason"))
            if accept and commit:
                committed = _commit(session, kind, principal, draft, entry, request.get("expected_version"))
    except LoomworkError:
        audit.forget_since(session, recorded)  # the accept was undone with the commit
        raise
    entry.decision_reply = reply(_answer(session, kinds, principal, entry, draft, committed))
    session.flush()
    return entry.decision_reply


def _commit(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    draft: Draft,
    entry: DraftEntry,
    expected_version: int | None,
) -> dict[str, Any]:
    owner = _owner(session, draft, entry)
    item: dict[str, Any] = {"draft_id": draft.id}
    if draft.target_id is None:
        row = artifacts.create_item(session, kind, owner, item, approved_by=principal.profile_id)
    else:
        item[kind.id_field] = draft.target_id
        if expected_version is not None:
            item["expected_version"] = expected_version
        row = artifacts.update_item(session, kind, owner, item, approved_by=principal.profile_id)
    return {"artifact_id": row.id, "kind": kind.name, "version": row.version}


def _answer(
    session: Session,
    kinds: Mapping[str, ArtifactKind],
    principal: Principal,
    entry: DraftEntry,
    draft: Draft,
    committed: dict[str, Any] | None,
) -> dict[str, Any]:
    session.refresh(draft)
    (view,) = views(session, kinds, principal, [(entry, draft)])
    verb = "Accepted" if entry.decided_accept else "Rejected"
    message = f"{verb} the proposal" + (
        f" and committed {view['kind']} version {committed['version']}." if committed else "."
    )
    return {"success": True, "message": message, "proposal": view, "committed": committed}
