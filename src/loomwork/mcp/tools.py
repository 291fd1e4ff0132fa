"""The MCP tools, derived from the kind declarations and the operations table.

Each tool is one HTTP operation of the API, with the same request model as its input
schema. A tool call is answered by the API itself, in process, as an `X-MCP` caller: so
the engine's own rules (roles, the agent rules, validation, group scoping) decide, and no
rule is written twice. Agents get what reads and what proposes; nothing that decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from loomwork.catalog.router import ResourceSearchRequest
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.operations import operation
from loomwork.engine.proposals import STATUSES
from loomwork.engine.schemas import (
    DocsRequest,
    PageRequest,
    build_draft_schemas,
    build_revision_schemas,
    build_schemas,
    build_search_schemas,
)
from loomwork.kinds import ARTIFACT_KINDS
from loomwork.resources.kinds import RESOURCE_KINDS

WAITS_FOR_A_PERSON = (
    "The proposal is stored dormant in your draft: it changes nothing until a person accepts it "
    "in Loomwork. Agents cannot accept, reject, commit, create, update, duplicate or delete."
)
# Fields of the draft request an agent has no use for: every agent patch is soft, and an ack is a person's.
DECIDING_FIELDS = ("accept", "soft")


@dataclass(frozen=True)
class McpTool:
    name: str
    description: str
    method: str
    path: str  # may hold {kind}, filled from the arguments
    input_schema: dict[str, Any]
    forced: dict[str, Any] = field(default_factory=dict)  # fields the tool always sends
    path_argument: str | None = None  # an argument that names part of the path, not the body
    # The compact tools' spellings: `id` is sent as the kind's own id field (`persona_id`, ...), and the
    # object in `spread` is sent as the body's own fields (a proposal's changes).
    kind_id: bool = False
    spread: str | None = None

    def body(self, arguments: dict[str, Any], plural: str | None) -> dict[str, Any]:
        """The request body the arguments make (the path argument already taken out)."""
        body = dict(arguments)
        if self.kind_id and "id" in body and plural in ID_FIELDS:
            body[ID_FIELDS[plural]] = body.pop("id")
        if self.spread and isinstance(body.get(self.spread), dict):
            body = {**body.pop(self.spread), **body}
        return {**body, **self.forced}


ID_FIELDS = {kind.plural: kind.id_field for kind in ARTIFACT_KINDS}


def _schema(model: type[BaseModel], without: tuple[str, ...] = ()) -> dict[str, Any]:
    schema = model.model_json_schema()
    for name in without:
        schema.get("properties", {}).pop(name, None)
        if name in schema.get("required", []):
            schema["required"].remove(name)
    schema["type"] = "object"
    return schema


def _kind_tools(kind: ArtifactKind) -> list[McpTool]:
    schemas, drafts, search = build_schemas(kind), build_draft_schemas(kind), build_search_schemas(kind)
    base = f"/api/v5/artifacts/{kind.plural}"

    def summary(name: str) -> str:
        return operation(name).summary.format(name=kind.name, plural=kind.plural)

    return [
        McpTool(
            f"{kind.plural}_search",
            f"{summary('search')} Read-only.",
            "POST",
            f"{base}/search",
            _schema(search.search_request),
        ),
        McpTool(
            f"{kind.plural}_get",
            f"{summary('get')} Give {kind.id_field} and/or a draft_id. Read-only.",
            "POST",
            f"{base}/get",
            _schema(schemas.get_request),
        ),
        McpTool(f"{kind.plural}_docs", f"{summary('docs')} Read-only.", "POST", f"{base}/docs", _schema(DocsRequest)),
        McpTool(
            f"{kind.plural}_resolve",
            f"{summary('resolve')} Give {kind.id_field} or name; label defaults to latest, version wins over "
            f"label. The same answer as the resource loomwork://{kind.plural}/{{id}}@{{label}}. Read-only.",
            "POST",
            f"{base}/resolve",
            _schema(build_revision_schemas(kind).resolve_request),
        ),
        McpTool(
            f"{kind.plural}_drafts",
            f"{summary('drafts')} Shows how many proposals wait in each. Read-only.",
            "POST",
            f"{base}/drafts",
            _schema(PageRequest),
        ),
        McpTool(
            f"{kind.plural}_propose",
            f"Propose a change to a {kind.name} form: the fields of a draft patch (API.md section 4). Without "
            f"draft_id a new draft is made ({kind.id_field} starts it from an existing {kind.name}). "
            + WAITS_FOR_A_PERSON,
            "PATCH",
            f"{base}/draft",
            _schema(drafts.request, without=DECIDING_FIELDS),
            forced={"soft": True},
        ),
    ]


def _resource_search_tool() -> McpTool:
    schema = _schema(ResourceSearchRequest)
    schema["properties"] = {
        "kind": {
            "type": "string",
            "enum": [k.plural for k in RESOURCE_KINDS.values()],
            "description": "Which catalog: names, models, departments, keys, ...",
        },
        **schema.get("properties", {}),
    }
    schema["required"] = ["kind", *schema.get("required", [])]
    return McpTool(
        "resources_search",
        "Search a resource catalog by text, with how many artifacts use each "
        "resource. Read-only; a key's secret shows only its last four characters.",
        "POST",
        "/api/v5/resources/{kind}/search",
        schema,
        path_argument="kind",
    )


def _my_proposals_tool() -> McpTool:
    """An agent learns what people decided: its own proposals, their status and the reviewer's reason."""
    schema = {
        "type": "object",
        "properties": {
            "status": {
                "type": "string",
                "enum": list(STATUSES),
                "description": "Only proposals in this state; omitted: all.",
            },
            "kind": {"type": "string", "enum": [k.name for k in ARTIFACT_KINDS]},
            "artifact_id": {"type": "string", "format": "uuid"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 200},
            "page_offset": {"type": "integer", "minimum": 0},
        },
    }
    return McpTool(
        "proposals_mine",
        "Your own proposals, newest first: status (waiting, accepted, rejected, "
        "stale), who decided and when, the reviewer's reason, and what each would change (the live "
        "value against the proposed one). Read-only.",
        "POST",
        "/api/v5/proposals/search",
        schema,
        forced={"mine": True},
    )


