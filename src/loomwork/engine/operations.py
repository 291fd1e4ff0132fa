"""The operations every artifact kind has: path, role, whether an agent may call it, and a summary.

The router, the docs and (later) the MCP tools all read this one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from loomwork.principal import Principal, Role

if TYPE_CHECKING:
    from loomwork.engine.declaration import ArtifactKind


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    role: Role
    agents: bool  # may an AI agent (X-MCP caller) call it?
    summary: str
    action: str  # completes "To ... you need the X role"

    def authorise(self, principal: Principal, kind: ArtifactKind) -> None:
        """403 unless `principal` may run this operation on `kind`: the role it needs, and no agent where
        agents may not."""
        principal.authorise(self.role, self.action_for(kind), agents=self.agents)

    def action_for(self, kind: ArtifactKind) -> str:
        return self.action.format(name=kind.name, plural=kind.plural)


OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "POST", Role.VIEWER, True, "Get one {name} form with every section of options.", "read {plural}"),
    Operation(
        "create", "POST", Role.EDITOR, False, "Create {plural} in bulk (at most 1,000 items).", "create {plural}"
    ),
    Operation("update", "POST", Role.EDITOR, False, "Update {plural} in bulk with PATCH semantics.", "update {plural}"),
    Operation(
        "duplicate", "POST", Role.EDITOR, False, "Duplicate a {name} with every connection.", "duplicate {plural}"
    ),
    Operation("delete", "POST", Role.EDITOR, False, "Delete {plural} in bulk.", "delete {plural}"),
    Operation(
        "draft",
        "PATCH",
        Role.EDITOR,
        True,
        "Patch a {name} draft: apply, propose (soft), ack a proposal, or replay by idempotency key.",
        "edit {name} drafts",
    ),
    Operation("drafts", "POST", Role.VIEWER, True, "List your own {name} drafts, newest first.", "list {name} drafts"),
    Operation(
        "draft/rebase",
        "POST",
        Role.EDITOR,
        True,
        "Replay your {name} draft onto the {name}'s current version; a field both sides changed is a conflict.",
        "rebase {name} drafts",
    ),
    Operation(
        "draft/discard",
        "POST",
        Role.VIEWER,
        True,
        "Throw away your {name} draft; its waiting proposals are withdrawn.",
        "discard {name} drafts",
    ),
    Operation(
        "search",
        "POST",
        Role.VIEWER,
        True,
        "Search {plural} with text, filters and disjunctive facet counts.",
        "search {plural}",
    ),
    Operation(
        "docs",
        "POST",
        Role.VIEWER,
        True,
        "Documentation of the {name} kind, generated from its declaration.",
        "read {name} docs",
    ),
    Operation(
        "export",
        "POST",
        Role.VIEWER,
        True,
        "Export {plural} as CSV (same filters as search) into an upload.",
        "export {plural}",
    ),
    Operation(
        "import",
        "POST",
        Role.EDITOR,
        False,
        "Import {plural} from CSV: create or update by id, a result per row.",
        "import {plural}",
    ),
    Operation(
        "generate",
        "POST",
        Role.EDITOR,
        False,
        "Draft one step of a {name} with the group's AI generator; the answer waits as a proposal.",
        "generate {name} drafts with AI",
    ),
    Operation(
        "refresh",
        "POST",
        Role.ADMIN,
        False,
        "Rebuild the {name} search views from the base tables.",
        "refresh {name} views",
    ),
    Operation(
        "history",
        "POST",
        Role.VIEWER,
        True,
        "A {name}'s revisions, newest first, with the labels on each.",
        "read {name} history",
    ),
    Operation(
        "revision",
        "POST",
        Role.VIEWER,
        True,
        "One revision of a {name}: who, when, why, and its config.",
        "read {name} revisions",
    ),
    Operation(
        "diff",
        "POST",
        Role.VIEWER,
        True,
        "What changed between two versions of a {name}, in readable values.",
        "compare {name} versions",
    ),
    Operation(
        "rollback",
        "POST",
        Role.EDITOR,
        False,
        "Write a new revision of a {name} equal to an older version.",
        "roll back {plural}",
    ),
    Operation(
        "label",
        "POST",
        Role.EDITOR,
        False,
        "Point a label (production needs admin) at a version of a {name}, compare-and-set.",
        "move {name} labels",
    ),
    Operation(
        "resolve",
        "POST",
        Role.VIEWER,
        True,
        "The runtime read: a {name}'s live config by id or exact name, at a label or version.",
        "resolve {plural}",
    ),
)


def operation(name: str) -> Operation:
    return next(op for op in OPERATIONS if op.name == name)
