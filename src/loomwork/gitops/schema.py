"""A JSON Schema per kind for editors (YAML language servers read `# yaml-language-server: $schema=...` or a
folder mapping); `pull` writes them to `DIR/.schemas/KIND.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loomwork.gitops.format import ARG_TYPES, CURRENT, FIELDS, KINDS, SINGULAR

_TEXT: dict[str, Any] = {"type": ["string", "null"], "minLength": 1, "maxLength": 10000}
_TEXTS: dict[str, Any] = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 10000}}
_FLAGS: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}


def _typed(extra: dict[str, Any]) -> dict[str, Any]:
    properties = {"name": {"type": "string", "minLength": 1}, "type": {"enum": list(ARG_TYPES)}, **extra}
    return {"type": "object", "required": ["name", "type"], "additionalProperties": False, "properties": properties}


_SHAPES: dict[str, dict[str, Any]] = {
    "text": _TEXT,
    "key": {**_TEXT, "description": "The name of a provider key in the group (its secret never leaves the server)."},
    "texts": _TEXTS,
    "active": {"type": ["boolean", "null"]},
    "flags": _FLAGS,
    "args": {
        "type": "array",
        "items": _typed({"description": {"type": "string"}, "required": {"type": "boolean"}, "default": {}}),
    },
    "outputs": {"type": "array", "items": _typed({"description": {"type": "string"}})},
    "models": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["model"],
            "additionalProperties": False,
            "properties": {"model": {"type": "string"}, "flags": _FLAGS, "position": _TEXT, "rubric": _TEXT},
        },
    },
}


def schema_of(kind: str) -> dict[str, Any]:
    properties: dict[str, Any] = {"id": {"type": "string", "format": "uuid"}}
    properties |= {name: _SHAPES[shape] for name, shape in FIELDS[kind].items()}
    properties["labels"] = {
        "type": "object",
        "propertyNames": {"pattern": "^[a-z][a-z0-9_-]{0,63}$", "not": {"const": "latest"}},
        "additionalProperties": {"oneOf": [{"type": "integer", "minimum": 1}, {"const": CURRENT}]},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Loomwork {SINGULAR[kind]}",
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": properties,
    }


def write_schemas(root: Path) -> None:
    folder = root / ".schemas"
    folder.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        text = json.dumps(schema_of(kind), indent=2) + "\n"
        path = folder / f"{kind}.json"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