def _compact_tools() -> list[McpTool]:
    """The same abilities as the per-kind tools in a handful whose `kind` is an argument: their whole list is a
    few kilobytes of an agent's context, where the per-kind set is some 70 KB. A proposal's fields are
    checked by the API, which names any that is wrong; `docs` lists them."""
    plurals = [kind.plural for kind in ARTIFACT_KINDS]
    kind = {"type": "string", "enum": plurals, "description": "Which artifacts."}
    the_id = {"type": "string", "format": "uuid", "description": "The artifact's id."}
    at = {
        "label": {"type": "string", "description": "A label such as production; default latest."},
        "version": {"type": "integer", "minimum": 1, "description": "A version; wins over label."},
    }
    read_only = "Read-only."

    def tool(name: str, description: str, method: str, path: str, properties: dict[str, Any], **more: Any) -> McpTool:
        required = ["kind", *more.pop("required", [])] if "kind" in properties else more.pop("required", [])
        schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
        return McpTool(name, description, method, path, schema, **more)

    return [
        tool(
            "search",
            f"Search personas, tools, evals or invocations by text (every word must match), newest first. {read_only}",
            "POST",
            "/api/v5/artifacts/{kind}/search",
            {
                "kind": kind,
                "search": {"type": "string", "maxLength": 500},
                "page_size": {"type": "integer", "minimum": 1, "maximum": 200},
                "page_offset": {"type": "integer", "minimum": 0},
            },
            path_argument="kind",
        ),
        tool(
            "get",
            f"One artifact's form (or your draft's, with draft_id): every field with its options. {read_only}",
            "POST",
            "/api/v5/artifacts/{kind}/get",
            {"kind": kind, "id": the_id, "draft_id": {"type": "string", "format": "uuid"}},
            path_argument="kind",
            kind_id=True,
        ),
        tool(
            "docs",
            f"The fields of a kind and what each takes: what `propose` accepts in `changes`. {read_only}",
            "POST",
            "/api/v5/artifacts/{kind}/docs",
            {"kind": kind},
            path_argument="kind",
        ),
        tool(
            "resolve",
            "The live config of one artifact by id or exact name, at a label or version, ready to use; the same "
            f"as the resource loomwork://{{kind}}/{{id}}@{{label}}. {read_only}",
            "POST",
            "/api/v5/artifacts/{kind}/resolve",
            {"kind": kind, "id": the_id, "name": {"type": "string", "minLength": 1}, **at},
            path_argument="kind",
            kind_id=True,
        ),
        tool(
            "resolve_many",
            "Up to 100 live configs of any kinds in one call, each answered on its own (a missing one is its own "
            f"error). Here `kind` is singular: persona, tool, eval or invocation. {read_only}",
            "POST",
            "/api/v5/resolve",
            {
                "items": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 100,
                    "items": {
                        "type": "object",
                        "properties": {
                            "kind": {"type": "string", "enum": [k.name for k in ARTIFACT_KINDS]},
                            "id": the_id,
                            "name": {"type": "string", "minLength": 1},
                            **at,
                        },
                        "required": ["kind"],
                        "additionalProperties": False,
                    },
                }
            },
            required=["items"],
        ),
        tool(
            "propose",
            'Propose a change: `changes` holds a draft patch\'s fields (see `docs`), e.g. {"description": '
            '"..."} or {"departments": ["Billing"]}. With `id` it edits that artifact; without, it proposes a '
            "new one; `draft_id` adds to your earlier draft. " + WAITS_FOR_A_PERSON,
            "PATCH",
            "/api/v5/artifacts/{kind}/draft",
            {
                "kind": kind,
                "id": the_id,
                "draft_id": {"type": "string", "format": "uuid"},
                "changes": {"type": "object", "description": "The fields to change and their new values."},
            },
            path_argument="kind",
            kind_id=True,
            spread="changes",
            forced={"soft": True},
            required=["changes"],
        ),
        tool(
            "my_drafts",
            f"Your own drafts of a kind, newest first, with how many proposals wait in each. {read_only}",
            "POST",
            "/api/v5/artifacts/{kind}/drafts",
            {"kind": kind},
            path_argument="kind",
        ),
    ]


def build_tools(full: bool = False) -> dict[str, McpTool]:
    """The compact set (the default), or with `full` the per-kind set (LOOMWORK_MCP_TOOLS=full), each with the
    kind's own request schema; both add the catalog search and the agent's own proposals."""
    kind_tools = [tool for kind in ARTIFACT_KINDS for tool in _kind_tools(kind)] if full else _compact_tools()
    tools = kind_tools + [_resource_search_tool(), _my_proposals_tool()]
    return {tool.name: tool for tool in tools}
