"""The sample project `loomwork seed-demo` loads: the AI agents of a small online shop's support team.

It shows what Loomwork is for, so its text is written for people: personas with real instructions and
`{{variables}}`, tools with real argument schemas, evals whose models, roles, positions and rubrics agree,
and invocations with endpoints, models and temperatures that make sense. Everything goes through the
engine's own services, as the API's requests would (the kinds' request models check every item first),
so the sample is valid by the same rules as anything a person makes: bulk create, updates with a
message, labels, and one agent's proposal waiting in the review queue.

The synthetic bulk data of the benchmarks is `demo.py` (`seed-demo --bulk`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loomwork import groups
from loomwork.db.database import Database
from loomwork.db.scoping import in_group
from loomwork.engine import artifacts, bulk, drafts, revisions
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.repository import ArtifactRow
from loomwork.engine.schemas import build_draft_schemas, build_schemas
from loomwork.identity import service as identity
from loomwork.identity.models import Group, Profile
from loomwork.kinds.eval import EVAL
from loomwork.kinds.invocation import INVOCATION
from loomwork.kinds.persona import PERSONA
from loomwork.kinds.tool import TOOL
from loomwork.principal import Principal, Role

LEAD, EDITOR, AGENT = "Ada Okafor", "Grace Lin", "Triage assistant"


def _icon(path: str, color: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><rect width="24" height="24" rx="6" '
        f'fill="{color}"/><path d="{path}" fill="none" stroke="#fff" stroke-width="2" stroke-linecap="round" '
        'stroke-linejoin="round"/></svg>'
    )


# Simple line drawings on the persona's color: a speech bubble, a box, a coin, a wrench, ...
BUBBLE, BOX, COIN = "M6 8h12v7H10l-4 3z", "M5 9l7-4 7 4v7l-7 4-7-4zM5 9l7 4 7-4M12 13v7", "M12 5v14M8 9h6a2 2 0 010 4H9"
WRENCH, FLAG, BOOK = (
    "M14 6a4 4 0 00-5 5l-4 4 3 3 4-4a4 4 0 005-5l-2 2-2-1-1-2z",
    "M7 19V5h9l-2 3 2 3H7",
    "M6 5h9v14H6zM9 9h4",
)
STAR, GLOBE, BELL = (
    "M12 5l2 4 4 1-3 3 1 4-4-2-4 2 1-4-3-3 4-1z",
    "M5 12h14M12 5c3 3 3 11 0 14M12 5c-3 3-3 11 0 14",
    "M7 16h10l-1-2v-4a4 4 0 00-8 0v4zM11 19h2",
)

PERSONAS: list[dict[str, Any]] = [
    {
        "name": "Front desk",
        "description": "Greets every customer, finds out what they need and hands them to the right colleague.",
        "color": "#2456c9",
        "icon": _icon(BUBBLE, "#2456c9"),
        "instructions": "You are the first contact at {{company}}. Greet {{customer_name}} by name, ask one "
        "question to understand the request, then route it: orders, returns, billing or technical help. "
        "Never promise a refund or a delivery date yourself.",
        "parameter_fields": ["company", "customer_name"],
        "examples": ["Hi Maya, thanks for writing to us. Is this about an order you placed, or something else?"],
        "departments": ["Customer support"],
        "voices": ["Warm", "Concise"],
        "scenarios": ["First message of a new conversation"],
    },
    {
        "name": "Order tracker",
        "description": "Answers 'where is my order?' from the carrier's tracking data.",
        "color": "#0f766e",
        "icon": _icon(BOX, "#0f766e"),
        "instructions": "Look up order {{order_number}} with the order lookup tool before you answer. Tell "
        "{{customer_name}} where the parcel is and when it should arrive, in the customer's own words, "
        "and offer to set a reminder if it is late by more than {{late_after_days}} days.",
        "parameter_fields": ["order_number", "customer_name", "late_after_days"],
        "examples": [
            "Your order #48213 left our warehouse on Monday and is with DHL; it should reach you on Thursday.",
            "The carrier reports a delay in Lyon. I have asked them for an update and will write by tomorrow noon.",
        ],
        "departments": ["Orders and shipping"],
        "voices": ["Reassuring"],
        "scenarios": ["Parcel is late", "Tracking shows delivered but nothing arrived"],
    },
    {
        "name": "Returns specialist",
        "description": "Explains the returns policy and starts returns and refunds within it.",
        "color": "#b45309",
        "icon": _icon(COIN, "#b45309"),
        "instructions": "Our returns window is {{return_window_days}} days from delivery. Check the order date "
        "first. Inside the window, start the return and explain the next steps; outside it, say so kindly "
        "and offer store credit of up to {{max_credit}}. Refunds above that need a person's approval.",
        "parameter_fields": ["return_window_days", "max_credit"],
        "examples": ["I have started the return for the blue rain jacket. Print the label we just emailed you."],
        "departments": ["Billing", "Orders and shipping"],
        "voices": ["Warm", "Precise"],
        "scenarios": ["Item arrived damaged", "Customer changed their mind"],
    },
    {
        "name": "Billing explainer",
        "description": "Makes invoices, charges and payment failures understandable.",
        "color": "#7c3aed",
        "icon": _icon(COIN, "#7c3aed"),
        "instructions": "Explain each line of invoice {{invoice_number}} in plain words. If a payment failed, "
        "say which step failed and what {{customer_name}} can do next. Never ask for a full card number.",
        "parameter_fields": ["invoice_number", "customer_name"],
        "examples": ["The second charge of 12.90 EUR is the express shipping you chose at checkout."],
        "departments": ["Billing"],
        "voices": ["Precise", "Patient"],
        "scenarios": ["Charged twice", "Card declined"],
    },
    {
        "name": "Technical troubleshooter",
        "description": "Walks customers through fixing the shop's app and their account, one step at a time.",
        "color": "#0369a1",
        "icon": _icon(WRENCH, "#0369a1"),
        "instructions": "Ask which device and app version {{customer_name}} uses. Give one step at a time and "
        "wait for the result. After {{max_steps}} steps without progress, open a ticket for the technical team "
        "with everything you tried.",
        "parameter_fields": ["customer_name", "max_steps"],
        "examples": ["Let's try one thing first: sign out of the app, then sign in again. Did that help?"],
        "departments": ["Technical support"],
        "voices": ["Patient", "Concise"],
        "scenarios": ["Cannot sign in", "App crashes at checkout"],
    },
    {
        "name": "Escalation manager",
        "description": "Takes over conversations that went wrong and agrees a way forward.",
        "color": "#b91c1c",
        "icon": _icon(FLAG, "#b91c1c"),
        "instructions": "Read the whole conversation with {{customer_name}} before you write. Acknowledge what "
        "went wrong without blaming a colleague, propose one concrete remedy, and give a date by which "
        "{{owner}} will follow up.",
        "parameter_fields": ["customer_name", "owner"],
        "examples": ["You should not have had to write three times. Here is what I will do today, and by when."],
        "departments": ["Customer support"],
        "voices": ["Calm", "Direct"],
        "scenarios": ["Customer threatens to leave"],
    },
    {
        "name": "Help-centre writer",
        "description": "Turns solved conversations into help-centre articles.",
        "color": "#15803d",
        "icon": _icon(BOOK, "#15803d"),
        "instructions": "Write a help-centre article about {{topic}} for {{audience}}: a title that is a "
        "question, the answer in the first sentence, then numbered steps. No internal names or ticket numbers.",
        "parameter_fields": ["topic", "audience"],
        "examples": ["How do I change my delivery address? You can change it until the order is packed: ..."],
        "departments": ["Knowledge base"],
        "voices": ["Clear"],
        "scenarios": ["A question asked five times this week"],
    },
    {
        "name": "Quality coach",
        "description": "Reviews agents' replies against the team's tone guide and suggests better wording.",
        "color": "#a16207",
        "icon": _icon(STAR, "#a16207"),
        "instructions": "Review the reply below against our tone guide: {{tone_guide}}. Point out at most "
        "three things, each with the sentence and a better version. Praise one thing that worked.",
        "parameter_fields": ["tone_guide"],
        "examples": ["'Unfortunately that is not possible' reads as a wall; try 'Here is what I can do instead'."],
        "departments": ["Quality"],
        "voices": ["Encouraging"],
        "scenarios": ["Weekly review of ten conversations"],
    },
    {
        "name": "Atención al cliente",
        "description": "Answers Spanish-speaking customers with the same rules as the English front desk.",
        "color": "#db2777",
        "icon": _icon(GLOBE, "#db2777"),
        "instructions": "Responde siempre en español a {{customer_name}}, de usted. Sigue las mismas reglas que "
        "el equipo en inglés y pasa la conversación a {{fallback_team}} si el cliente lo pide.",
        "parameter_fields": ["customer_name", "fallback_team"],
        "examples": ["Buenos días, Sra. García. ¿Su consulta es sobre un pedido que ya ha realizado?"],
        "departments": ["Customer support"],
        "voices": ["Warm"],
        "scenarios": ["Customer writes in Spanish"],
    },
    {
        "name": "Outage communicator",
        "description": "Writes status updates for customers while something is broken.",
        "color": "#475569",
        "icon": _icon(BELL, "#475569"),
        "instructions": "Write a status update about {{incident}}: what customers notice, what we are doing, "
        "and when the next update comes ({{next_update}}). Say nothing about causes until they are confirmed.",
        "parameter_fields": ["incident", "next_update"],
        "examples": ["Checkout is slow for some customers. We are on it; next update at 14:30 CET."],
        "departments": ["Incident response"],
        "voices": ["Calm", "Concise"],
        "scenarios": ["Payments provider is down"],
    },
    {
        "name": "Loyalty concierge",
        "description": "Looks after members of the loyalty programme: points, perks and early access.",
        "color": "#9333ea",
        "icon": _icon(STAR, "#9333ea"),
        "instructions": "{{customer_name}} is a {{tier}} member. Mention their points balance only when asked, "
        "and offer the perks of their tier before anything else.",
        "parameter_fields": ["customer_name", "tier"],
        "examples": ["As a Gold member you have free express shipping on this order, already applied."],
        "departments": ["Customer success"],
        "voices": ["Warm", "Upbeat"],
        "scenarios": ["Member asks about points"],
    },
    {
        "name": "Feedback summarizer",
        "description": "Reads a week of conversations and tells the product team what customers asked for.",
        "color": "#0891b2",
        "icon": _icon(BOOK, "#0891b2"),
        "instructions": "Summarise the conversations from {{week}} for the product team: the five most common "
        "requests with how often each came up, one quote each, and anything new since last week.",
        "parameter_fields": ["week"],
        "examples": ["1. Size charts for kids' shoes (34 conversations): 'I never know which size to order.'"],
        "departments": ["Product"],
        "voices": ["Neutral"],
        "scenarios": ["Monday product meeting"],
        "active": False,
    },
]


def _arg(
    name: str, type_: str, description: str, required: bool = True, out: tuple[str, str] | None = None
) -> dict[str, Any]:
    """An argument card; `out` is the (name, type) of an output field the tool returns."""
    card: dict[str, Any] = {"name": name, "type": type_, "description": description, "required": required}
    return card | ({"output": {"name": out[0], "type": out[1]}} if out else {})


TOOLS: list[dict[str, Any]] = [
    {
        "name": "Look up an order",
        "description": "Finds an order by its number and returns its items, status and tracking.",
        "departments": ["Orders and shipping"],
        "instructions": ["Call this before saying anything about an order's status."],
        "permissions": ["orders:read"],
        "args_drafts": [
            _arg("order_number", "string", "The order number, e.g. 48213.", out=("status", "string")),
            _arg("email", "string", "The customer's email, to confirm it is their order.", False),
            {"name": "include_items", "type": "boolean", "description": "Also return the items.", "required": False},
        ],
    },
    {
        "name": "Refund an order",
        "description": "Refunds all or part of an order to the original payment method.",
        "departments": ["Billing"],
        "instructions": ["Only within the returns policy; refunds over the limit need a person's approval."],
        "permissions": ["orders:read", "payments:refund"],
        "args_drafts": [
            _arg("order_number", "string", "The order to refund.", out=("refund_id", "string")),
            _arg("amount", "number", "How much to refund, in the order's currency.", out=("refunded", "number")),
            _arg("reason", "string", "Why, in a sentence the customer may read."),
        ],
    },
    {
        "name": "Track a parcel",
        "description": "Asks the carrier where a parcel is.",
        "departments": ["Orders and shipping"],
        "permissions": ["carriers:read"],
        "args_drafts": [
            _arg("carrier", "string", "dhl, ups or colissimo.", out=("location", "string")),
            _arg("tracking_number", "string", "As printed on the label.", out=("eta", "string")),
        ],
    },
    {
        "name": "Weather at an address",
        "description": "The forecast where a parcel is going, to warn about delays.",
        "departments": ["Orders and shipping"],
        "permissions": ["weather:read"],
        "args_drafts": [
            _arg("city", "string", "City name.", out=("forecast", "string")),
            _arg("days", "integer", "How many days ahead, 1 to 5.", False),
        ],
    },
    {
        "name": "Book a callback",
        "description": "Books a phone call with a person from the team in the customer's calendar.",
        "departments": ["Customer support"],
        "instructions": ["Offer two times, never more; confirm the time zone."],
        "permissions": ["calendar:write"],
        "args_drafts": [
            _arg("phone", "string", "In international format, +44 ...", out=("booking_id", "string")),
            _arg("starts_at", "string", "ISO 8601 date and time.", out=("confirmed_at", "string")),
            _arg("topic", "string", "What the call is about.", False),
        ],
    },
    {
        "name": "Open a ticket",
        "description": "Creates a ticket for a team when the conversation needs a person.",
        "departments": ["Technical support", "Customer support"],
        "permissions": ["tickets:write"],
        "args_drafts": [
            _arg("team", "string", "technical, billing or shipping.", out=("ticket_id", "string")),
            _arg("summary", "string", "One line."),
            _arg("details", "string", "Everything tried so far."),
            {"name": "urgent", "type": "boolean", "description": "Page the on-call person.", "required": False},
        ],
    },
]

# Models the evals compare and the invocations call.
GPT, MINI, CLAUDE, HAIKU, LLAMA = "gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "claude-haiku-4", "llama3.1:8b"


def _roles(flag: str, **by_model: str) -> list[dict[str, Any]]:
    return [{"model": model, "flag": {"type": flag, "value": role}} for model, role in by_model.items()]


def _panel(*seats: tuple[str, str, str, str]) -> dict[str, Any]:
    """An eval's models, each with its role, its position and its rubric, in one order (resolve pairs them)."""
    return {
        "models": [model for model, _role, _position, _rubric in seats],
        "model_flags": _roles("eval_role", **{model: role for model, role, _position, _rubric in seats}),
        "model_positions": [position for _model, _role, position, _rubric in seats],
        "model_rubrics": [rubric for _model, _role, _position, rubric in seats],
    }


