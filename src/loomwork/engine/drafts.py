"""Drafts (API.md section 4): a profile's private journal of patches to one artifact form.

A patch appends an entry and, unless it is a proposal, folds it into the draft's
stored form state at once, so its cost never depends on the journal's length.
Proposals (soft patches, and every patch of an AI agent) stay dormant until a
person acks them. An entry's id is its idempotency key: a retried patch gets
the stored response back byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, cast

from pydantic_core import to_jsonable_python
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from loomwork.audit import service as audit
from loomwork.db.base import utcnow
from loomwork.db.dialect import serialize_on
from loomwork.engine import schemas
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.form import FormState, active_value, apply_patch_with, bind_to_origin, with_aliases_resolved
from loomwork.engine.models import Artifact, Draft, DraftEntry, DraftStatus, EntryState
from loomwork.engine.proposal_model import Proposal
from loomwork.engine.repository import get_artifact, load_state
from loomwork.engine.revisions import decode_state, load_revision
from loomwork.errors import Conflict, Forbidden, Invalid, NotFound, TooManyProposals, version_conflict
from loomwork.events import outbox
from loomwork.principal import Principal
from loomwork.resources import secrets
from loomwork.resources import service as resources
from loomwork.resources.planned import DryRunResolver
from loomwork.resources.service import DirectResolver

# Fields that steer the patch rather than change the form (`input_draft_id` is the legacy spelling of draft_id).
CONTROL_FIELDS = frozenset({"draft_id", "input_draft_id", "expected_version", "idempotency_key", "soft", "accept"})

# The review queue's limits (API.md section 8): waiting proposals per draft and per proposer.
MAX_WAITING_PER_DRAFT = 100
MAX_WAITING_PER_PROPOSER = 1000


@dataclass(frozen=True)
class DraftPatch:
    """One draft request, parsed once: the fields that steer it apart from the slot changes it makes.

    `changes` keeps the spelling the request used (a proposal shows it so); the alias rule is applied where the
    changes are hashed and applied, by `with_aliases_resolved`. `given` names the control fields the request
    set, explicit nulls included, because the replay hash has always covered them as sent."""

    changes: dict[str, Any]
    draft_id: uuid.UUID | None = None
    target_id: uuid.UUID | None = None
    expected_version: int | None = None
    idempotency_key: str | None = None
    soft: bool | None = None
    accept: bool | None = None
    given: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, kind: ArtifactKind, fields: Mapping[str, Any]) -> DraftPatch:
        """`fields`: the set fields of a kind's draft request, as Python values."""
        controls = with_aliases_resolved(kind, {k: v for k, v in fields.items() if k in _control_names(kind)})
        return cls(
            changes={k: v for k, v in fields.items() if k not in _control_names(kind)},
            draft_id=controls.get("draft_id"),
            target_id=controls.get(kind.id_field),
            expected_version=controls.get("expected_version"),
            idempotency_key=controls.get("idempotency_key"),
            soft=controls.get("soft"),
            accept=controls.get("accept"),
            given=frozenset(controls),
        )

    def controls_json(self, kind: ArtifactKind) -> dict[str, Any]:
        """The control fields as the request gave them (`input_draft_id` as `draft_id`), in JSON."""
        value = {
            "draft_id": self.draft_id,
            kind.id_field: self.target_id,
            "expected_version": self.expected_version,
            "idempotency_key": self.idempotency_key,
            "soft": self.soft,
            "accept": self.accept,
        }
        return {name: to_jsonable_python(value[name]) for name in self.given}

    def changes_json(self) -> dict[str, Any]:
        return {name: to_jsonable_python(value) for name, value in self.changes.items()}


def _control_names(kind: ArtifactKind) -> frozenset[str]:
    return CONTROL_FIELDS | {kind.id_field}


def parse_patch(kind: ArtifactKind, data: Mapping[str, Any]) -> DraftPatch:
    """A draft request given as plain data (stored JSON, a generator's answer), validated by the kind's request
    model: raises pydantic's ValidationError."""
    request = schemas.build_draft_schemas(kind).request.model_validate(data)
    return DraftPatch.parse(kind, request.model_dump(exclude_unset=True))


def request_hash(kind: ArtifactKind, controls: Mapping[str, Any], changes: Mapping[str, Any]) -> str:
    """The request's fingerprint for replays, from its JSON: an alias (`input_draft_id`, `args_outputs_ids`)
    counts as the field it stands for, so a retry through the legacy route replays the same entry."""
    body = with_aliases_resolved(kind, {**changes, **controls})
    canonical = {k: v for k, v in body.items() if k != "idempotency_key"}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def fingerprint_secrets(kind: ArtifactKind, changes: dict[str, Any]) -> dict[str, Any]:
    """The changes (JSON) with each secret replaced by its keyed fingerprint: what the replay hash may see of it."""
    changes = dict(changes)
    for slot in kind.slots:
        field = slot.value_field
        value = changes.get(field) if field and slot.resource_kind.sensitive else None
        if field and isinstance(value, dict) and isinstance(value.get("secret"), str):
            changes[field] = {**value, "secret": secrets.box().fingerprint(value["secret"])}
    return changes


