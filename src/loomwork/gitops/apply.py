"""`apply`: carry a plan out through the public API.

A person's key commits: bulk `create` and `update` (each update item with the version the plan read, so a
change made meanwhile in the pages fails its own item as a conflict and is never overwritten), then labels by
compare-and-set. An agent's key (a CI bot) proposes: each change is a draft patch, which the server stages as
a proposal in the review queue; nothing goes live until a person accepts it. Deletions come only with a plan
made with prune."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loomwork.gitops.format import CURRENT, FIELDS, SINGULAR
from loomwork.gitops.plan import Change, Plan
from loomwork.gitops.remote import Remote, RemoteError

BATCH = 100
# A multiple slot's ids field: sending it empty with the values replaces the selection (API.md section 4, rule 4).
MANY_IDS = {
    "examples": "example_ids",
    "departments": "department_ids",
    "parameter_fields": "parameter_field_ids",
    "voices": "voice_ids",
    "scenarios": "scenario_ids",
    "instructions": "instruction_ids",
    "permissions": "permission_ids",
    "modalities": "modality_ids",
    "qualities": "quality_ids",
}


@dataclass
class Outcome:
    """What happened to one change: `done`, `proposed`, `conflict`, `refused` or `failed`, and why."""

    change: Change
    status: str
    detail: str = ""
    id: str | None = None
    version: int | None = None
    proposals: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.change.action,
            "kind": self.change.kind,
            "name": self.change.name,
            "path": self.change.path,
            "status": self.status,
            "detail": self.detail,
            "id": self.id,
            "version": self.version,
            "proposals": self.proposals,
        }


def body_of(kind: str, fields: dict[str, Any], key_ids: dict[str, str]) -> dict[str, Any]:
    """A create/update item (or draft patch) that sets `fields` by value, each replacing what is there."""
    shapes = FIELDS[kind]
    body: dict[str, Any] = {}
    for name, value in fields.items():
        shape = shapes[name]
        if shape == "text":
            body.update({name: value} if value is not None else {f"{name}_id": None})
        elif shape == "texts":
            body[MANY_IDS[name]] = []
            body[name] = value
        elif shape == "key":
            if value is None:
                body["key_id"] = None
            elif value in key_ids:
                body["key_id"] = key_ids[value]
            else:
                raise ValueError(
                    f"key: no provider key named {value!r} in this group; a person adds it (with its secret) first"
                )
    if "flags" in fields or "active" in fields:
        flags = fields.get("flags", {})
        body["flag_ids"] = []
        body["flags"] = [{"type": t, "value": v} for t, v in flags.items()]
        if fields.get("active") is not None:
            body["active"] = fields["active"]
    if "args" in fields or "args_outputs" in fields:
        args, outputs = fields["args"], fields["args_outputs"]
        if len(outputs) > len(args):
            raise ValueError(
                "args_outputs: the server pairs each output with an argument; list no more outputs than args"
            )
        body["args_drafts"] = [
            {**arg, "position": index, **({"output": outputs[index]} if index < len(outputs) else {})}
            for index, arg in enumerate(args)
        ]
    if "models" in fields:
        models = fields["models"]
        if kind == "evals":
            body.update(model_ids=[], models=[m["model"] for m in models])
        elif any(not m["flags"] for m in models):
            raise ValueError("models: an invocation's model is known by its flags (invocation_role); give each one")
        body.update(
            model_flag_ids=[],
            model_flags=[
                {"model": m["model"], "flag": {"type": t, "value": v}} for m in models for t, v in m["flags"].items()
            ],
            model_position_ids=[],
            model_positions=[m["position"] for m in models if m["position"] is not None],
            model_rubric_ids=[],
            model_rubrics=[m["rubric"] for m in models if m["rubric"] is not None],
        )
    return body


def _changed_fields(change: Change) -> dict[str, Any]:
    """The fields to send: the changed ones, with the partners a change needs whole (flags and active, args
    and their outputs)."""
    assert change.file is not None
    given = change.file.fields
    if change.action == "create":
        return dict(given)
    names = set(change.fields)
    if names & {"flags", "active"}:
        names |= {"flags", "active"}
    if names & {"args", "args_outputs"}:
        names |= {"args", "args_outputs"}
    return {name: given[name] for name in given if name in names}


def apply_plan(
    remote: Remote, plan: Plan, *, message: str | None = None, progress: Callable[[], None] | None = None
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    writes = [c for c in plan.changes if c.action in ("create", "update")]
    key_ids = remote.key_ids() if any(c.kind == "invocations" and "key" in _changed_fields(c) for c in writes) else {}
    tick = progress or (lambda: None)
    if plan.agent:
        for change in plan.changes:
            outcomes.append(_propose(remote, change, key_ids, message))
            tick()
        return outcomes
    for kind in FIELDS:
        for action in ("create", "update"):
            mine = [c for c in writes if c.kind == kind and c.action == action]
            for start in range(0, len(mine), BATCH):
                outcomes += _commit(remote, kind, action, mine[start : start + BATCH], key_ids, message)
                for _ in mine[start : start + BATCH]:
                    tick()
    done = {id(o.change): o for o in outcomes}
    for change in plan.changes:
        if change.action == "delete":
            outcomes.append(_delete(remote, change))
            tick()
        elif change.labels and done[id(change)].status == "done":
            _labels(remote, change, done[id(change)])
    return outcomes


def _commit(
    remote: Remote, kind: str, action: str, changes: list[Change], key_ids: dict[str, str], message: str | None
) -> list[Outcome]:
    id_field = f"{SINGULAR[kind]}_id"
    outcomes: dict[int, Outcome] = {}
    items: list[dict[str, Any]] = []
    sent: list[Change] = []
    for change in changes:
        fields = _changed_fields(change)
        if not fields:  # only labels change
            outcomes[id(change)] = Outcome(change, "done", id=change.id, version=change.version)
            continue
        try:
            item = body_of(kind, fields, key_ids)
        except ValueError as error:
            outcomes[id(change)] = Outcome(change, "failed", str(error))
            continue
        if message:
            item["message"] = message
        if action == "update":
            item.update({id_field: change.id, "expected_version": change.version})
        items.append(item)
        sent.append(change)
    if items:
        try:
            answer = remote.op(kind, action, {kind: items})
        except RemoteError as error:
            for change in sent:
                outcomes[id(change)] = Outcome(change, "failed", error.detail)
        else:
            for change, result in zip(sent, answer["results"]):
                outcomes[id(change)] = _result(change, result, id_field)
    return [outcomes[id(change)] for change in changes]


def _result(change: Change, result: dict[str, Any], id_field: str) -> Outcome:
    if result.get("success"):
        return Outcome(change, "done", id=str(result.get(id_field)), version=result.get("version"))
    code = str(result.get("code") or "")
    detail = str(result.get("message") or result.get("detail") or result)
    status = "conflict" if code == "version_conflict" else "failed"
    return Outcome(change, status, detail, id=change.id)


def _labels(remote: Remote, change: Change, outcome: Outcome) -> None:
    """Each label by compare-and-set against where the plan saw it; a refusal is noted, not fatal."""
    id_field = f"{SINGULAR[change.kind]}_id"
    notes: list[str] = []
    for label in change.labels:
        version = outcome.version if label.after == CURRENT else label.after
        body = {id_field: outcome.id, "label": label.label, "version": version, "expected_version": label.before}
        try:
            remote.op(change.kind, "label", body)
        except RemoteError as error:
            notes.append(f"label {label.label}: {error.detail}")
            if outcome.status == "done":
                outcome.status = "conflict" if error.code == "version_conflict" else "refused"
    if notes:
        outcome.detail = "; ".join([outcome.detail, *notes] if outcome.detail else notes)


def _delete(remote: Remote, change: Change) -> Outcome:
    id_field = f"{SINGULAR[change.kind]}_id"
    try:
        answer = remote.op(change.kind, "delete", {f"{SINGULAR[change.kind]}_ids": [change.id]})
    except RemoteError as error:
        return Outcome(change, "refused" if error.status == 403 else "failed", error.detail, id=change.id)
    result = answer["results"][0]
    if result.get("success"):
        return Outcome(change, "done", id=change.id)
    return Outcome(change, "failed", str(result.get("message") or result), id=str(result.get(id_field, change.id)))


def _propose(remote: Remote, change: Change, key_ids: dict[str, str], message: str | None) -> Outcome:
    """An agent's change: a draft patch the server stages as a proposal (agents are always soft). Its key names
    the pull request (`message`), so the queue item and the PR link to each other."""
    if change.action == "delete":
        return Outcome(change, "refused", "an agent's key cannot delete; a person applies --prune", id=change.id)
    try:
        body = (
            body_of(change.kind, _changed_fields(change), key_ids) if change.fields or change.action == "create" else {}
        )
    except ValueError as error:
        return Outcome(change, "failed", str(error))
    notes = ["labels are moved by a person"] if change.labels else []
    if not body:
        return Outcome(change, "refused", "; ".join(notes), id=change.id)
    id_field = f"{SINGULAR[change.kind]}_id"
    if change.id:
        body[id_field] = change.id
    digest = hashlib.sha256(repr(sorted(body.items())).encode()).hexdigest()[:12]
    body.update(soft=True, idempotency_key=f"{(message or 'loomwork apply')[:200]} [{digest}]")
    try:
        answer = _patch(remote, change.kind, body)
    except RemoteError as error:
        status = "conflict" if error.code == "version_conflict" else "failed"
        return Outcome(change, status, error.detail, id=change.id)
    base = (answer.get("form_state") or {}).get("base_version")  # the version the proposal builds on
    if change.id and change.version is not None and base is not None and base != change.version:
        _discard(remote, change.kind, answer["draft_id"])
        return Outcome(
            change, "conflict", f"changed meanwhile: version {base}, the plan read {change.version}", id=change.id
        )
    proposals = [str(p.get("proposal_id") or p.get("key")) for p in answer.get("form_state", {}).get("proposals", [])]
    return Outcome(change, "proposed", "; ".join(notes), id=change.id, proposals=proposals)


def _patch(remote: Remote, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return remote.send("PATCH", f"/api/v5/artifacts/{kind}/draft", body)


def _discard(remote: Remote, kind: str, draft_id: str) -> None:
    with contextlib.suppress(RemoteError):  # else the proposal stays in the queue, where a person sees it is behind
        remote.op(kind, "draft/discard", {"draft_id": draft_id})