EVALS: list[dict[str, Any]] = [
    {
        "name": "Order status answers",
        "description": "Does the reply give the right status and date from the lookup, and nothing invented?",
        "departments": ["Orders and shipping"],
        **_panel(
            (MINI, "candidate", "Answer A", "Gives the status and date exactly as the order lookup returned them"),
            (GPT, "baseline", "Answer B", "The reference reply: the same facts, in at most three sentences"),
            (CLAUDE, "judge", "Judge", "Prefers the answer that invents no date, carrier or promise, then the shorter"),
        ),
    },
    {
        "name": "Refund policy compliance",
        "description": "Does the returns specialist stay inside the policy and escalate what it cannot grant?",
        "departments": ["Billing"],
        **_panel(
            (HAIKU, "candidate", "Answer A", "Refuses refunds outside the returns window, kindly"),
            (CLAUDE, "baseline", "Answer B", "The reference reply of the current production model"),
            (GPT, "judge", "Judge", "Fails any answer that grants a refund above the limit without a person"),
        ),
    },
    {
        "name": "Tone of voice",
        "description": "Do replies sound like the team's tone guide: warm, direct, no jargon?",
        "departments": ["Quality"],
        **_panel(
            (MINI, "candidate", "Answer A", "Addresses the customer by name and ends with a clear next step"),
            (HAIKU, "candidate", "Answer B", "Same prompt and tone guide as answer A"),
            (GPT, "judge", "Judge", "Scores warmth, directness and jargon from 1 to 5 each, quoting the reply"),
        ),
    },
    {
        "name": "Spanish replies",
        "description": "Are Spanish answers correct, formal (usted) and as complete as the English ones?",
        "departments": ["Customer support"],
        **_panel(
            (LLAMA, "candidate", "Answer A", "Uses usted throughout and keeps every fact of the English answer"),
            (GPT, "baseline", "Answer B", "The reference: GPT-4o translating the English front desk's reply"),
            (CLAUDE, "judge", "Judge", "A native speaker's judgement: correct, formal, complete"),
        ),
        "active": False,
    },
]