def seal_secrets(
    session: Session, kind: ArtifactKind, principal: Principal, patch: DraftPatch, base: Callable[[], FormState]
) -> DraftPatch:
    """A secret never reaches the journal: in a person's own patch a sensitive value becomes its encrypted
    resource first (staged: only the draft's owner sees it until a commit), selected by id instead. A key is
    bound to the endpoint it is entered with (the patch's, else the form's: `base()`, read only then)."""
    if not any(slot.resource_kind.sensitive and slot.value_field in patch.changes for slot in kind.slots):
        return patch
    resolver = DirectResolver(session, principal.group_id, principal.profile_id)
    changes = bind_to_origin(resolver, kind, base(), patch.changes)
    for slot in kind.slots:
        if not slot.resource_kind.sensitive or slot.value_field not in changes:
            continue
        raw = changes[slot.value_field]
        changes = {k: v for k, v in changes.items() if k != slot.value_field}
        if slot.id_field in changes:  # the id wins over the value anyway (rule 3)
            continue
        changes[slot.id_field] = (
            None
            if raw is None
            else resources.create_values(
                session,
                principal.group_id,
                slot.resource_kind,
                [raw],
                slot.value_field,
                indexed=False,
                staged_by=principal.profile_id,
            )[0]
        )
    return replace(patch, changes=changes)


def _base_state(session: Session, draft: Draft | None, target_id: uuid.UUID | None) -> FormState:
    """The form a patch applies to: its draft's, else (a new edit draft) the artifact's current one."""
    if draft is not None:
        return FormState.from_json(draft.form_state)
    return load_state(session, target_id) if target_id is not None else FormState()


def seal_proposal(
    kind: ArtifactKind, changes: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str] | None]:
    """A proposal's secret stays inside the proposal: encrypted apart (`sealed`), masked in its journal entry,
    and fingerprinted (never in plain text) in what its replay hash covers. Takes the changes as Python values;
    returns (stored, hashed, sealed), the first two in JSON."""
    stored = {name: to_jsonable_python(value) for name, value in changes.items()}
    # The hash sees the secret as sent, by its keyed fingerprint, as a person's patch does: the normalised
    # value carries a random part (keys never dedupe), so the identical request would never replay.
    hashed, sealed = fingerprint_secrets(kind, stored), {}
    for slot in kind.slots:
        rkind = slot.resource_kind
        if not rkind.sensitive or slot.value_field is None or changes.get(slot.value_field) is None:
            continue
        if slot.id_field in changes:  # the id wins over the value anyway (rule 3)
            stored.pop(slot.value_field), hashed.pop(slot.value_field)
            continue
        value = resources.normalise_value(rkind, changes[slot.value_field], slot.value_field)
        if rkind.bound_to and isinstance(value, dict) and value.get("origin") is not None:
            raise Invalid(
                f"{slot.value_field}.origin: a proposal never binds a key to an origin; a person with the editor "
                "role enters the key.",
                field=f"{slot.value_field}.origin",
            )
        sealed[slot.value_field] = secrets.box().encrypt(json.dumps(value))
        stored[slot.value_field] = rkind.public(rkind.load(rkind.dump(value)))
    return stored, hashed, sealed or None


def unsealed_patch(entry: DraftEntry) -> dict[str, Any]:
    """The proposal's patch with its sealed secrets in place, for the moment a person accepts it."""
    return {
        **entry.patch,
        **{field: json.loads(secrets.box().decrypt(token)) for field, token in (entry.sealed or {}).items()},
    }


def proposed_values(kind: ArtifactKind, before: FormState, after: FormState, dry: DryRunResolver) -> dict[str, Any]:
    """What a proposal would make each field it changes, as readable values (a key masked, an icon sanitized)."""
    review: dict[str, Any] = {}
    for slot in kind.slots:
        if before.ids(slot.key) == after.ids(slot.key):
            continue
        labels = [dry.label(rid) for rid in after.ids(slot.key)]
        review[slot.field] = slot.shown(labels)
    return review


