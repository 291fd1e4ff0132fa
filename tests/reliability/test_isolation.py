"""Isolation: nobody reaches what is not theirs, for every operation of every kind (issue 9, part 6).

Group `other` holds one resource of every resource kind, an artifact of every kind built from them,
drafts (edits and agents' proposals) and exports. Group `acme` then
- sends every id field of every operation the OpenAPI document lists with one of `other`'s ids of
  the right sort: each is a 404 (or, in a bulk request, its item fails `not_found`), writes nothing,
  and answers nothing of `other`;
- reads everything it can without ids (search with its facets, get sections, drafts, docs, exports
  and their downloads, every resource list): no id of `other` appears anywhere in the answers.
The MCP tools call these same operations; tests/mcp/test_mcp.py checks their answers too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from test_hostile_input import is_uuid, json_operations, properties, resolve, row_counts

from conftest import Api, assert_error
from loomwork import uploads
from loomwork.engine.declaration import ArtifactKind
from loomwork.engine.models import Artifact, Draft, DraftEntry
from loomwork.events.models import Event, Webhook, WebhookDelivery
from loomwork.identity.models import ApiKey, Profile
from loomwork.kinds import ARTIFACT_KINDS
from loomwork.resources.kinds import RESOURCE_KINDS
from loomwork.resources.models import Resource
from loomwork.uploads import Upload
from samples import SAMPLES

RESOURCE_BY_PLURAL = {r.plural: name for name, r in RESOURCE_KINDS.items()}


@dataclass
class Other:
    """What group `other` holds, by sort, and every id of it."""

    resources: dict[str, str]  # resource kind -> id
    artifacts: dict[str, str]  # artifact kind plural -> id
    drafts: dict[str, str]  # artifact kind plural -> draft id
    uploads: list[str]
    profile: str  # the admin's
    key: str  # the admin's key's id
    proposal: str  # an agent's, waiting in the review queue
    proposer: str  # the agent's profile
    every_id: set[str]
    webhook: str = ""
    delivery: str = ""  # a test message to the webhook


@pytest.fixture
def other(make_api, db) -> Other:
    admin_name = "other-admin"
    admin, agent = make_api("admin", group="other", name=admin_name), make_api("editor", group="other").as_agent()
    resources = {}
    for name, value in SAMPLES.items():
        plural = RESOURCE_KINDS[name].plural
        (made,) = admin.post(f"/api/v5/resources/{plural}/create", {plural: [value]}).json()["results"]
        assert made["success"], made
        resources[name] = made["id"]
    artifacts, drafts, uploads = {}, {}, []
    for kind in ARTIFACT_KINDS:
        item = {
            kind.name_slot.value_field: f"Zebra {kind.name}",
            **{
                s.id_field: [resources[s.resource]] if s.many else resources[s.resource]
                for s in kind.slots
                if s is not kind.name_slot and s.resource in ("department", "description")
            },
        }
        artifacts[kind.plural] = admin.create(kind.plural, **item)
        edit = admin.op(kind.plural, "draft", {kind.id_field: artifacts[kind.plural], "description": "edit"}, "PATCH")
        drafts[kind.plural] = edit.json()["draft_id"]
        proposed = agent.op(
            kind.plural, "draft", {kind.id_field: artifacts[kind.plural], "description": "proposal"}, "PATCH"
        )
        assert proposed.status_code == 200
        proposal = proposed.json()["form_state"]["proposals"][-1]["proposal_id"]
        uploads.append(admin.ok(kind.plural, "export", {})["upload_id"])
    # A public address, so the check passes; no worker runs here, so nothing is sent.
    hook = admin.post("/api/v5/webhooks/create", {"url": "http://93.184.216.34/hook", "events": ["artifact.deleted"]})
    webhook = hook.json()["webhook_id"]
    delivery = admin.post("/api/v5/webhooks/test", {"webhook_id": webhook}).json()["delivery_id"]
    with db.transaction(write=False) as session:
        group_id = session.scalar(
            select(Profile.group_id)
            .join(Artifact, Artifact.group_id == Profile.group_id)
            .where(Artifact.id == uuid.UUID(artifacts["personas"]))
            .limit(1)
        )
        every_id = {str(group_id)}
        for model in (Resource, Artifact, Draft, Upload, Profile, Event, Webhook, WebhookDelivery):
            every_id |= {str(i) for i in session.scalars(select(model.id).where(model.group_id == group_id))}
        profile = str(session.scalar(select(Profile.id).where(Profile.name == admin_name)))
        every_id |= {
            str(i)
            for i in session.scalars(
                select(ApiKey.id).join(Profile, Profile.id == ApiKey.profile_id).where(Profile.group_id == group_id)
            )
        }
        every_id |= {
            str(i)
            for i in session.scalars(
                select(DraftEntry.proposal_id)
                .join(Draft, Draft.id == DraftEntry.draft_id)
                .where(Draft.group_id == group_id, DraftEntry.proposal_id.is_not(None))
            )
        }
        proposer = str(session.scalar(select(DraftEntry.actor_id).where(DraftEntry.proposal_id == uuid.UUID(proposal))))
    key = admin.post("/api/v5/keys/search", {}).json()["keys"][0]["key_id"]
    return Other(resources, artifacts, drafts, uploads, profile, key, proposal, proposer, every_id, webhook, delivery)


@pytest.fixture
def acme(make_api) -> Api:
    """An admin, so that no role check stands in front of the group check."""
    api = make_api("admin", group="acme")
    for kind in ARTIFACT_KINDS:
        api.create(kind.plural, **{kind.name_slot.value_field: f"Mine {kind.name}"})
    return api


def leaked(text: str, other: Other, sent: set[str] = frozenset()) -> list[str]:
    return sorted(i for i in other.every_id - sent if i in text)


# --- every id field of every operation, given another group's id ------------------------------------------


def foreign_id(path: str, field: str, other: Other) -> str | None:
    """The id of `other`'s that `field` of the operation at `path` takes, or None if the field is unknown here."""
    kind = kind_of(path)
    if path.startswith("/api/v5/webhooks/"):
        return {"webhook_id": other.webhook, "delivery_id": other.delivery}.get(field)
    if path == "/api/v5/audit/search":
        return {"artifact_id": other.artifacts["personas"], "profile_id": other.profile}.get(field)
    if path.startswith(("/api/v5/keys/", "/api/v5/profiles/")):
        return {"profile_id": other.profile, "sponsor_profile_id": other.profile, "key_ids": other.key}.get(field)
    if path == "/api/v5/resolve":  # each item's kind is the first kind's (minimal's choice): personas
        return other.artifacts[ARTIFACT_KINDS[0].plural] if field == "id" else None
    if path == "/api/v5/artifacts/personas/try":  # besides the persona and the draft, the kind's own
        found = {"invocation_id": other.artifacts["invocations"], "tool_ids": other.artifacts["tools"]}.get(field)
        if found:
            return found
    if path.startswith("/api/v5/proposals/"):
        return {
            "proposal_id": other.proposal,
            "proposer_profile_id": other.proposer,
            "artifact_id": other.artifacts["personas"],
        }.get(field)
    if kind is None:
        resource = RESOURCE_BY_PLURAL.get(path.split("/")[4]) if path.startswith("/api/v5/resources/") else None
        return other.resources[resource] if resource and field in ("id", "ids") else None
    if field in (kind.id_field, kind.ids_field, "entity_id"):
        return other.artifacts[kind.plural]
    if field in ("draft_id", "input_draft_id"):
        return other.drafts[kind.plural]
    for slot in kind.slots:
        if field in (slot.id_field, slot.append_field, slot.id_alias):
            return other.resources[slot.resource]
    for facet in kind.facets:
        if field == facet.ids_field:
            return other.resources[kind.slot_by_key[facet.slot].resource]
    if field == "parameter_ids" and kind.parameters:
        return other.resources[kind.slot_by_key[kind.parameters.field_slot].resource]
    if field == "pending_ids":
        return other.resources["department"]
    if field.endswith("_id") and field[:-3] in RESOURCE_KINDS:  # inside structured values (`arg_id`, `model_id`)
        return other.resources[field[:-3]]
    return None