INVOCATIONS: list[dict[str, Any]] = [
    {
        "name": "Support replies (production)",
        "description": "The model behind every customer-facing reply.",
        "departments": ["Customer support"],
        "endpoint": "https://api.openai.com/v1",
        "key": {"name": "OpenAI (support team)", "secret": "sk-sample-not-a-real-key-0001"},
        "model_flags": _roles("invocation_role", **{GPT: "primary", MINI: "fallback"}),
        "temperature_level": "0.3",
        "reasoning_level": "low",
        "pricing": "Pay as you go",
        "modalities": ["text"],
        "qualities": ["Production"],
    },
    {
        "name": "Quality reviews",
        "description": "Slower and more careful: the quality coach and the evals' judge.",
        "departments": ["Quality"],
        "endpoint": "https://api.anthropic.com/v1",
        "key": {"name": "Anthropic (quality)", "secret": "sk-sample-not-a-real-key-0002"},
        "model_flags": _roles("invocation_role", **{CLAUDE: "primary", HAIKU: "fallback"}),
        "temperature_level": "0",
        "reasoning_level": "high",
        "pricing": "Pay as you go",
        "modalities": ["text"],
        "qualities": ["Best"],
    },
    {
        "name": "Voice line",
        "description": "Answers the phone line with speech in and speech out.",
        "departments": ["Customer support"],
        "endpoint": "https://api.openai.com/v1",
        "key": {"name": "OpenAI (voice line)", "secret": "sk-sample-not-a-real-key-0003"},
        "model_flags": _roles("invocation_role", **{GPT: "primary"}),
        "temperature_level": "0.6",
        "reasoning_level": "minimal",
        "pricing": "Pay as you go",
        "modalities": ["text", "audio"],
        "voices": ["alloy"],
        "qualities": ["Production"],
    },
    {
        "name": "Local drafts",
        "description": "A model on the team's own machine, for drafting help-centre articles offline.",
        "departments": ["Knowledge base"],
        "endpoint": "http://localhost:11434/v1",
        "key": {"name": "Ollama (no key needed)", "secret": "ollama-needs-none"},
        "model_flags": _roles("invocation_role", **{LLAMA: "primary"}),
        "temperature_level": "0.7",
        "reasoning_level": "medium",
        "pricing": "Free (own hardware)",
        "modalities": ["text"],
        "qualities": ["Draft"],
    },
]