def _check_limits(session: Session, principal: Principal, draft: Draft) -> None:
    """At most MAX_WAITING_PER_DRAFT waiting proposals in one draft, MAX_WAITING_PER_PROPOSER per proposer."""
    in_draft = (
        session.scalar(
            select(func.count())
            .select_from(DraftEntry)
            .where(DraftEntry.draft_id == draft.id, DraftEntry.state == EntryState.DORMANT)
        )
        or 0
    )
    if in_draft >= MAX_WAITING_PER_DRAFT:
        raise TooManyProposals(
            f"This draft already holds {MAX_WAITING_PER_DRAFT} waiting proposals; wait until "
            "a person decides some of them."
        )
    by_proposer = (
        session.scalar(
            select(func.count())
            .select_from(DraftEntry)
            .join(Draft, Draft.id == DraftEntry.draft_id)
            .where(
                DraftEntry.actor_id == principal.profile_id,
                DraftEntry.state == EntryState.DORMANT,
                Draft.status == DraftStatus.OPEN,
            )
        )
        or 0
    )
    if by_proposer >= MAX_WAITING_PER_PROPOSER:
        raise TooManyProposals(
            f"You already have {MAX_WAITING_PER_PROPOSER} waiting proposals; wait until a person decides some of them."
        )


def load_draft(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    draft_id: uuid.UUID,
    *,
    lock: bool = False,
    field: str = "draft_id",
) -> Draft:
    """The caller's own draft of this kind; anyone else's, or a discarded one, is "not found", like another
    group's."""
    query = select(Draft).where(
        Draft.id == draft_id,
        Draft.profile_id == principal.profile_id,
        Draft.kind == kind.name,
        Draft.status != DraftStatus.DISCARDED,
    )
    draft = session.scalar(query.with_for_update() if lock else query)
    if draft is None:
        raise NotFound(f"{field}: no {kind.name} draft of yours with id {draft_id}.", field=field)
    return draft


def require_open(session: Session, kind: ArtifactKind, draft: Draft) -> None:
    if draft.status == DraftStatus.COMMITTED:
        raise Conflict(
            f"Draft {draft.id} was already committed; start a new draft to change the {kind.name} again.",
            code="draft_committed",
        )
    if draft.status == DraftStatus.DISCARDED:  # reached through the review queue: its proposals were withdrawn
        raise Conflict(
            f"Draft {draft.id} was discarded by its owner; the proposals it held were withdrawn.",
            code="draft_discarded",
        )
    if draft.target_id is not None:
        exists = session.scalar(select(Artifact.id).where(Artifact.id == draft.target_id))
        if exists is None:
            raise Conflict(f"The {kind.name} this draft edits ({draft.target_id}) was deleted.", code="artifact_gone")


def new_draft(session: Session, kind: ArtifactKind, principal: Principal, target_id: uuid.UUID | None) -> Draft:
    """A draft for a new artifact, or (with a target) an edit draft starting from its current state."""
    state, base_version = FormState(), None
    if target_id is not None:
        artifact = get_artifact(session, kind, principal.group_id, target_id)
        state, base_version = load_state(session, artifact.id), artifact.version
    now = utcnow()
    draft = Draft(
        id=uuid.uuid4(),
        group_id=principal.group_id,
        profile_id=principal.profile_id,
        kind=kind.name,
        target_id=target_id,
        base_version=base_version,
        status=DraftStatus.OPEN,
        version=0,
        entry_count=0,
        form_state=state.to_json(),
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    session.flush()
    return draft


def _find_entry(
    session: Session, kind: ArtifactKind, principal: Principal, draft: Draft | None, key: str
) -> DraftEntry | None:
    if draft is not None:
        return session.get(DraftEntry, (draft.id, key))
    # A retried "new draft" patch: look among the caller's own drafts of this kind. No draft row is
    # locked yet, so concurrent retries serialise on the key itself, else each would start a draft.
    serialize_on(session, f"draft-key:{principal.profile_id}:{kind.name}:{key}")
    return session.scalar(
        select(DraftEntry)
        .join(Draft, Draft.id == DraftEntry.draft_id)
        .where(DraftEntry.key == key, Draft.profile_id == principal.profile_id, Draft.kind == kind.name)
        .limit(1)
    )


def _save_state(session: Session, draft: Draft, state: FormState, **also: Any) -> None:
    """Fold one applied entry: a conditional UPDATE, so a concurrent writer can never skip the version check."""
    # An UPDATE answers with a CursorResult, which session.execute's annotation (a plain Result) does not say.
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Draft)
            .where(Draft.id == draft.id, Draft.version == draft.version)
            .values(version=draft.version + 1, form_state=state.to_json(), updated_at=utcnow(), **also)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        current = session.scalar(select(Draft.version).where(Draft.id == draft.id))
        raise version_conflict("draft", current, draft.version)
    session.expire(draft)


