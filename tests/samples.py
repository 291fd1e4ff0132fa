"""One valid value per resource kind, shared by the tests that must cover every kind."""

from __future__ import annotations

from typing import Any

SECRET = "sk-live-Hq4Wn7Zt2Kc9Vb5Xm3-tail"

# One valid value per resource kind. Reference kinds give what they point at by value, which the
# service creates-or-finds: so each sample stands alone.
SAMPLES: dict[str, Any] = {
    "name": "Research assistant",
    "description": "Answers questions about the archive",
    "color": "#1A2B3C",
    "icon": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><circle cx="4" cy="4" r="3"/></svg>',
    "instruction": "Cite a source for every claim about {{topic}}.",
    "flag": {"type": "tier", "value": "gold"},
    "example": "Q: Who wrote it? A: The archive says...",
    "department": "Research",
    "parameter_field": "topic",
    "voice": "alloy",
    "scenario": "Customer escalation",
    "permission": "files:read",
    "arg": {"name": "query", "type": "string", "description": "What to look for", "required": True},
    "arg_position": {"arg": {"name": "limit", "type": "integer", "default": 10}, "position": 2},
    "args_output": {"name": "hits", "type": "array", "description": "Matching documents"},
    "model": "gpt-4o-mini",
    "model_flag": {"model": "claude-sonnet", "flag": {"type": "eval_role", "value": "judge"}},
    "model_position": "left",
    "model_rubric": "Faithful to the sources",
    "value": "42",
    "key": {"name": "openai-prod", "secret": SECRET},
    "endpoint": "https://api.openai.com/v1",
    "modality": "text",
    "temperature_level": "low",
    "pricing": "standard",
    "reasoning_level": "high",
    "quality": "production",
}