# A short history: each change is a new version, written by a person with a message.
CHANGES: list[tuple[ArtifactKind, str, dict[str, Any], str]] = [
    (
        PERSONA,
        "Order tracker",
        {"voices": ["Reassuring", "Concise"]},
        "Customers found the long replies hard to read on a phone.",
    ),
    (
        PERSONA,
        "Returns specialist",
        {
            "instructions": "Our returns window is {{return_window_days}} days from delivery. Check the order "
            "date first. Inside the window, start the return with the refund tool and explain the next steps; "
            "outside it, say so kindly and offer store credit of up to {{max_credit}}. Refunds above that "
            "need a person's approval."
        },
        "Use the refund tool instead of describing the steps.",
    ),
    (INVOCATION, "Support replies (production)", {"temperature_level": "0.2"}, "Fewer surprises in replies."),
]
# Which version runs where: production is the tested one, staging the newest.
LABELS: list[tuple[ArtifactKind, str, str, int]] = [
    (PERSONA, "Order tracker", "production", 1),
    (PERSONA, "Order tracker", "staging", 2),
    (PERSONA, "Returns specialist", "production", 2),
    (PERSONA, "Front desk", "production", 1),
    (TOOL, "Look up an order", "production", 1),
    (INVOCATION, "Support replies (production)", "production", 1),
    (INVOCATION, "Support replies (production)", "staging", 2),
]
# The agent's proposal, waiting in the review queue for a person to accept or reject.
PROPOSAL = (
    PERSONA,
    "Front desk",
    {
        "examples": [
            "Hi Maya, thanks for writing to us. Is this about an order you placed, or something else?",
            "Good morning! I can help with orders, returns, billing or the app. What can I do for you?",
        ]
    },
)


