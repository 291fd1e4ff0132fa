"""Resource kinds: how a value of each kind is validated, normalised, stored and shown.

Text kinds trim and bound their text; special kinds (color, icon, flag) add their
own rules. The normalised, stored form is what dedupe compares.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from loomwork.resources.svg import SvgRejected, sanitize_svg
from loomwork.urlsafety import origin_of

MAX_TEXT_CHARS = 10_000


class RejectedValue(ValueError):
    """A value a resource kind will not take; str() is the reason, phrased to follow a field name."""


# Invisible characters that make look-alikes ("A\u200bda", "Ada\u202eevil") and carry no meaning in a value:
# zero-width spaces and joiners-of-nothing, the byte-order mark, and every bidirectional control.
_ZERO_WIDTH = "\u200b\u2060\ufeff\u180e"
_BIDI_CONTROLS = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_STRIPPED = re.compile(f"[{_ZERO_WIDTH}{_BIDI_CONTROLS}]")
# ZWNJ and ZWJ shape Persian, Indic scripts and emoji sequences: kept between two non-ASCII characters,
# stripped anywhere else (where they only hide a difference, as in "A\u200dda").
_JOINER_BESIDE_ASCII = re.compile(
    "(?<=[\x00-\x7f])[\u200c\u200d]|[\u200c\u200d](?=[\x00-\x7f])|^[\u200c\u200d]|[\u200c\u200d]$"
)


def clean_text(text: str) -> str:
    """One spelling per visible text: zero-width and bidi controls removed, then Unicode NFC (composed accents).
    Any other format character (category Cf: invisible operators, tags, soft hyphens...) is refused."""
    if text.isascii():  # most values: no format character, and already NFC (a bulk create cleans thousands)
        return text
    text = _JOINER_BESIDE_ASCII.sub("", _STRIPPED.sub("", text))
    for char in text:
        if unicodedata.category(char) == "Cf" and char not in "\u200c\u200d":
            name = unicodedata.name(char, "a format character")
            raise RejectedValue(f"must not contain the invisible character U+{ord(char):04X} ({name})")
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class ResourceKind:
    name: str
    plural: str
    description: str = ""

    def normalise(self, raw: Any) -> Any:
        if not isinstance(raw, str):
            raise RejectedValue("must be a string")
        text = clean_text(raw).strip()
        if not text:
            raise RejectedValue("must not be empty")
        if len(text) > MAX_TEXT_CHARS:
            raise RejectedValue(f"must be at most {MAX_TEXT_CHARS:,} characters")
        return text

    # Fields of the value that hold the id of another resource, and that resource's kind.
    references: tuple[tuple[str, str], ...] = ()
    # A CSV cell names the resource by id instead of spelling its value (keys: the secret never leaves).
    cell_by_id: ClassVar[bool] = False
    # The value holds a secret: it is stored only as a resource (encrypted), never in a draft's journal.
    sensitive: ClassVar[bool] = False
    # Values are picked from a seeded catalog (flags), not written freely.
    catalog_choice: ClassVar[bool] = False
    # A value entered by a person is bound to the origin of the URL in this resource kind's slot of the same form
    # (a key to its endpoint): `engine.form.bind_to_origin`.
    bound_to: ClassVar[str | None] = None

    def dump(self, value: Any) -> str:
        # A text kind's value is already its stored text.
        return str(value)

    def dedupe_text(self, value: Any) -> str:
        """What the unique (group, kind, hash) index compares: the stored form, unless that is not stable."""
        return self.dump(value)

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


class StructuredKind(ResourceKind):
    """A JSON object: stored as canonical JSON (so equal objects dedupe), spelled as that JSON in CSV."""

    def dump(self, value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    def load(self, stored: str) -> Any:
        return json.loads(stored)

    @staticmethod
    def as_json(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def label(self, value: Any) -> str:
        return self.as_json(self.public(value))

    def to_cell(self, value: Any) -> str:
        return self.as_json(self.public(value))

    def from_cell(self, cell: str) -> Any:
        try:
            return json.loads(cell)
        except ValueError:
            raise RejectedValue(f"must be a JSON object ({self.name})") from None

    @property
    def python_type(self) -> Any:
        return dict[str, Any]

    @staticmethod
    def _fields(raw: Any, allowed: set[str], required: set[str]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise RejectedValue(f"must be an object with {', '.join(sorted(required))}")
        unknown = set(raw) - allowed
        if unknown:
            raise RejectedValue(
                f"has an unknown field {sorted(unknown)[0]!r}; the fields are {', '.join(sorted(allowed))}"
            )
        missing = [f for f in sorted(required) if raw.get(f) is None]
        if missing:
            raise RejectedValue(f"needs {missing[0]}")
        return raw


_WORD = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _short_text(raw: Any, what: str, limit: int = 200, empty: bool = False, clean: bool = True) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str):
        raise RejectedValue(f"{what} must be a string")
    try:
        text = (clean_text(raw) if clean else raw).strip()
    except RejectedValue as exc:
        raise RejectedValue(f"{what} {exc}") from None
    if (not text and not empty) or len(text) > limit:
        raise RejectedValue(f"{what} must be {'' if empty else 'non-empty '}text of at most {limit:,} characters")
    return text


class FlagKind(StructuredKind):
    """A catalog option `{type, value}`; an artifact holds at most one flag per type."""

    catalog_choice: ClassVar[bool] = True

    def normalise(self, raw: Any) -> Any:
        raw = self._fields(raw, {"type", "value"}, {"type", "value"})
        if not isinstance(raw["type"], str) or not _WORD.fullmatch(raw["type"]):
            raise RejectedValue("type must be a lowercase word of letters, digits and _ (at most 64)")
        value = raw["value"]
        if isinstance(value, bool):
            value = "true" if value else "false"
        return {"type": raw["type"], "value": _short_text(value, "value")}

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
    def value_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"type": {"type": "string"}, "value": {"type": "string"}},
            "required": ["type", "value"],
        }


ARG_TYPES = ("string", "integer", "number", "boolean", "array", "object")
_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _typed_field(raw: dict[str, Any]) -> tuple[str, str, str]:
    name = raw["name"]
    if not isinstance(name, str) or not _ARG_NAME.fullmatch(name.strip()):
        raise RejectedValue("name must start with a letter or _ and hold only letters, digits, _, . or - (at most 64)")
    if raw["type"] not in ARG_TYPES:
        raise RejectedValue(f"type must be one of {', '.join(ARG_TYPES)}")
    return name.strip(), raw["type"], _short_text(raw.get("description") or "", "description", 2000, empty=True)


class ArgKind(StructuredKind):
    """A tool argument `{name, type, description, required, default}`; the default must have the type."""

    def normalise(self, raw: Any) -> Any:
        raw = self._fields(raw, {"name", "type", "description", "required", "default"}, {"name", "type"})
        name, arg_type, description = _typed_field(raw)
        required = raw.get("required", False)
        if not isinstance(required, bool):
            raise RejectedValue("required must be true or false")
        default = raw.get("default")
        if default is not None:
            is_bool = isinstance(default, bool)
            if not isinstance(default, _JSON_TYPES[arg_type]) or (is_bool and arg_type != "boolean"):
                raise RejectedValue(f"default must be of type {arg_type}")
            if len(json.dumps(default)) > MAX_TEXT_CHARS:
                raise RejectedValue(f"default must be at most {MAX_TEXT_CHARS:,} characters as JSON")
        return {"name": name, "type": arg_type, "description": description, "required": required, "default": default}

    def label(self, value: Any) -> str:
        return f"{value['name']}: {value['type']}{'' if value['required'] else ' (optional)'}"

    @property
    def value_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["name", "type"],
            "properties": {
                "name": {"type": "string"},
                "type": {"enum": list(ARG_TYPES)},
                "description": {"type": "string"},
                "required": {"type": "boolean"},
                "default": {},
            },
        }


class ArgsOutputKind(StructuredKind):
    """One field of a tool's output `{name, type, description}`."""

    def normalise(self, raw: Any) -> Any:
        raw = self._fields(raw, {"name", "type", "description"}, {"name", "type"})
        name, arg_type, description = _typed_field(raw)
        return {"name": name, "type": arg_type, "description": description}

    def label(self, value: Any) -> str:
        return f"{value['name']}: {value['type']}"

    @property
    def value_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["name", "type"],
            "properties": {
                "name": {"type": "string"},
                "type": {"enum": list(ARG_TYPES)},
                "description": {"type": "string"},
            },
        }


