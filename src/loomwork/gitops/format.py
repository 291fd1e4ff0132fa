"""The file format: one YAML file per artifact, `KIND/slug-of-name.yaml`, holding its fields by value.

The fields are the resolve shape (API.md section 9) as a person reads it, less what the server derives from
them (a persona's `variables`, a tool's `function` and `output_schema`) and less storage (model ids, a key's
masked secret). Keys come in the kind's declaration order, long or multi-line texts as block scalars, so the
same registry state always writes byte-identical files.

Reading keeps each key's line, so an error names the file, the line and the field.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KINDS = ("personas", "tools", "evals", "invocations")
SINGULAR = {"personas": "persona", "tools": "tool", "evals": "eval", "invocations": "invocation"}

# Field name -> what it holds: "text" (one value or null), "texts" (an ordered list), "flags", "active",
# "args", "outputs", "models", "key". In each kind's declaration order (the resolve config's order).
FIELDS: dict[str, dict[str, str]] = {
    "personas": {
        "name": "text",
        "description": "text",
        "color": "text",
        "icon": "text",
        "instructions": "text",
        "active": "active",
        "flags": "flags",
        "examples": "texts",
        "departments": "texts",
        "parameter_fields": "texts",
        "voices": "texts",
        "scenarios": "texts",
    },
    "tools": {
        "name": "text",
        "description": "text",
        "active": "active",
        "flags": "flags",
        "departments": "texts",
        "args": "args",
        "args_outputs": "outputs",
        "instructions": "texts",
        "permissions": "texts",
    },
    "evals": {
        "name": "text",
        "description": "text",
        "active": "active",
        "flags": "flags",
        "departments": "texts",
        "models": "models",
    },
    "invocations": {
        "name": "text",
        "description": "text",
        "value": "text",
        "active": "active",
        "flags": "flags",
        "departments": "texts",
        "key": "key",
        "endpoint": "text",
        "modalities": "texts",
        "temperature_level": "text",
        "pricing": "text",
        "reasoning_level": "text",
        "qualities": "texts",
        "voices": "texts",
        "models": "models",
    },
}
ARG_TYPES = ("string", "integer", "number", "boolean", "array", "object")
ARG_KEYS = ("name", "type", "description", "required", "default")
OUTPUT_KEYS = ("name", "type", "description")
MODEL_KEYS = ("model", "flags", "position", "rubric")
LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
# A label whose value is CURRENT points at the version this file's content is (after apply, the new one).
CURRENT = "current"
HEADER = "# Loomwork {kind}: edit, then `loomwork plan` and `loomwork apply`. `id` names it on its server.\n"


class FileError(Exception):
    """A file that cannot be applied: where (file, line) and which field, and why."""

    def __init__(self, path: Path | str, line: int | None, field: str | None, reason: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {field + ': ' if field else ''}{reason}")
        self.path, self.line, self.field, self.reason = str(path), line, field, reason


@dataclass
class ArtifactFile:
    """One artifact as its file says: its kind (the folder), id (None until it exists), fields, labels
    (None: the file does not manage labels)."""

    kind: str
    path: Path
    id: str | None
    fields: dict[str, Any]
    labels: dict[str, int | str] | None = None
    lines: dict[str, int] = field(default_factory=dict)


# --- from the server's resolve shape to the file's fields ---------------------------------------------------


def fields_of(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The file's fields from a resolve `config`: derived fields and storage left out, flags without the
    kind's own active flag (`active` says it)."""
    active_type = f"{SINGULAR[kind]}_active"
    out: dict[str, Any] = {}
    for name, shape in FIELDS[kind].items():
        value = config.get(name)
        if shape == "texts":
            out[name] = list(value or [])
        elif shape == "flags":
            out[name] = {t: v for t, v in sorted((value or {}).items()) if t != active_type}
        elif shape == "args":
            out[name] = [{k: arg.get(k) for k in ARG_KEYS} for arg in value or []]
        elif shape == "outputs":
            out[name] = [{k: item.get(k) for k in OUTPUT_KEYS} for item in value or []]
        elif shape == "models":
            out[name] = [
                {
                    "model": m["model"],
                    "flags": dict(sorted((m.get("flags") or {}).items())),
                    "position": m.get("position"),
                    "rubric": m.get("rubric"),
                }
                for m in value or []
            ]
        elif shape == "key":
            out[name] = value["name"] if isinstance(value, dict) else None
        else:
            out[name] = value
    return out


