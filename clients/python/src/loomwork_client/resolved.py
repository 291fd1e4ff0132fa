"""`Resolved`: one artifact's config at a version, and what an agent does with it (render, tool formats, call
arguments)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from loomwork_client.errors import MissingVariables, NotApplicable

# The same pattern the server reads {{variables}} with (engine/sections.py).
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}")
REASONING_EFFORTS = frozenset({"minimal", "low", "medium", "high"})


@dataclass(frozen=True)
class Resolved:
    """The resolve answer. `stale` is True when it was served without the server's word (the server could not be
    reached): `source` says from where ("server", "memory", "disk" or "fallback") and `age` how old it is."""

    id: str
    kind: str
    version: int
    label: str | None
    etag: str
    config: dict[str, Any]
    stale: bool = False
    # When the server last gave or confirmed this answer (time.time()); not part of equality.
    fetched_at: float = field(default=0.0, compare=False)
    source: str = field(default="server", compare=False)

    @property
    def age(self) -> float:
        """Seconds since the server last gave or confirmed this answer (0 for a fallback, which it never did)."""
        return max(0.0, time.time() - self.fetched_at) if self.fetched_at else 0.0

    @property
    def name(self) -> str | None:
        name = self.config.get("name")
        return name if isinstance(name, str) else None

    def render(self, **variables: Any) -> str:
        """A persona's instructions with every {{variable}} filled in (values through str()); raises
        MissingVariables naming each one not given. Extra variables are ignored."""
        text = self.config.get("instructions")
        if not isinstance(text, str):
            raise NotApplicable(f"render: this {self.kind} {self._what()} has no instructions text to fill in.")
        missing = list(dict.fromkeys(name for name in VARIABLE.findall(text) if name not in variables))
        if missing:
            raise MissingVariables(
                f"render: no value for {', '.join(missing)} (the instructions of {self.kind} {self._what()} use "
                + ", ".join(dict.fromkeys(VARIABLE.findall(text)))
                + ")."
            )
        return VARIABLE.sub(lambda match: str(variables[match.group(1)]), text)

    def openai_tool(self) -> dict[str, Any]:
        """A tool as OpenAI's function tool: `{"type": "function", "function": {name, description, parameters}}`."""
        function = self._function()
        return {"type": "function", "function": function}

    def anthropic_tool(self) -> dict[str, Any]:
        """A tool as Anthropic's: `{name, description, input_schema}`."""
        function = self._function()
        return {
            "name": function["name"],
            "description": function["description"],
            "input_schema": function["parameters"],
        }

    def openai_kwargs(self) -> dict[str, Any]:
        """An invocation as keyword arguments of an OpenAI-compatible chat call (never the key):
        `model` (the model flagged invocation_role primary, else the first), `temperature` when the
        temperature level is a number from 0 to 2, `reasoning_effort` when the reasoning level is minimal, low,
        medium or high. Other levels (e.g. "low" as a temperature) are names for people and are left out."""
        if self.kind != "invocation":
            raise NotApplicable(f"openai_kwargs: {self.kind} {self._what()} is not an invocation.")
        models = [m for m in self.config.get("models") or [] if isinstance(m, dict) and m.get("model")]
        if not models:
            raise NotApplicable(f"openai_kwargs: invocation {self._what()} names no model.")
        primary = next((m for m in models if (m.get("flags") or {}).get("invocation_role") == "primary"), models[0])
        kwargs: dict[str, Any] = {"model": str(primary["model"])}
        temperature = _number(self.config.get("temperature_level"))
        if temperature is not None and 0 <= temperature <= 2:
            kwargs["temperature"] = temperature
        reasoning = str(self.config.get("reasoning_level") or "").strip().lower()
        if reasoning in REASONING_EFFORTS:
            kwargs["reasoning_effort"] = reasoning
        return kwargs

    def openai_client_kwargs(self) -> dict[str, Any]:
        """An invocation's endpoint as `base_url` for an OpenAI-compatible client; the key is masked in resolve
        answers, so the caller brings its own."""
        if self.kind != "invocation":
            raise NotApplicable(f"openai_client_kwargs: {self.kind} {self._what()} is not an invocation.")
        endpoint = self.config.get("endpoint")
        return {"base_url": endpoint} if endpoint else {}

    def _function(self) -> dict[str, Any]:
        function = self.config.get("function")
        if self.kind != "tool" or not isinstance(function, dict):
            raise NotApplicable(f"Tool formats: {self.kind} {self._what()} is not a tool with a function.")
        return {
            "name": function.get("name") or "",
            "description": function.get("description") or "",
            "parameters": function.get("parameters") or {"type": "object", "properties": {}},
        }

    def _what(self) -> str:
        return repr(self.name or self.id)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