@dataclass(frozen=True)
class ReferenceKind(StructuredKind):
    """An object that points at other resources by id (`{arg_id, position}`, `{model_id, flag_id}`).

    A referenced resource may also be given by value (`{"arg": {...}}`, `{"model": "gpt-4o"}`):
    the resource service creates-or-finds it and puts its id in place. That is how a CSV cell
    (which spells values, since ids differ between databases) comes back in.
    """

    extra: tuple[str, ...] = ()  # plain fields besides the references (position)

    def normalise(self, raw: Any) -> Any:
        by_value = {field.removesuffix("_id") for field, _kind in self.references}
        allowed = {field for field, _kind in self.references} | by_value | set(self.extra)
        raw = self._fields(raw, allowed, set(self.extra))
        value: dict[str, Any] = {}
        for field, _kind in self.references:
            inline = field.removesuffix("_id")
            if raw.get(field) is not None:
                value[field] = _uuid_text(raw[field], field)
            elif raw.get(inline) is not None:
                value[inline] = raw[inline]  # resolved to an id by the resource service
            else:
                raise RejectedValue(f"needs {field}")
        if "position" in self.extra:
            position = raw["position"]
            if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 10_000:
                raise RejectedValue("position must be a whole number from 0 to 10,000")
            value["position"] = position
        return value

    # Resources never change, so the labels of what a reference points at, kept beside the ids
    # when it is made, stay true; they are not part of its identity.
    def dedupe_text(self, value: Any) -> str:
        return self.dump({k: v for k, v in value.items() if k != "labels"})

    def public(self, value: Any) -> Any:
        return {k: v for k, v in value.items() if k != "labels"}

    def label(self, value: Any) -> str:
        labels = value.get("labels", {})
        parts = [labels.get(field, value[field]) for field, _kind in self.references]
        parts += [f"#{value[field]}" for field in self.extra]
        return " · ".join(parts)

    @property
    def value_schema(self) -> dict[str, Any]:
        properties: dict[str, Any] = {field: {"type": "string", "format": "uuid"} for field, _ in self.references}
        properties.update({field: {"type": "integer"} for field in self.extra})
        return {
            "type": "object",
            "properties": properties,
            "required": [field for field, _ in self.references] + list(self.extra),
        }


