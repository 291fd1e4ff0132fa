"""OpenAPI links between operations, derived from the kinds: what a create answers feeds get, update,
draft, duplicate, export and delete (and a resource's create feeds its get and delete).

Stateful contract fuzzing (Schemathesis, `make fuzz`) follows them, so generated sequences reach real
ids instead of 404s; a client generator reads them the same way.

Each operation also states who may call it, from the dependency that checks it (`caller_with`):
`x-loomwork-role` (its least role) and `x-loomwork-agents` (whether an AI agent may). Tests hold the
agent rule against these (tests/identity/test_agent_rule.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from loomwork.identity.dependencies import access_of
from loomwork.kinds import ARTIFACT_KINDS
from loomwork.resources.kinds import RESOURCE_KINDS


def _artifact_links(kind: Any) -> dict[str, dict[str, Any]]:
    made = f"$response.body#/results/0/{kind.id_field}"
    bodies = {
        "get": {kind.id_field: made},
        "update": {kind.plural: [{kind.id_field: made}]},
        "draft": {kind.id_field: made},
        "duplicate": {kind.id_field: made},
        "export": {kind.id_field: made},
        "delete": {kind.ids_field: [made]},
    }
    return {
        f"{operation.capitalize()}Created": {"operationId": f"{operation}_{kind.name}", "requestBody": body}
        for operation, body in bodies.items()
    }


def _resource_links(kind: Any) -> dict[str, dict[str, Any]]:
    made = "$response.body#/results/0/id"
    return {
        "GetCreated": {"operationId": f"get_{kind.name}_resources", "requestBody": {"id": made}},
        "DeleteCreated": {"operationId": f"delete_{kind.name}_resources", "requestBody": {"ids": [made]}},
    }


def add_links(document: dict[str, Any]) -> dict[str, Any]:
    """Put the links into the create operations' 200 responses of an OpenAPI document (in place)."""
    links = {f"create_{kind.name}": _artifact_links(kind) for kind in ARTIFACT_KINDS}
    links.update({f"create_{kind.name}_resources": _resource_links(kind) for kind in RESOURCE_KINDS.values()})
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and operation.get("operationId") in links:
                operation["responses"]["200"]["links"] = links[operation["operationId"]]
    return document


ROLE, AGENTS = "x-loomwork-role", "x-loomwork-agents"


def declare_access(routes: Iterable[BaseRoute]) -> None:
    """Give every operation guarded by `caller_with` its `x-loomwork-role` and `x-loomwork-agents`, before
    the document is built (the routes of included routers too)."""
    for route in routes:
        if isinstance(route, APIRoute):
            access = access_of(route.dependant)
            if access is not None:
                route.openapi_extra = {**(route.openapi_extra or {}), ROLE: access.role.value, AGENTS: access.agents}
        included = getattr(route, "original_router", None)  # FastAPI 0.16x keeps an included router whole
        if included is not None:
            declare_access(included.routes)