@dataclass(frozen=True)
class Loaded:
    """What `load` made (zero everywhere when the sample was already there)."""

    counts: dict[str, int]
    already_there: bool = False


def _principal(profile: Profile) -> Principal:
    return Principal(profile.id, profile.group_id, profile.name, profile.role, profile_type=profile.type)


def _create(session: Session, kind: ArtifactKind, author: Principal, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Bulk create, each item checked by the kind's request model as an API request's would be."""
    model = build_schemas(kind).create_item
    checked = [model.model_validate(item).model_dump(exclude_unset=True) for item in items]
    results = bulk.create_items(session, kind, author, checked, lambda row: {kind.id_field: row.id})
    failed = [result for result in results if not result["success"]]
    if failed:  # the sample is ours: a failure is a bug in this file, never the reader's
        raise RuntimeError(f"The sample {kind.plural} do not pass the rules: {failed}")
    return {item["name"]: result[kind.id_field] for item, result in zip(items, results)}


def _update(session: Session, kind: ArtifactKind, author: Principal, item: dict[str, Any]) -> ArtifactRow:
    checked = build_schemas(kind).update_item.model_validate(item).model_dump(exclude_unset=True)
    return artifacts.update_item(session, kind, author, checked)


def _propose(session: Session, kind: ArtifactKind, agent: Principal, body: dict[str, Any]) -> None:
    request = build_draft_schemas(kind).request.model_validate(body)
    drafts.patch_draft(session, kind, agent, drafts.DraftPatch.parse(kind, request.model_dump(exclude_unset=True)))


def load(db: Database, group_name: str = "default") -> Loaded:
    """Load the sample project into the group (made when missing); a no-op when its personas are there."""
    with db.transaction(write=True) as session:
        group = groups.ensure_group(session, group_name)
        if _already_loaded(session, group):
            return Loaded({}, already_there=True)
        lead = _principal(identity.ensure_profile(session, group, LEAD, Role.ADMIN))
        editor = _principal(identity.ensure_profile(session, group, EDITOR, Role.EDITOR))
        agent = _principal(identity.ensure_agent(session, group, AGENT, Role.EDITOR, LEAD))
        ids: dict[str, dict[str, Any]] = {
            PERSONA.name: _create(session, PERSONA, lead, [{"active": True} | p for p in PERSONAS]),
            TOOL.name: _create(session, TOOL, lead, [{"active": True} | t for t in TOOLS]),
            EVAL.name: _create(session, EVAL, lead, [{"active": True} | e for e in EVALS]),
            INVOCATION.name: _create(session, INVOCATION, lead, [{"active": True} | i for i in INVOCATIONS]),
        }
        for kind, name, change, message in CHANGES:
            _update(session, kind, editor, {kind.id_field: ids[kind.name][name], "message": message} | change)
        for kind, name, label, version in LABELS:
            revisions.move_label(session, kind, lead, ids[kind.name][name], label, version)
        kind, name, change = PROPOSAL
        _propose(session, kind, agent, {kind.id_field: ids[kind.name][name]} | change)
    return Loaded({kind: len(made) for kind, made in ids.items()})


def _already_loaded(session: Session, group: Group) -> bool:
    return (
        session.scalar(
            select(Profile.id).where(in_group(Profile, group.id), Profile.name == AGENT, Profile.type == "agent")
        )
        is not None
    )