# --- writing ------------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block scalars for multi-line or long text, lists indented under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # A block scalar cannot hold trailing spaces on a line or a text that starts with a space faithfully.
    plain_lines = all(line == line.rstrip() for line in value.split("\n")) and not value.startswith((" ", "\t"))
    if ("\n" in value or len(value) > 80) and plain_lines and "\r" not in value:
        style = "|" if "\n" in value else ">"
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _text)


def dump(item: ArtifactFile) -> str:
    """The file's text: header, id, fields in declaration order, labels sorted by name."""
    body: dict[str, Any] = {"id": item.id} if item.id else {}
    body.update(item.fields)
    if item.labels:
        body["labels"] = dict(sorted(item.labels.items()))
    text = yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)
    return HEADER.format(kind=SINGULAR[item.kind]) + text


def slug(name: str) -> str:
    """A file name from an artifact's name: ASCII letters, digits and dashes (`Front desk` -> `front-desk`)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:80] or "artifact"


def file_names(kind: str, items: list[tuple[str, str]]) -> dict[str, str]:
    """`{id: "KIND/slug.yaml"}` for (id, name) pairs; two names with one slug get `-2`, `-3` in id order."""
    taken: dict[str, int] = {}
    names: dict[str, str] = {}
    for artifact_id, name in sorted(items, key=lambda pair: (slug(pair[1]), pair[0])):
        base = slug(name)
        count = taken[base] = taken.get(base, 0) + 1
        names[artifact_id] = f"{kind}/{base if count == 1 else f'{base}-{count}'}.yaml"
    return names


# --- reading ------------------------------------------------------------------------------------------------


def read_folder(root: Path) -> list[ArtifactFile]:
    """Every `KIND/*.yaml` under `root`, checked; the first bad file raises FileError (nothing is applied)."""
    found: list[ArtifactFile] = []
    errors: list[FileError] = []
    for kind in KINDS:
        folder = root / kind
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.y*ml")):
            try:
                found.append(read_file(kind, path, root))
            except FileError as error:
                errors.append(error)
    if errors:
        raise FolderError(errors)
    seen: dict[tuple[str, str], Path] = {}
    for item in found:
        if item.id is None:
            continue
        twice = seen.get((item.kind, item.id))
        if twice is not None:
            raise FolderError([FileError(item.path, item.lines.get("id"), "id", f"the same id as {twice}")])
        seen[(item.kind, item.id)] = item.path
    return found


class FolderError(Exception):
    """Every bad file of a folder, each with its line and field."""

    def __init__(self, errors: list[FileError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors


def read_file(kind: str, path: Path, root: Path | None = None) -> ArtifactFile:
    shown = path.relative_to(root) if root is not None else path
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise FileError(shown, None, None, "not UTF-8 text") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        raise FileError(shown, line, None, f"not valid YAML: {error.problem or error}") from None
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise FileError(shown, 1, None, "a file holds a mapping of fields (name: ..., description: ...)")
    lines = {str(key.value): key.start_mark.line + 1 for key, _value in node.value}
    return _checked(kind, shown, data, lines)


def _checked(kind: str, path: Path, data: dict[str, Any], lines: dict[str, int]) -> ArtifactFile:
    def fail(name: str, reason: str) -> FileError:
        return FileError(path, lines.get(name), name, reason)

    known = {"id", "labels", *FIELDS[kind]}
    for name in data:
        if name not in known:
            raise fail(str(name), f"not a field of a {SINGULAR[kind]} (the fields: {', '.join(FIELDS[kind])})")
    artifact_id = data.get("id")
    if artifact_id is not None:
        try:
            artifact_id = str(uuid.UUID(str(artifact_id)))
        except ValueError:
            raise fail("id", "an id is a UUID, as `loomwork pull` wrote it; remove it for a new artifact") from None
    fields: dict[str, Any] = {}
    for name, shape in FIELDS[kind].items():
        fields[name] = _field(shape, data.get(name), lambda reason, name=name: fail(name, reason))
    if not fields["name"]:
        raise fail("name", "every artifact needs a name")
    labels = _labels(data.get("labels"), lambda reason: fail("labels", reason))
    return ArtifactFile(kind, path, artifact_id, fields, labels, lines)


def _text_value(value: Any, fail: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise fail(f"expected text, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise fail("an empty text; leave the field out or write null")
    return text


def _field(shape: str, value: Any, fail: Any) -> Any:
    if shape == "text":
        return None if value is None else _text_value(value, fail)
    if shape == "key":
        return None if value is None else _text_value(value, fail)
    if shape == "active":
        if value is not None and not isinstance(value, bool):
            raise fail("active is true, false or null")
        return value
    if shape == "texts":
        if value is None:
            return []
        if not isinstance(value, list):
            raise fail("expected a list of texts")
        return [_text_value(v, fail) for v in value]
    if shape == "flags":
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise fail("flags are a mapping of type: value")
        return {
            str(t): _text_value(v if not isinstance(v, bool) else str(v).lower(), fail)
            for t, v in sorted(value.items())
        }
    if shape == "args":
        return [_arg(item, i, fail) for i, item in enumerate(_list(value, fail))]
    if shape == "outputs":
        return [_output(item, i, fail) for i, item in enumerate(_list(value, fail))]
    if shape == "models":
        return _models([_model(item, i, fail) for i, item in enumerate(_list(value, fail))], fail)
    raise AssertionError(shape)


def _list(value: Any, fail: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail("expected a list")
    return value


def _mapping(item: Any, index: int, keys: tuple[str, ...], fail: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise fail(f"item {index + 1} is a mapping of {', '.join(keys)}")
    for key in item:
        if key not in keys:
            raise fail(f"item {index + 1}: {key!r} is not one of {', '.join(keys)}")
    return item


def _typed(item: dict[str, Any], index: int, fail: Any) -> tuple[str, str]:
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail(f"item {index + 1} needs a name")
    kind = item.get("type")
    if kind not in ARG_TYPES:
        raise fail(f"item {index + 1} ({name}): type is one of {', '.join(ARG_TYPES)}")
    return name.strip(), kind


def _arg(item: Any, index: int, fail: Any) -> dict[str, Any]:
    item = _mapping(item, index, ARG_KEYS, fail)
    name, kind = _typed(item, index, fail)
    required = item.get("required", False)
    if not isinstance(required, bool):
        raise fail(f"item {index + 1} ({name}): required is true or false")
    description = item.get("description") or ""
    return {
        "name": name,
        "type": kind,
        "description": str(description).strip(),
        "required": required,
        "default": item.get("default"),
    }


def _output(item: Any, index: int, fail: Any) -> dict[str, Any]:
    item = _mapping(item, index, OUTPUT_KEYS, fail)
    name, kind = _typed(item, index, fail)
    return {"name": name, "type": kind, "description": str(item.get("description") or "").strip()}


def _model(item: Any, index: int, fail: Any) -> dict[str, Any]:
    item = _mapping(item, index, MODEL_KEYS, fail)
    flags = item.get("flags") or {}
    if not isinstance(flags, dict):
        raise fail(f"item {index + 1}: flags are a mapping of type: value")
    return {
        "model": _text_value(item.get("model"), lambda r: fail(f"item {index + 1}: model: {r}")),
        "flags": {str(t): str(v) for t, v in sorted(flags.items())},
        "position": None if item.get("position") is None else _text_value(item["position"], fail),
        "rubric": None if item.get("rubric") is None else _text_value(item["rubric"], fail),
    }


def _models(models: list[dict[str, Any]], fail: Any) -> list[dict[str, Any]]:
    """The server stores positions and rubrics as lists paired with the models by order, each value once:
    a gap before a later value, or a value twice, cannot be stored as written."""
    names = [m["model"] for m in models]
    if len(set(names)) != len(names):
        raise fail("a model is listed twice")
    for part in ("position", "rubric"):
        given = [m[part] for m in models]
        filled = [v for v in given if v is not None]
        if given[: len(filled)] != filled:
            raise fail(f"a model without a {part} comes before one with a {part}: the server pairs them by order")
        if len(set(filled)) != len(filled):
            raise fail(f"two models share one {part}: the server keeps each {part} once, so they cannot pair")
    return models


def _labels(value: Any, fail: Any) -> dict[str, int | str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fail(f"labels map a label to a version number or `{CURRENT}` (this file's content)")
    labels: dict[str, int | str] = {}
    for name, version in value.items():
        if not isinstance(name, str) or not LABEL.match(name) or name == "latest":
            raise fail(f"{name!r} is no label name (a lowercase letter, then a-z, 0-9, _ or -; not latest)")
        if version != CURRENT and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
            raise fail(f"{name}: a version number (1 or more) or `{CURRENT}`")
        labels[name] = version
    return labels
