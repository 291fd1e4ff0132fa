"""`plan`: what applying a folder would change, per artifact and per field, read from the server and changing
nothing. The whole folder is checked first (format.read_folder), so a bad file stops everything."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loomwork.gitops.format import CURRENT, KINDS, SINGULAR, ArtifactFile, fields_of, read_folder
from loomwork.gitops.remote import Current, Remote


@dataclass
class LabelChange:
    label: str
    before: int | None  # where it points now (None: nowhere)
    after: int | str | None  # a version, CURRENT (the version the content becomes), or None (removed)


@dataclass
class Change:
    """One artifact's change: `create`, `update` (fields and/or labels) or `delete` (only with prune)."""

    action: str
    kind: str
    name: str
    path: str | None
    id: str | None = None
    version: int | None = None  # the version the plan was made against: apply's expected_version
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (now, in the file)
    labels: list[LabelChange] = field(default_factory=list)
    file: ArtifactFile | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "kind": self.kind,
            "name": self.name,
            "path": self.path,
            "id": self.id,
            "version": self.version,
            "fields": [{"field": name, "now": now, "file": new} for name, (now, new) in self.fields.items()],
            "labels": [{"label": c.label, "now": c.before, "file": c.after} for c in self.labels],
        }


@dataclass
class Plan:
    changes: list[Change]
    agent: bool = False  # the key is an agent's: every change becomes a proposal, labels are refused

    @property
    def empty(self) -> bool:
        return not self.changes

    def as_json(self) -> dict[str, Any]:
        counts = {
            action: sum(1 for c in self.changes if c.action == action) for action in ("create", "update", "delete")
        }
        return {"changes": [c.as_json() for c in self.changes], "counts": counts, "proposals": self.agent}


def is_agent(remote: Remote) -> bool:
    """An agent's key may not `update` (its changes become proposals): the kind's docs say so per caller."""
    docs = remote.op("personas", "docs", {})
    allowed = {p["name"]: p["allowed"] for p in docs["permissions"]}
    return not allowed.get("update", False)


def make_plan(
    remote: Remote, root: Path, *, prune: bool = False, progress: Callable[[str, int], Callable[[], None]] | None = None
) -> Plan:
    files = read_folder(root)
    kinds = [kind for kind in KINDS if (root / kind).is_dir()]
    changes: list[Change] = []
    for kind in kinds:
        mine = [f for f in files if f.kind == kind]
        listed = remote.ids(kind)
        names: dict[str, list[str]] = {}
        for artifact_id, name in listed:
            names.setdefault(name, []).append(artifact_id)
        known = {artifact_id for artifact_id, _ in listed}
        # A file's id from another server or group is unknown here: it then names its artifact by exact name.
        targets: dict[int, str | None] = {}
        for index, item in enumerate(mine):
            if item.id in known:
                targets[index] = item.id
            else:
                same = names.get(item.fields["name"], [])
                targets[index] = same[0] if len(same) == 1 else None
        wanted = sorted({t for t in targets.values() if t is not None})
        tick = progress(f"Reading {kind}", len(wanted)) if progress else None
        current = remote.current(kind, wanted, tick, labels_for=_labelled(mine, targets))
        for index, item in enumerate(mine):
            target = targets[index]
            if target is None:
                changes.append(_create(item))
            else:
                change = _compare(item, current[target])
                if change is not None:
                    changes.append(change)
        if prune:
            used = set(targets.values())
            for artifact_id, name in sorted(listed, key=lambda pair: (pair[1], pair[0])):
                if artifact_id not in used:
                    changes.append(Change("delete", kind, name, None, artifact_id))
    return Plan(changes, agent=is_agent(remote))


def _labelled(files: list[ArtifactFile], targets: dict[int, str | None]) -> set[str]:
    """The artifacts whose labels the folder manages (their file has a `labels` key): only theirs are read."""
    return {t for i, t in targets.items() if t is not None and files[i].labels is not None}


def _create(item: ArtifactFile) -> Change:
    fields = {name: (_empty(value), value) for name, value in item.fields.items() if value not in (None, [], {})}
    labels = [LabelChange(name, None, version) for name, version in sorted((item.labels or {}).items())]
    return Change("create", item.kind, item.fields["name"], str(item.path), None, None, fields, labels, item)


def _empty(value: Any) -> Any:
    """What a new artifact has now in a field: nothing, of the field's own shape (so lists show as added)."""
    return type(value)() if isinstance(value, (list, dict)) else None