def kind_of(path: str) -> ArtifactKind | None:
    return next((k for k in ARTIFACT_KINDS if f"/artifacts/{k.plural}/" in path or path == k.legacy_draft_path), None)


def own_item(path: str, acme_ids: dict[str, str]) -> dict[str, Any]:
    """What a bulk item needs besides the field under test: a name to create, an own artifact to update."""
    kind = kind_of(path)
    if path.endswith("/create"):
        return {kind.name_slot.value_field: "Never made"}
    if path.endswith("/update"):
        return {kind.id_field: acme_ids[kind.plural]}
    return {}


def foreign_bodies(
    doc: dict[str, Any], path: str, schema: dict[str, Any], other: Other, acme_ids: dict[str, str]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(field, the foreign id, a body sending it) for every id field, top level and inside list items."""
    kind = kind_of(path)
    for name, prop in properties(doc, schema).items():
        items = resolve(doc, prop.get("items", {})) if prop.get("type") == "array" else {}
        if is_uuid(prop) or is_uuid(items):
            value = foreign_id(path, name, other)
            yield (
                name,
                value,
                {
                    **REQUIRED_BESIDES.get(path, {}),
                    **required_besides(schema, name),
                    name: (value if is_uuid(prop) else [value]),
                },
            )
        elif items.get("type") == "object":
            base = own_item(path, acme_ids) if kind and name == kind.plural else minimal(doc, items)
            for inner, value, body in foreign_bodies(doc, path, items, other, acme_ids):
                yield inner, value, {name: [{**base, **body}]}


# What an operation needs besides the id under test, so that the id alone decides the answer.
# Required fields besides the ids: a decision to make, the step a generation drafts.
REQUIRED_BESIDES = {
    "/api/v5/proposals/decide": {"decision": "reject"},
    **{f"/api/v5/artifacts/{k.plural}/generate": {"step": "basic"} for k in ARTIFACT_KINDS},
    # A try names a persona (or a draft) and an invocation: ids that exist nowhere, so the one under test decides.
    "/api/v5/artifacts/personas/try": {
        "messages": [],
        "persona_id": "00000000-0000-4000-8000-000000000001",
        "invocation_id": "00000000-0000-4000-8000-000000000002",
    },
}


# The other required fields of the revision operations (history, revision, diff, rollback, label), so the
# artifact lookup is what answers.
REVISION_FIELDS = {"version": 1, "from_version": 1, "to_version": 1, "label": "staging"}


def required_besides(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        field: REVISION_FIELDS[field]
        for field in schema.get("required", [])
        if field != name and field in REVISION_FIELDS
    }


def minimal(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The required fields of an object, each with a plain valid-looking value."""
    plain = {"string": "x", "integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}
    props = properties(doc, schema)
    return {
        name: props[name].get("enum", [plain.get(props[name].get("type"), "x")])[0]
        for name in schema.get("required", [])
    }


def test_another_groups_id_in_any_id_field_of_any_operation_is_not_found(acme, other, db, shared_client, monkeypatch):
    monkeypatch.setattr(uploads, "limits", uploads.Limits(quota_count=10_000))  # an export per export id field
    doc = shared_client.app.openapi()
    acme_ids = {k.plural: acme.ok(k.plural, "search", {})[k.plural][0][k.id_field] for k in ARTIFACT_KINDS}
    before, problems, unknown, checked = row_counts(db), [], [], 0
    for method, path, schema in json_operations(doc):
        for field, value, body in foreign_bodies(doc, path, schema, other, acme_ids):
            if value is None:
                unknown.append(f"{path} {field}")
                continue
            response = acme.client.request(method.upper(), path, json=body, headers=acme.headers)
            problem = not_found_problem(response, field)
            if not problem and leaked(response.text, other, {value}):
                problem = f"answers other's ids {leaked(response.text, other, {value})}"
            missing_id = str(uuid.uuid4())
            missing = acme.client.request(
                method.upper(), path, json=swap(body, value, missing_id), headers=acme.headers
            )
            # The whole answer, the id swapped: status, code, detail, field and every bulk result alike.
            if not problem and answer_of(response, value) != answer_of(missing, missing_id):
                problem = (
                    f"answers {response.status_code} {response.text[:200]} for another group's id but "
                    f"{missing.status_code} {missing.text[:200]} for a missing one"
                )
            if problem:
                problems.append(f"{method.upper()} {path} {field}: {problem}")
            checked += 1
    assert not unknown, f"id fields this test cannot fill: {unknown}"
    assert checked > 150 and not problems, "\n".join(problems[:40])
    after = row_counts(db)
    # Exports filtered by another group's ids rightly store (empty) files of this group's own, with their chunks;
    # nothing else is new.
    assert after.pop("uploads") >= before.pop("uploads")
    assert after.pop("upload_chunks") >= before.pop("upload_chunks")
    assert after == before


def swap(body: Any, old: str, new: str) -> Any:
    if isinstance(body, dict):
        return {k: swap(v, old, new) for k, v in body.items()}
    if isinstance(body, list):
        return [swap(v, old, new) for v in body]
    return new if body == old else body


def answer_of(response, sent_id: str) -> tuple[int, Any]:
    """Status and body with the id sent written `<id>`, less what differs on every call (an export's new
    upload id and its time-stamped file name) and a batch resolve's `etag`, a hash of the items' errors, which
    name the id sent (the items themselves are compared)."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in ("upload_id", "file_name", "etag")}
        return [strip(v) for v in node] if isinstance(node, list) else node

    return response.status_code, strip(json.loads(response.text.replace(sent_id, "<id>")))


def code_of(response) -> str | None:
    body = response.json()
    return body.get("code") or ",".join(sorted({str(r.get("code")) for r in body.get("results", [])})) or None


def not_found_problem(response, field: str) -> str | None:
    """Never a 5xx and never a success built on another group's id; the lookups by the operation's own id
    (the artifact, the draft, the resource) are a 404. The caller also checks that a missing id gets the
    same answer, so that nobody can tell another group's id from one that does not exist."""
    if response.status_code >= 500:
        return f"{response.status_code} {response.text[:200]}"
    body = response.json()
    if response.status_code == 200 and any(r.get("success") for r in body.get("results", [])):
        return f"a bulk item succeeded: {body['results']}"
    if field in OWN_ID_FIELDS and response.status_code != 404 and "results" not in body:
        return f"{response.status_code}, not 404: {response.text[:200]}"
    return None


OWN_ID_FIELDS = {
    "draft_id",
    "input_draft_id",
    "id",
    "entity_id",
    "proposal_id",
    "webhook_id",
    "delivery_id",
    *(k.id_field for k in ARTIFACT_KINDS),
}


# --- everything acme can read without ids ------------------------------------------------------------------


def reading_requests(acme: Api) -> Iterator[tuple[str, Any]]:
    for kind in ARTIFACT_KINDS:
        for operation in ("search", "get", "drafts", "docs"):
            yield f"{kind.plural} {operation}", acme.op(kind.plural, operation, {})
        export = acme.ok(kind.plural, "export", {})
        yield f"{kind.plural} export", acme.client.get(f"/api/v5/uploads/{export['upload_id']}", headers=acme.headers)
    for resource in RESOURCE_KINDS.values():
        yield f"{resource.plural} search", acme.post(f"/api/v5/resources/{resource.plural}/search", {})
    yield "audit search", acme.post("/api/v5/audit/search", {})
    yield "profiles search", acme.post("/api/v5/profiles/search", {})
    yield "keys search", acme.post("/api/v5/keys/search", {"include_revoked": True})
    yield "proposals search", acme.post("/api/v5/proposals/search", {})
    yield "changes", acme.post("/api/v5/changes", {})
    yield "webhooks search", acme.post("/api/v5/webhooks/search", {})


def test_nothing_of_another_group_shows_in_anything_a_group_reads(acme, other):
    answers = list(reading_requests(acme))
    assert len(answers) == 4 * 5 + len(RESOURCE_KINDS) + 6
    for label, response in answers:
        assert response.status_code == 200, (label, response.text[:300])
        assert not leaked(response.text, other), f"{label} shows ids of another group"
        assert "Zebra" not in response.text, label
    for kind in ARTIFACT_KINDS:  # and the counts are this group's own
        answer = acme.ok(kind.plural, "search", {})
        assert answer["total_count"] == 1
        assert all(o["count"] <= 1 for f in kind.facets for o in answer[f.filter_field]["options"])


def test_another_groups_uploads_are_not_found(acme, other):
    for upload_id in other.uploads:
        assert_error(acme.client.get(f"/api/v5/uploads/{upload_id}", headers=acme.headers), 404, "not_found")


def test_an_import_row_naming_another_groups_artifact_answers_as_for_a_missing_id(acme, other):
    """The multipart import takes ids too (in its file): another group's answers exactly as a missing one."""
    for kind in ARTIFACT_KINDS:
        answers = []
        for given in (other.artifacts[kind.plural], str(uuid.uuid4())):
            csv_file = f"{kind.id_field},{kind.name_slot.key}\n{given},Imported\n".encode()
            response = acme.client.post(
                f"/api/v5/artifacts/{kind.plural}/import",
                headers=acme.headers,
                files={"file": ("f.csv", csv_file, "text/csv")},
            )
            assert response.status_code == 200, response.text
            assert not leaked(response.text, other, {given})
            (result,) = response.json()["results"]
            assert result["id"] != given
            answers.append(answer_of(response, result["id"]))
        assert answers[0] == answers[1], kind.plural