def patch_draft(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    patch: DraftPatch,
    *,
    proposer: Principal | None = None,
) -> str:
    """Apply one draft request (patch, proposal, ack or replay) and return the response's JSON text.

    `proposer` stages the entry as another profile's proposal in the caller's draft (the AI generator's)."""
    draft_id, key = patch.draft_id, patch.idempotency_key
    if patch.accept is not None:
        if not draft_id or not key:
            raise Invalid("accept: an ack needs draft_id and the proposal's idempotency_key.", field="accept")
        return decide(session, kind, principal, draft_id, key, patch.accept)

    draft = load_draft(session, kind, principal, draft_id, lock=True) if draft_id else None
    actor = proposer or principal
    proposal = bool(patch.soft) or actor.via_agent
    sealed = None
    if proposal:
        stored, hashed, sealed = seal_proposal(kind, patch.changes)
    else:  # the replay hash sees a secret's keyed fingerprint, never the secret
        hashed = fingerprint_secrets(kind, patch.changes_json())
    digest = request_hash(kind, patch.controls_json(kind), hashed)
    if key:
        entry = _find_entry(session, kind, principal, draft, key)
        if entry is not None:
            if entry.request_hash != digest:
                raise Conflict(
                    f"idempotency_key {key!r} was already used on this draft with another request body.",
                    code="idempotency_mismatch",
                )
            return _reply(session, entry.draft_id, entry.response, entry.response_proposals)
    if not proposal:  # after the replay check: keys never dedupe, so sealing a replayed secret would store another
        patch = seal_secrets(session, kind, principal, patch, lambda: _base_state(session, draft, patch.target_id))
        stored = patch.changes_json()
    target_id = patch.target_id
    if draft is None:
        draft = new_draft(session, kind, principal, target_id)
    elif target_id is not None and target_id != draft.target_id:
        raise Invalid(f"{kind.id_field}: this draft edits {draft.target_id}, not {target_id}.", field=kind.id_field)
    require_open(session, kind, draft)
    expected = patch.expected_version
    if expected is not None and expected != draft.version:
        raise version_conflict("draft", draft.version, expected)

    changes = patch.changes
    before, review = FormState.from_json(draft.form_state), None
    if proposal:  # checked by the same rules, but its values stay inside it until a person accepts it
        _check_limits(session, actor, draft)
        dry = DryRunResolver(session, principal.group_id, reader=principal.profile_id)
        review = proposed_values(kind, before, apply_patch_with(dry, kind, before, changes, binds=False), dry)
    else:  # values new to the group are staged: the owner's alone until a commit makes them live
        state = apply_patch_with(
            DirectResolver(session, principal.group_id, principal.profile_id), kind, before, changes
        )
    key = key or str(uuid.uuid4())
    seq = draft.entry_count + 1
    if proposal:  # the form stays as it is; only the journal grows
        session.execute(
            update(Draft)
            .where(Draft.id == draft.id)
            .values(entry_count=seq, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        session.expire(draft)
    else:
        _save_state(session, draft, state, entry_count=seq)
    message = (
        f"Proposal {key} waits for a person to accept or reject it."
        if proposal
        else f"Applied to the draft (version {draft.version})."
    )
    entry = DraftEntry(
        draft_id=draft.id,
        key=key,
        seq=seq,
        state=EntryState.DORMANT if proposal else EntryState.APPLIED,
        request_hash=digest,
        patch=stored,
        expected_version=expected,
        response="",
        actor_id=actor.profile_id,
        actor_name=actor.name,
        via_agent=actor.via_agent,
        created_at=utcnow(),
        proposal_id=uuid.uuid4() if proposal else None,
        sealed=sealed,
        review=review,
    )
    session.add(entry)
    session.flush()  # first, so a proposal's own response lists it
    entry.response, entry.response_proposals, text = _store(session, kind, principal, draft, key, message)
    session.flush()
    if proposal:  # a person's own applied patch stays private until committed; a proposal is someone's act
        audit.record(
            session,
            actor,
            "propose",
            kind.name,
            {"proposal": key, "proposal_id": str(entry.proposal_id), "patch": entry.patch},
            artifact_id=draft.target_id,
            draft_id=draft.id,
        )
        outbox.emit(
            session,
            principal.group_id,
            outbox.PROPOSAL_CREATED,
            {
                "kind": kind.name,
                kind.id_field: draft.target_id,
                "draft_id": draft.id,
                "proposal_id": str(entry.proposal_id),
                "proposed_by": outbox.actor(actor),
                "via_agent": actor.via_agent,
            },
        )
    return text


def decide(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    draft_id: uuid.UUID,
    key: str,
    accept: bool,
) -> str:
    """Accept (apply) or reject a dormant proposal; repeating a decision answers as the first time."""
    principal.refuse_agent("accept or reject proposals")
    draft = load_draft(session, kind, principal, draft_id, lock=True)
    entry = session.get(DraftEntry, (draft.id, key))
    if entry is None:
        raise NotFound(f"idempotency_key: no entry {key!r} on draft {draft.id}.", field="idempotency_key")
    if already_decided(entry, accept):
        return decision_reply(session, entry)
    require_open(session, kind, draft)
    return apply_decision(session, kind, principal, draft, entry, accept)


def already_decided(entry: DraftEntry, accept: bool) -> bool:
    """True when the entry was decided this way before (the caller replays); 409 when the other way."""
    decided = entry.decided_accept
    if decided is None and entry.state == EntryState.APPLIED:
        decided = True  # a direct (non-proposal) patch was decided when it was written
    if decided is None:
        return False
    if decided != accept:
        verb = "accepted" if decided else "rejected"
        raise Conflict(f"Entry {entry.key} was already {verb}.", code="already_decided")
    return True


def decision_reply(session: Session, entry: DraftEntry) -> str:
    """The draft response a decision answered with (or, for a patch applied when written, its own)."""
    if entry.decision_response:
        return _reply(session, entry.draft_id, entry.decision_response, entry.decision_proposals)
    return _reply(session, entry.draft_id, entry.response, entry.response_proposals)


def refuse_own_proposal(principal: Principal, entry: DraftEntry) -> None:
    """A change proposed as an AI agent needs another person's decision, or its revision would show it approved
    by its own author. A person's own soft proposal (made without X-MCP) stays theirs to ack: the seeds' flow."""
    if entry.via_agent and entry.actor_id == principal.profile_id:
        raise Forbidden(
            f"You proposed {entry.key} as an AI agent; another person must accept or reject it.",
            code="own_proposal",
        )


def apply_decision(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    draft: Draft,
    entry: DraftEntry,
    accept: bool,
    reason: str | None = None,
) -> str:
    """Decide an undecided proposal of an open draft (an ack, or the review queue). Accepting applies it as a
    patch of the draft's owner: values new to the group become resources only now, staged by that owner."""
    refuse_own_proposal(principal, entry)
    if entry.proposal_id is not None:  # the record of what was decided against, before anything changes
        entry.decided_now = readable_now(session, kind, draft.group_id, draft.target_id, entry.review or {})
    if accept:
        if entry.expected_version is not None and entry.expected_version != draft.version:
            raise version_conflict("draft", draft.version, entry.expected_version)
        try:
            state = apply_patch_with(
                DirectResolver(session, draft.group_id, draft.profile_id),
                kind,
                FormState.from_json(draft.form_state),
                parse_patch(kind, unsealed_patch(entry)).changes,
                binds=False,  # a person accepts an agent's key; its origin is the agent's choice, so never bound
            )
        except NotFound as gone:
            raise Conflict(f"The proposal can no longer apply: {gone.detail}", code="resources_gone") from None
        _save_state(session, draft, state)
    entry.state = EntryState.APPLIED if accept else EntryState.REJECTED
    entry.decided_accept, entry.decided_at, entry.decided_by = accept, utcnow(), principal.profile_id
    entry.reason, entry.sealed = reason, None  # decided either way, the proposal keeps no secret
    session.flush()  # so the answer's form state no longer lists the decided proposal
    message = f"Accepted proposal {entry.key}." if accept else f"Rejected proposal {entry.key}."
    entry.decision_response, entry.decision_proposals, text = _store(
        session, kind, principal, draft, entry.key, message
    )
    session.flush()
    audit.record(
        session,
        principal,
        "accept" if accept else "reject",
        kind.name,
        {
            "proposal": entry.key,
            "proposal_id": str(entry.proposal_id) if entry.proposal_id else None,
            "accepted": accept,
            "proposed_by": entry.actor_name,
            "proposed_via_agent": entry.via_agent,
            **({"reason": reason} if reason else {}),
        },
        artifact_id=draft.target_id,
        draft_id=draft.id,
    )
    outbox.emit(
        session,
        principal.group_id,
        outbox.PROPOSAL_DECIDED,
        {
            "kind": kind.name,
            kind.id_field: draft.target_id,
            "draft_id": draft.id,
            "proposal_id": str(entry.proposal_id) if entry.proposal_id else None,
            "decision": "accept" if accept else "reject",
            "decided_by": outbox.actor(principal),
            "proposed_by": {
                "profile_id": entry.actor_id,
                "name": entry.actor_name,
                "type": "agent" if entry.via_agent else "person",
            },
        },
    )
    return text


def readable_now(
    session: Session, kind: ArtifactKind, group_id: uuid.UUID, target_id: uuid.UUID | None, fields: Iterable[str]
) -> dict[str, Any]:
    """The live artifact's value of each field, as a person reads it (a new artifact's fields are empty)."""
    state = load_state(session, target_id) if target_id else FormState()
    values = resources.load(session, group_id, state.all_ids())
    by_field = {slot.field: slot for slot in kind.slots}
    return {
        field: by_field[field].shown([values[r].label for r in state.ids(by_field[field].key) if r in values])
        for field in fields
        if field in by_field
    }


_NO_PROPOSALS = '"proposals":[]'


def _store(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    draft: Draft,
    key: str,
    message: str,
) -> tuple[str, list[int], str]:
    """A response to store and answer: (stored text without the waiting proposals, their seqs, the whole text).

    The stored reply never grows with the proposals before it; a replay splices the same proposals (their
    journal entries never change) back in, byte for byte, see `_reply`."""
    stored = (
        schemas.build_draft_schemas(kind)
        .response.model_validate(
            {
                "success": True,
                "draft_id": draft.id,
                "idempotency_key": key,
                "new_version": draft.version,
                "message": message,
                "form_state": form_state_view(session, kind, principal, draft, proposals=False),
            }
        )
        .model_dump_json()
    )
    waiting = _waiting(session, draft.id)
    return stored, [p.seq for p in waiting], _splice(stored, waiting)


def _reply(session: Session, draft_id: uuid.UUID, stored: str, seqs: list[int] | None) -> str:
    if seqs is None:  # stored whole, before replies were stored bounded
        return stored
    entries = (
        session.scalars(
            select(DraftEntry).where(DraftEntry.draft_id == draft_id, DraftEntry.seq.in_(seqs)).order_by(DraftEntry.seq)
        ).all()
        if seqs
        else []
    )
    return _splice(stored, entries)


def _splice(stored: str, entries: Sequence[DraftEntry]) -> str:
    # The first `"proposals":[]` is the form state's: every text before it is a JSON string, whose quotes are escaped.
    items = ",".join(Proposal.model_validate(_proposal_item(p)).model_dump_json() for p in entries)
    return stored.replace(_NO_PROPOSALS, f'"proposals":[{items}]', 1)


def _waiting(session: Session, draft_id: uuid.UUID) -> list[DraftEntry]:
    return list(
        session.scalars(
            select(DraftEntry)
            .where(DraftEntry.draft_id == draft_id, DraftEntry.state == EntryState.DORMANT)
            .order_by(DraftEntry.seq)
        )
    )


def _proposal_item(p: DraftEntry) -> dict[str, Any]:
    return {
        "idempotency_key": p.key,
        "proposal_id": p.proposal_id,
        "actor_name": p.actor_name,
        "via_agent": p.via_agent,
        "created_at": p.created_at,
        "changes": p.patch,
    }


def form_state_view(
    session: Session, kind: ArtifactKind, principal: Principal, draft: Draft, *, proposals: bool = True
) -> dict[str, Any]:
    """Everything a client needs to render the form: selections with their values, pending, proposals."""
    state = FormState.from_json(draft.form_state)
    values = resources.load(session, principal.group_id, state.all_ids())
    view: dict[str, Any] = {
        "draft_id": draft.id,
        kind.id_field: draft.target_id,
        "version": draft.version,
        "status": draft.status,
        "base_version": draft.base_version,
        "behind_by": behind_by(session, draft),
        "active": active_value(kind, state, values),
        "pending_ids": sorted(state.pending, key=str),
    }
    for slot in kind.slots:
        selected = [values[rid] for rid in state.ids(slot.key) if rid in values]
        view[slot.id_field] = slot.shown([r.id for r in selected])
        view[slot.field] = slot.shown([r.public for r in selected])
    view["proposals"] = [_proposal_item(p) for p in _waiting(session, draft.id)] if proposals else []
    return view


def take_for_commit(
    session: Session, kind: ArtifactKind, principal: Principal, draft_id: uuid.UUID, target_id: uuid.UUID | None
) -> tuple[Draft, FormState]:
    """The draft a create (no target) or update (its target) commits, locked, with its form state."""
    draft = load_draft(session, kind, principal, draft_id, lock=True)
    require_open(session, kind, draft)
    if draft.target_id != target_id:
        wanted = f"edits {draft.target_id}; commit it with update" if draft.target_id else "is for a new " + kind.name
        raise Invalid(f"draft_id: this draft {wanted}.", field="draft_id")
    state = FormState.from_json(draft.form_state)
    # Another editor may delete a value only this private draft held (drafts never hold a delete back):
    # the draft's form view already leaves it out, and so does the commit.
    present = resources.load(session, draft.group_id, state.all_ids()).keys()
    for key, ids in state.slots.items():
        state.slots[key] = [rid for rid in ids if rid in present]
    return draft, state.normalised()


def mark_committed(session: Session, draft: Draft, artifact_id: uuid.UUID) -> None:
    draft.status, draft.target_id, draft.updated_at = DraftStatus.COMMITTED, artifact_id, utcnow()
    session.flush()


def list_drafts(
    session: Session, kind: ArtifactKind, principal: Principal, limit: int, offset: int
) -> list[dict[str, Any]]:
    """The caller's own drafts of this kind, newest first, with their name and waiting proposals."""
    waiting = (
        select(DraftEntry.draft_id, func.count().label("n"))
        .where(DraftEntry.state == EntryState.DORMANT)
        .group_by(DraftEntry.draft_id)
        .subquery()
    )
    rows = session.execute(
        select(Draft, func.coalesce(waiting.c.n, 0))
        .outerjoin(waiting, waiting.c.draft_id == Draft.id)
        .where(Draft.profile_id == principal.profile_id, Draft.kind == kind.name, Draft.status != DraftStatus.DISCARDED)
        .order_by(Draft.updated_at.desc(), Draft.id)
        .limit(limit)
        .offset(offset)
    ).all()
    name_of = {draft.id: next(iter(FormState.from_json(draft.form_state).ids("name")), None) for draft, _ in rows}
    names = resources.load(session, principal.group_id, {n for n in name_of.values() if n})
    entries = []
    for draft, proposals in rows:
        name_id = name_of[draft.id]
        entries.append(
            {
                "draft_id": draft.id,
                kind.id_field: draft.target_id,
                "version": draft.version,
                "status": draft.status,
                "name": names[name_id].value if name_id in names else None,
                "waiting_proposals": proposals,
                "created_at": draft.created_at,
                "updated_at": draft.updated_at,
            }
        )
    return entries


# --- behind, rebase and discard (API.md section 13) ----------------------------------------------------------


def behind_by(session: Session, draft: Draft) -> int:
    """How many versions the artifact has moved since the draft's base (0 for a new artifact, a committed draft,
    or an artifact that is gone: a patch answers artifact_gone for that)."""
    if draft.target_id is None or draft.base_version is None or draft.status != DraftStatus.OPEN:
        return 0
    current = session.scalar(select(Artifact.version).where(Artifact.id == draft.target_id))
    return max(0, current - draft.base_version) if current is not None else 0


@dataclass(frozen=True)
class MergeField:
    """What a rebase merges as one: a slot, or the slots one feature reads together (a tool's arguments, their
    positions and outputs; an eval's models, their flags, positions and rubrics), which never merge apart."""

    name: str
    slots: tuple[str, ...]


def merge_fields(kind: ArtifactKind) -> list[MergeField]:
    grouped: dict[str, tuple[str, ...]] = {}
    if kind.arguments:
        arguments = kind.arguments
        grouped["arguments"] = (arguments.arg_slot, arguments.position_slot, arguments.output_slot)
    model_slots = tuple(
        s.key for s in kind.slots if s.resource in ("model", "model_flag", "model_position", "model_rubric")
    )
    if kind.model_flag_slot and model_slots:
        grouped["models"] = model_slots
    member = {key: name for name, keys in grouped.items() for key in keys}
    fields: list[MergeField] = []
    for slot in kind.slots:
        name = member.get(slot.key)
        if name is None:
            fields.append(MergeField(slot.field, (slot.key,)))
        elif slot.key == grouped[name][0]:
            fields.append(MergeField(name, grouped[name]))
    return fields


def _part(state: FormState, merge: MergeField) -> tuple[tuple[tuple[uuid.UUID, ...], frozenset[uuid.UUID]], ...]:
    """A field's selections and which of them are pending: what a three-way merge compares."""
    return tuple(
        (tuple(state.ids(key)), frozenset(rid for rid in state.ids(key) if rid in state.pending)) for key in merge.slots
    )


def _take(merged: FormState, source: FormState, merge: MergeField) -> None:
    for key in merge.slots:
        ids = source.ids(key)
        merged.slots[key] = list(ids)
        merged.pending = (merged.pending - set(merged.ids(key))) | {rid for rid in ids if rid in source.pending}


def three_way(
    kind: ArtifactKind, base: FormState, theirs: FormState, mine: FormState, resolutions: Mapping[str, str]
) -> tuple[FormState, list[MergeField]]:
    """Theirs with my changes since the base replayed on it, field by field; a field both changed differently is
    a conflict unless `resolutions` names the side to keep ("mine" or "theirs"). Returns (merged, conflicts)."""
    merged, conflicts = theirs.copy(), []
    for merge in merge_fields(kind):
        b, t, m = _part(base, merge), _part(theirs, merge), _part(mine, merge)
        if m in (b, t):
            continue  # I did not change it, or we agree: theirs stands
        if t == b or resolutions.get(merge.name) == "mine":
            _take(merged, mine, merge)
        elif resolutions.get(merge.name) != "theirs":
            conflicts.append(merge)
    return merged.normalised(), conflicts


def rebase(
    session: Session,
    kind: ArtifactKind,
    principal: Principal,
    draft_id: uuid.UUID,
    resolutions: Mapping[str, str],
    key: str = "",
) -> str:
    """Replay the draft onto the artifact's current version (API.md section 13): the draft response with
    `conflicts: []`, or 409 rebase_conflict listing each field both sides changed (nothing changes then)."""
    draft = load_draft(session, kind, principal, draft_id, lock=True)
    require_open(session, kind, draft)
    known = {merge.name for merge in merge_fields(kind)}
    unknown = sorted(set(resolutions) - known)
    if unknown:
        raise Invalid(
            f"resolutions: {', '.join(unknown)} is not a field of a {kind.name}; the fields are {', '.join(sorted(known))}.",
            field="resolutions",
        )
    behind = behind_by(session, draft)
    if draft.target_id is None or draft.base_version is None or behind == 0:
        return _store(session, kind, principal, draft, key, "The draft already builds on the current version.")[2]
    current = get_artifact(session, kind, principal.group_id, draft.target_id)
    base = decode_state(load_revision(session, kind, current.id, draft.base_version).state)
    theirs, mine = load_state(session, current.id), FormState.from_json(draft.form_state)
    merged, conflicts = three_way(kind, base, theirs, mine, resolutions)
    if conflicts:
        states = {"base": base, "theirs": theirs, "mine": mine}
        values = resources.load(session, principal.group_id, set().union(*(s.all_ids() for s in states.values())))
        raise Conflict(
            f"Both you and someone else changed {', '.join(c.name for c in conflicts)} since version "
            f'{draft.base_version}; choose "mine" or "theirs" for each in resolutions and rebase again.',
            code="rebase_conflict",
            conflicts=[
                {"field": c.name, **{side: _readable(kind, c, state, values) for side, state in states.items()}}
                for c in conflicts
            ],
        )
    _save_state(session, draft, merged, base_version=current.version)
    audit.record(
        session,
        principal,
        "rebase",
        kind.name,
        {"from_version": draft.base_version, "to_version": current.version, "kept_mine": sorted(resolutions)},
        artifact_id=current.id,
        draft_id=draft.id,
    )
    session.refresh(draft)
    message = f"Rebased onto version {current.version}."
    return _store(session, kind, principal, draft, key, message)[2]


def _readable(kind: ArtifactKind, merge: MergeField, state: FormState, values: Mapping[uuid.UUID, Any]) -> Any:
    """A field's value as a person reads it: a slot's shown value, or each slot of a group by its field name."""
    shown = {
        kind.slot_by_key[key].field: kind.slot_by_key[key].shown(
            [values[r].public for r in state.ids(key) if r in values]
        )
        for key in merge.slots
    }
    return next(iter(shown.values())) if len(shown) == 1 else shown


def discard(session: Session, kind: ArtifactKind, principal: Principal, draft_id: uuid.UUID) -> dict[str, Any]:
    """The owner throws the draft away: 404 for it from now on, its waiting proposals withdrawn."""
    draft = load_draft(session, kind, principal, draft_id, lock=True)
    if draft.status == DraftStatus.COMMITTED:
        raise Conflict(f"Draft {draft.id} was already committed; there is nothing to discard.", code="draft_committed")
    withdrawn = discard_draft(session, draft)
    audit.record(
        session,
        principal,
        "discard",
        kind.name,
        {"withdrawn_proposals": withdrawn},
        artifact_id=draft.target_id,
        draft_id=draft.id,
    )
    return {"draft_id": draft.id, "discarded": True, "withdrawn_proposals": withdrawn}


def discard_draft(session: Session, draft: Draft) -> int:
    """Mark the draft discarded and delete the staged values only it held; answers how many waiting proposals it
    withdrew. The owner's other open drafts keep the staged values they share with it."""
    withdrawn = (
        session.scalar(
            select(func.count())
            .select_from(DraftEntry)
            .where(DraftEntry.draft_id == draft.id, DraftEntry.state == EntryState.DORMANT)
        )
        or 0
    )
    draft.status, draft.updated_at = DraftStatus.DISCARDED, utcnow()
    held = FormState.from_json(draft.form_state).all_ids()
    if held:
        others = session.scalars(
            select(Draft.form_state).where(
                Draft.profile_id == draft.profile_id, Draft.status == DraftStatus.OPEN, Draft.id != draft.id
            )
        )
        shared = set().union(*(FormState.from_json(state).all_ids() for state in others))
        resources.delete_staged(session, draft.profile_id, held - shared)
    session.flush()
    return withdrawn


def sweep_abandoned(session: Session, ttl_days: int, limit: int = 500) -> int:
    """Discard open drafts nobody touched for `ttl_days` (LOOMWORK_DRAFT_TTL_DAYS), a batch at a time."""
    cutoff = utcnow() - timedelta(days=ttl_days)
    stale = session.scalars(
        select(Draft)
        .where(Draft.status == DraftStatus.OPEN, Draft.updated_at < cutoff)
        .order_by(Draft.updated_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for draft in stale:
        discard_draft(session, draft)
    return len(stale)
