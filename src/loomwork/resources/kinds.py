"""Resource kinds: how a value of each kind is validated, normalised, stored and shown.

Text kinds trim and bound their text; special kinds (color, icon, flag) add their
own rules. The normalised, stored form is what dedupe compares.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from loomwork.resources.svg import SvgRejected, sanitize_svg

MAX_TEXT_CHARS = 10_000


class RejectedValue(ValueError):
    """A value a resource kind will not take; str() is the reason, phrased to follow a field name."""


@dataclass(frozen=True)
class ResourceKind:
    name: str
    plural: str
    description: str = ""

    def normalise(self, raw: Any) -> Any:
        if not isinstance(raw, str):
            raise RejectedValue("must be a string")
        text = raw.strip()
        if not text:
            raise RejectedValue("must not be empty")
        if len(text) > MAX_TEXT_CHARS:
            raise RejectedValue(f"must be at most {MAX_TEXT_CHARS:,} characters")
        return text

    # The stored text is what the unique (group, kind, hash) index dedupes on.
    def dump(self, value: Any) -> str:
        return value

    def load(self, stored: str) -> Any:
        return stored

    def public(self, value: Any) -> Any:
        """The value as responses show it."""
        return value

    def label(self, value: Any) -> str:
        return str(value)

    # CSV cells: text kinds are their text; structured kinds say how they spell themselves.
    def to_cell(self, value: Any) -> str:
        return self.label(value)

    def from_cell(self, cell: str) -> Any:
        return cell

    @property
    def value_schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS}

    @property
    def python_type(self) -> Any:
        """The request type of a value; the kind's own rules run after, so errors name the item."""
        return str


_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")


class ColorKind(ResourceKind):
    def normalise(self, raw: Any) -> Any:
        text = super().normalise(raw)
        if not _HEX_COLOR.fullmatch(text):
            raise RejectedValue("must be a hex color: #rgb, #rrggbb or #rrggbbaa")
        text = text.lower()
        if len(text) == 4:  # #rgb -> #rrggbb, so equal colors dedupe
            text = "#" + "".join(c * 2 for c in text[1:])
        return text

    @property
    def value_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": "^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$"}


class IconKind(ResourceKind):
    def normalise(self, raw: Any) -> Any:
        if not isinstance(raw, str) or not raw.strip():
            raise RejectedValue("must be SVG markup")
        try:
            return sanitize_svg(raw)
        except SvgRejected as exc:
            raise RejectedValue(str(exc)) from None

    @property
    def value_schema(self) -> dict[str, Any]:
        return {"type": "string", "description": "SVG markup, at most 64 KiB; sanitized on the way in"}


_FLAG_TYPE = re.compile(r"[a-z][a-z0-9_]{0,63}")


class FlagKind(ResourceKind):
    """A catalog option `{type, value}`; an artifact holds at most one flag per type."""

    def normalise(self, raw: Any) -> Any:
        if not isinstance(raw, dict) or set(raw) - {"type", "value"}:
            raise RejectedValue("must be an object {type, value}")
        flag_type, value = raw.get("type"), raw.get("value")
        if not isinstance(flag_type, str) or not _FLAG_TYPE.fullmatch(flag_type):
            raise RejectedValue("type must be a lowercase word of letters, digits and _ (at most 64)")
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise RejectedValue("value must be a non-empty string of at most 200 characters")
        return {"type": flag_type, "value": value.strip()}

    def dump(self, value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    def load(self, stored: str) -> Any:
        return json.loads(stored)

    def label(self, value: Any) -> str:
        return f"{value['type']}: {value['value']}"

    def to_cell(self, value: Any) -> str:
        return f"{value['type']}={value['value']}"

    def from_cell(self, cell: str) -> Any:
        flag_type, sep, value = cell.partition("=")
        if not sep:
            raise RejectedValue("must be written type=value")
        return {"type": flag_type.strip(), "value": value}

    @property
    def python_type(self) -> Any:
        return dict[str, Any]

    @property
    def value_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"type": {"type": "string"}, "value": {"type": "string"}},
            "required": ["type", "value"],
        }


def _text(name: str, plural: str, description: str) -> ResourceKind:
    return ResourceKind(name, plural, description)


RESOURCE_KINDS: dict[str, ResourceKind] = {
    kind.name: kind
    for kind in (
        _text("name", "names", "A display name."),
        _text("description", "descriptions", "A short description."),
        ColorKind("color", "colors", "A hex color, stored lowercase as #rrggbb or #rrggbbaa."),
        IconKind("icon", "icons", "An SVG icon, sanitized by an allowlist of elements and attributes."),
        _text("instruction", "instructions", "Instruction text; {{variables}} name parameters."),
        FlagKind("flag", "flags", "A catalog option {type, value}, such as persona_active: true."),
        _text("example", "examples", "An example text."),
        _text("department", "departments", "A department name."),
        _text("parameter_field", "parameter_fields", "A parameter field name, matched by {{name}} in instructions."),
        _text("voice", "voices", "A voice name or identifier."),
        _text("scenario", "scenarios", "A scenario."),
    )
}