def _compare(item: ArtifactFile, now: Current) -> Change | None:
    have = fields_of(item.kind, now.config)
    fields = {name: (have[name], value) for name, value in item.fields.items() if have[name] != value}
    labels: list[LabelChange] = []
    if item.labels is not None:
        version_after = now.version + (1 if fields else 0)
        for name in sorted(set(item.labels) | set(now.labels)):
            wanted = item.labels.get(name)
            resolved = version_after if wanted == CURRENT else wanted
            if now.labels.get(name) != resolved:
                labels.append(LabelChange(name, now.labels.get(name), wanted))
    if not fields and not labels:
        return None
    return Change("update", item.kind, item.fields["name"], str(item.path), now.id, now.version, fields, labels, item)


# --- showing it -----------------------------------------------------------------------------------------------

_WORDS = re.compile(r"\s+|[^\s]+")


def word_diff(before: str, after: str, colour: bool) -> str:
    """The changed words marked inside the text, as the pages' diff shows them: removed `[-...-]`, added
    `{+...+}` in plain output, red and green in a terminal."""
    old, new = _WORDS.findall(before), _WORDS.findall(after)
    parts: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(_escape("".join(old[i1:i2]), colour))
            continue
        if i2 > i1:
            gone = _escape("".join(old[i1:i2]), colour)
            parts.append(f"[red strike]{gone}[/red strike]" if colour else f"[-{gone}-]")
        if j2 > j1:
            added = _escape("".join(new[j1:j2]), colour)
            parts.append(f"[green]{added}[/green]" if colour else f"{{+{added}+}}")
    return "".join(parts)


def _escape(text: str, colour: bool) -> str:
    return text.replace("[", "\\[") if colour else text


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) or "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_field(name: str, now: Any, new: Any, colour: bool) -> list[str]:
    """Lines that say how one field changes: a word diff for text, items added and removed for lists."""
    if isinstance(now, str) and isinstance(new, str):
        return [f"  {name}: {word_diff(now, new, colour)}"]
    if isinstance(now, list) and isinstance(new, list):
        lines = [f"  {name}:"]
        old_items, new_items = [_shown(v) for v in now], [_shown(v) for v in new]
        for item in old_items:
            if item not in new_items:
                lines.append(_mark("-", item, colour))
        for item in new_items:
            if item not in old_items:
                lines.append(_mark("+", item, colour))
        if len(lines) == 1:
            lines.append(f"    (the order changes: {', '.join(new_items)})")
        return lines
    old_text, new_text = _escape(_shown(now), colour), _escape(_shown(new), colour)
    if colour:
        return [f"  {name}: [red]{old_text}[/red] -> [green]{new_text}[/green]"]
    return [f"  {name}: {old_text} -> {new_text}"]


def _mark(sign: str, text: str, colour: bool) -> str:
    text = _escape(text, colour)
    if not colour:
        return f"    {sign} {text}"
    return f"    [{'green' if sign == '+' else 'red'}]{sign} {text}[/]"


def render(plan: Plan, colour: bool) -> list[str]:
    """The plan as lines for a person (rich markup when `colour`)."""
    if plan.empty:
        return ["No changes: the registry matches the folder."]
    lines: list[str] = []
    verbs = {"create": "create", "update": "update", "delete": "delete"}
    if plan.agent:
        verbs = {"create": "propose new", "update": "propose changes to", "delete": "delete"}
    for change in plan.changes:
        where = f" ({change.path})" if change.path else ""
        version = f" at version {change.version}" if change.version else ""
        lines.append(f"{verbs[change.action]} {SINGULAR[change.kind]} {change.name!r}{version}{where}")
        for name, (now, new) in change.fields.items():
            lines += describe_field(name, now, new, colour)
        for label in change.labels:
            after = "removed" if label.after is None else f"version {label.after}"
            if label.after == CURRENT:
                after = "this file's version"
            before = "nowhere" if label.before is None else f"version {label.before}"
            refused = " (an agent's key cannot move labels: a person must)" if plan.agent else ""
            lines.append(f"  label {label.label}: {before} -> {after}{refused}")
    counts = plan.as_json()["counts"]
    lines.append(
        f"Plan: {counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete"
        + (" (as proposals for a person to review)." if plan.agent else ".")
    )
    return lines