def _uuid_text(raw: Any, field: str) -> str:
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        raise RejectedValue(f"{field} must be a UUID") from None


MASK = "****"


class KeyKind(StructuredKind):
    """A provider secret `{name, secret, origin?}`: encrypted at rest, shown only as its last four characters,
    and bound to the one origin (`scheme://host:port`) it may be sent to (README, "Provider keys").

    Keys never dedupe: each create makes a new resource. Finding an existing key by name and secret
    would answer "already there" to a right guess of someone's secret (README, "Provider keys"). In CSV a key is named by id with its masked value, so an export never carries a secret.
    """

    cell_by_id: ClassVar[bool] = True
    sensitive: ClassVar[bool] = True
    bound_to: ClassVar[str | None] = "endpoint"

    def normalise(self, raw: Any) -> Any:
        # `unique` comes back only on a value normalised before (a proposal's, when a person accepts it).
        raw = self._fields(raw, {"name", "secret", "unique", "origin"}, {"name", "secret"})
        name = _short_text(raw["name"], "name")
        secret = _short_text(raw["secret"], "secret", 10_000, clean=False)  # a secret is used exactly as given
        if secret.startswith(MASK):
            raise RejectedValue("secret is the masked form of a key; give the whole secret, or select the key by id")
        # A random part, fixed for this value from here on: no two creates meet in the (group, kind, hash)
        # index, yet one value keeps one hash wherever it is planned, read ahead and written.
        unique = raw.get("unique") if isinstance(raw.get("unique"), str) else None
        value = {"name": name, "secret": secret, "unique": unique or uuid.uuid4().hex}
        if raw.get("origin") is not None:
            origin = origin_of(raw["origin"]) if isinstance(raw["origin"], str) else None
            if origin is None:
                raise RejectedValue("origin must be the http or https URL the key may be sent to (scheme://host:port)")
            value["origin"] = origin
        return value

    def dump(self, value: Any) -> str:
        if "secret" in value:  # a new value: only its encrypted form is ever stored
            from loomwork.resources.secrets import box

            plain = value["secret"]
            value = {
                "name": value["name"],
                "last4": plain[-4:] if len(plain) >= 8 else "",
                "ciphertext": box().encrypt(plain),
                **({"origin": value["origin"]} if value.get("origin") else {}),
            }
        return super().dump(value)

    def dedupe_text(self, value: Any) -> str:
        # A stored key is unique by its ciphertext (Fernet tokens never repeat).
        return super().dump({"name": value["name"], "unique": value.get("unique") or value.get("ciphertext")})

    def public(self, value: Any) -> Any:
        shown = {"name": value["name"], "secret": MASK + value.get("last4", "")}
        return {**shown, "origin": value["origin"]} if value.get("origin") else shown

    def label(self, value: Any) -> str:
        return f"{value['name']} ({MASK}{value.get('last4', '')})"

    @property
    def value_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["name", "secret"],
            "properties": {
                "name": {"type": "string"},
                "secret": {"type": "string", "writeOnly": True},
                "origin": {
                    "type": "string",
                    "description": "The only origin (scheme://host:port) the key is sent to; by default the origin "
                    "of the endpoint it is entered with.",
                },
            },
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
        _text("permission", "permissions", "A permission a tool needs."),
        ArgKind("arg", "args", "A tool argument {name, type, description, required, default}."),
        ReferenceKind(
            "arg_position",
            "arg_positions",
            "Where an argument goes: {arg_id, position}.",
            references=(("arg_id", "arg"),),
            extra=("position",),
        ),
        ArgsOutputKind("args_output", "args_outputs", "A field of a tool's output {name, type, description}."),
        _text("model", "models", "A model name, such as gpt-4o."),
        ReferenceKind(
            "model_flag",
            "model_flags",
            "A flag on a model: {model_id, flag_id}, such as its role in an eval.",
            references=(("model_id", "model"), ("flag_id", "flag")),
        ),
        _text("model_position", "model_positions", "Where a model stands in a comparison."),
        _text("model_rubric", "model_rubrics", "A rubric a model's answers are judged by."),
        _text("value", "values", "A value an invocation carries."),
        KeyKind("key", "keys", "A model provider's secret {name, secret}: encrypted at rest, shown masked."),
        _text("endpoint", "endpoints", "A provider endpoint URL or name."),
        _text("modality", "modalities", "A modality: text, image, audio, ..."),
        _text("temperature_level", "temperature_levels", "A sampling temperature level."),
        _text("pricing", "pricings", "A pricing tier."),
        _text("reasoning_level", "reasoning_levels", "A reasoning effort level."),
        _text("quality", "qualities", "A quality level."),
    )
}
