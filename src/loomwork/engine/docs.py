"""The docs operation: a kind's documentation, generated from its declaration and the operations table."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loomwork.engine.declaration import ArtifactKind, Slot
from loomwork.engine.models import Artifact
from loomwork.engine.operations import OPERATIONS
from loomwork.engine.repository import get_artifact, load_state
from loomwork.principal import Principal
from loomwork.resources import service as resources


def _slot_fields(slot: Slot) -> list[dict[str, Any]]:
    ids = "uuid[]" if slot.many else "uuid"
    fields = [
        {
            "name": slot.id_field,
            "type": ids,
            "description": ("Replace the selection (ordered)." if slot.many else "Select one; null clears."),
        }
    ]
    if slot.value_field:
        values = f"{slot.resource}[]" if slot.many else slot.resource
        fields.append(
            {
                "name": slot.value_field,
                "type": values,
                "description": "Values to create-or-find" + (" and append." if slot.many else " and select."),
            }
        )
    if slot.append_field:
        fields.append({"name": slot.append_field, "type": "uuid", "description": "Add one to the selection."})
    return fields


def operation_paths(kind: ArtifactKind) -> list[tuple[str, str, str]]:
    """(operation, method, path) for every route of the kind, the legacy draft route included."""
    paths = [(op.name, op.method, f"/api/v5/artifacts/{kind.plural}/{op.name}") for op in OPERATIONS]
    if kind.legacy_draft_path:
        paths.append(("draft", "POST", kind.legacy_draft_path))
    return paths


def kind_docs(
    session: Session, kind: ArtifactKind, principal: Principal, entity_id: uuid.UUID | None
) -> dict[str, Any]:
    ops = {op.name: op for op in OPERATIONS}

    def info(name: str, method: str, path: str) -> dict[str, Any]:
        op = ops[name]
        allowed = principal.has_role(op.role) and (op.agents or not principal.via_agent)
        return {
            "name": name,
            "method": method,
            "path": path,
            "role": op.role,
            "agents": op.agents,
            "summary": op.summary.format(name=kind.name, plural=kind.plural),
            "allowed": allowed,
        }

    resource_kinds = {slot.resource: slot.resource_kind for slot in kind.slots}
    docs: dict[str, Any] = {
        "name": kind.plural,
        "type": kind.name,
        "description": kind.description,
        "artifact": {
            "name": kind.name,
            "type": "artifact",
            "description": kind.description,
            "fields": [{"name": kind.id_field, "type": "uuid", "description": "The id.", "required": False}]
            + [
                {
                    "name": slot.field,
                    "type": f"{slot.resource}[]" if slot.many else slot.resource,
                    "description": slot.description,
                    "required": slot.required,
                }
                for slot in kind.slots
            ],
        },
        "entries": [
            {
                "name": slot.section,
                "type": "multiple" if slot.many else "single",
                "description": slot.description,
                "fields": _slot_fields(slot),
            }
            for slot in kind.slots
        ],
        "resources": [
            {
                "name": rk.name,
                "type": "resource",
                "description": rk.description,
                "fields": [
                    {
                        "name": "value",
                        "type": str(rk.value_schema.get("type")),
                        "description": rk.value_schema.get("description", rk.description),
                        "required": True,
                    }
                ],
            }
            for rk in resource_kinds.values()
        ],
        "permissions": [info(op.name, op.method, f"/api/v5/artifacts/{kind.plural}/{op.name}") for op in OPERATIONS],
        "api_operations": [info(*path) for path in operation_paths(kind)],
        "page_metadata": None,
    }
    if entity_id is not None:
        artifact = get_artifact(session, kind, principal.group_id, entity_id, field="entity_id")
        names = resources.load(session, principal.group_id, load_state(session, artifact.id).ids("name"))
        updated_at = session.scalar(select(Artifact.updated_at).where(Artifact.id == artifact.id))
        docs["page_metadata"] = {
            "entity_id": artifact.id,
            "title": next((n.label for n in names.values()), None),
            "version": artifact.version,
            "updated_at": updated_at,
        }
    return docs
