"""The audit trail (issue 9): every committed change, proposal and ack records who, when and what.

Rules: each action records exactly one event naming the profile, whether an agent spoke, the
artifact and what changed; an agent's proposal is `via_agent`; nothing rolled back leaves an
event; `POST /api/v5/audit/search` is for admins only (agents refused), filters by artifact,
kind, profile and time range, pages newest first, and never shows another group's events.
The engine's rules run for every artifact kind, all on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from conftest import Api, assert_error
from loomwork.audit import service as audit
from loomwork.audit.models import AuditEvent
from loomwork.engine.declaration import ArtifactKind
from loomwork.errors import Conflict
from loomwork.identity.models import ApiKey, Profile
from loomwork.kinds import ARTIFACT_KINDS
from loomwork.principal import Principal

SEARCH = "/api/v5/audit/search"


@pytest.fixture(params=ARTIFACT_KINDS, ids=lambda decl: decl.plural)
def kind(request: pytest.FixtureRequest) -> ArtifactKind:
    return request.param


@pytest.fixture
def admin(make_api) -> Api:
    return make_api("admin")


def item(
    kind: ArtifactKind,
    name: str | None = None,
    description: str | None = None,
    departments: list[str] | None = None,
    **more: Any,
) -> dict[str, Any]:
    """A create item or patch body in the kind's own field names (every kind has these three slots)."""
    body = dict(more)
    for key, value in (("name", name), ("description", description), ("department", departments)):
        if value is not None:
            body[kind.slot_by_key[key].value_field] = value
    return body


def create(api: Api, kind: ArtifactKind, **values: Any) -> str:
    (result,) = api.ok(kind.plural, "create", {kind.plural: [item(kind, **values)]})["results"]
    assert result["success"], result
    return result[kind.id_field]


def draft(api: Api, kind: ArtifactKind, body: dict[str, Any]) -> dict[str, Any]:
    response = api.op(kind.plural, "draft", body, method="PATCH")
    assert response.status_code == 200, response.text
    return response.json()


def decide(person: Api, answer: dict[str, Any], decision: str) -> None:
    """Decide the proposal a draft answer made, from the review queue, leaving its draft open."""
    proposal_id = answer["form_state"]["proposals"][-1]["proposal_id"]
    body = {"proposal_id": proposal_id, "decision": decision, "commit": False}
    response = person.post("/api/v5/proposals/decide", body)
    assert response.status_code == 200, response.text


def events(admin: Api, **filters: Any) -> list[dict[str, Any]]:
    response = admin.post(SEARCH, filters)
    assert response.status_code == 200, response.text
    return response.json()["events"]


def labels(values: Any) -> Any:
    """An event's shown values without their ids: a label, a list of labels, or None."""
    if isinstance(values, list):
        return [v["label"] for v in values]
    return values and values["label"]


def profile_id(db, api: Api) -> str:
    """The profile behind a test client's key."""
    with db.transaction(write=False) as session:
        return str(session.scalar(select(ApiKey.profile_id).where(ApiKey.prefix == api.key.split("_")[1])))


def group_id(db, api: Api) -> str:
    with db.transaction(write=False) as session:
        return str(
            session.scalar(
                select(Profile.group_id)
                .join(ApiKey, ApiKey.profile_id == Profile.id)
                .where(ApiKey.prefix == api.key.split("_")[1])
            )
        )


# --- what each action records, for every kind -----------------------------------------------------------------


def test_create_update_duplicate_and_delete_each_record_one_event_with_who_and_what(api, admin, db, kind):
    artifact_id = create(api, kind, name="Alpha", departments=["Sales", "Ops"])
    for change in (item(kind, description="Now described"), item(kind, name="Alpha")):  # the second changes nothing
        api.ok(kind.plural, "update", {kind.plural: [{kind.id_field: artifact_id, **change}]})
    copy_id = api.ok(kind.plural, "duplicate", {kind.id_field: artifact_id})[kind.id_field]
    api.ok(kind.plural, "delete", {kind.ids_field: [artifact_id]})

    trail = list(reversed(events(admin)))  # oldest first
    assert [(e["action"], e["artifact_id"]) for e in trail] == [
        ("create", artifact_id),
        ("update", artifact_id),
        ("duplicate", copy_id),
        ("delete", artifact_id),
    ]
    who = profile_id(db, api)
    assert all(e["profile_id"] == who and e["via_agent"] is False and e["kind"] == kind.name for e in trail)
    assert all(e["profile_name"].startswith("editor-") and e["draft_id"] is None for e in trail)
    departments = kind.slot_by_key["department"].section
    created, updated, duplicated, deleted = (e["changes"] for e in trail)
    assert labels(created["values"]["name"]) == "Alpha" and created["version"] == 1
    assert labels(created["values"][departments]) == ["Sales", "Ops"]
    assert set(updated["fields"]) == {"description"} and updated["fields"]["description"]["before"] is None
    assert labels(updated["fields"]["description"]["after"]) == "Now described" and updated["version"] == 2
    assert duplicated["source_id"] == artifact_id and labels(duplicated["values"]["name"]) == "Alpha (copy)"
    assert labels(deleted["values"]["description"]) == "Now described" and deleted["version"] == 2
    assert labels(deleted["values"][departments]) == ["Sales", "Ops"]
    at = [datetime.fromisoformat(e["at"]) for e in trail]
    assert at == sorted(at) and all(t.utcoffset() == timedelta(0) for t in at)


def test_proposals_acks_and_a_draft_commit_record_who_decided_and_whether_an_agent_proposed(api, admin, kind):
    agent = api.as_agent()
    draft_id = draft(api, kind, item(kind, "Drafted"))["draft_id"]  # a person's own patch: private, no event
    answer = draft(agent, kind, {"draft_id": draft_id, **item(kind, description="Proposed")})
    accepted = answer["idempotency_key"]
    decide(admin, answer, "accept")  # another person: its author may not decide it (own_proposal)
    answer = draft(agent, kind, {"draft_id": draft_id, **item(kind, departments=["Spam"])})
    rejected = answer["idempotency_key"]
    decide(admin, answer, "reject")
    decide(admin, answer, "reject")  # a replay: no event
    (result,) = api.ok(kind.plural, "create", {kind.plural: [{"draft_id": draft_id}]})["results"]

    trail = list(reversed(events(admin)))
    assert [(e["action"], e["via_agent"]) for e in trail] == [
        ("propose", True),
        ("accept", False),
        ("propose", True),
        ("reject", False),
        ("create", False),
    ]
    assert all(e["draft_id"] == draft_id for e in trail)
    proposed, ack, _, nack, committed = (e["changes"] for e in trail)
    assert proposed.pop("proposal_id")  # its id in the review queue
    assert proposed == {"proposal": accepted, "patch": item(kind, description="Proposed")}
    assert trail[0]["artifact_id"] is None  # proposed to a draft of a new artifact
    assert ack["proposal"] == accepted and ack["accepted"] is True and ack["proposed_via_agent"] is True
    assert nack["proposal"] == rejected and nack["accepted"] is False
    assert committed["values"]["description"]["label"] == "Proposed"
    assert kind.slot_by_key["department"].section not in committed["values"]  # the rejected proposal is not in it
    assert trail[-1]["artifact_id"] == result[kind.id_field]


def test_a_proposal_on_an_existing_artifact_names_it_and_its_committed_update_names_the_draft(api, admin, kind):
    artifact_id = create(api, kind, name="Live")
    proposal = {kind.id_field: artifact_id, **item(kind, description="Better")}
    answer = draft(api.as_agent(), kind, proposal)
    draft_id = answer["draft_id"]
    decide(admin, answer, "accept")
    api.ok(kind.plural, "update", {kind.plural: [{kind.id_field: artifact_id, "draft_id": draft_id}]})

    newest = events(admin, artifact_id=artifact_id)
    assert [e["action"] for e in newest] == ["update", "accept", "propose", "create"]
    assert newest[0]["draft_id"] == draft_id  # the propose event is listed: it names the artifact
    assert labels(newest[0]["changes"]["fields"]["description"]["after"]) == "Better"


def test_import_records_an_event_per_row_that_held_and_none_for_a_failed_row(api, admin, kind):
    existing = create(api, kind, name="Old")
    csv_text = f"{kind.id_field},name\r\n,Imported\r\n{existing},Renamed\r\nnot-a-uuid,Broken\r\n"
    response = api.client.post(
        f"/api/v5/artifacts/{kind.plural}/import",
        headers=api.headers,
        files={"file": ("import.csv", csv_text.encode(), "text/csv")},
    )
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["updated"], response.json()["failed"]) == (1, 1, 1)

    trail = list(reversed(events(admin)))
    assert [e["action"] for e in trail] == ["create", "import_create", "import_update"]
    assert labels(trail[1]["changes"]["values"]["name"]) == "Imported"
    assert trail[2]["artifact_id"] == existing
    assert {k: labels(v) for k, v in trail[2]["changes"]["fields"]["name"].items()} == {
        "before": "Old",
        "after": "Renamed",
    }


# --- resources ----------------------------------------------------------------------------------------------


def test_resource_create_and_delete_record_events_and_finding_an_existing_value_records_none(api, admin):
    created = api.post("/api/v5/resources/departments/create", {"departments": ["Legal", "Legal "]}).json()
    assert [r["created"] for r in created["results"]] == [True, False]
    resource_id = created["results"][0]["id"]
    assert api.post("/api/v5/resources/departments/delete", {"ids": [resource_id]}).status_code == 200

    trail = list(reversed(events(admin)))
    assert [(e["action"], e["kind"], e["artifact_id"]) for e in trail] == [
        ("resource_create", "department", None),
        ("resource_delete", "department", None),
    ]
    assert all(e["changes"] == {"id": resource_id, "label": "Legal"} for e in trail)


def test_a_key_shows_only_its_mask_in_the_trail(api, admin):
    secret = "sk-live-abcdefghijklmnop"
    response = api.post("/api/v5/resources/keys/create", {"keys": [{"name": "Prod", "secret": secret}]})
    assert response.status_code == 200, response.text
    (only,) = events(admin)
    assert "mnop" in only["changes"]["label"] and secret not in str(only)


# --- nothing rolled back leaves an event --------------------------------------------------------------------


def test_a_failed_bulk_item_records_nothing_while_the_others_record_theirs(api, admin, monkeypatch):
    recorded, calls = audit.record_state, []

    def second_fails(*args: Any, **kwargs: Any) -> None:
        recorded(*args, **kwargs)
        calls.append(args[2])
        if len(calls) == 2:
            raise Conflict("Injected failure after the event was recorded.", code="injected")

    monkeypatch.setattr(audit, "record_state", second_fails)
    results = api.ok("personas", "create", {"personas": [{"name": "Alpha"}, {"name": "Beta"}, {"name": "Gamma"}]})
    assert [r["success"] for r in results["results"]] == [True, False, True]
    assert results["results"][1]["code"] == "injected"

    trail = list(reversed(events(admin)))
    assert [labels(e["changes"]["values"]["name"]) for e in trail] == ["Alpha", "Gamma"]
    assert [e["artifact_id"] for e in trail] == [
        results["results"][0]["persona_id"],
        results["results"][2]["persona_id"],
    ]


def test_a_request_that_fails_after_recording_leaves_neither_the_change_nor_its_event(api, admin, monkeypatch):
    persona_id = create(api, ARTIFACT_KINDS[0], name="Source")
    recorded = audit.record_state

    def then_fail(*args: Any, **kwargs: Any) -> None:
        recorded(*args, **kwargs)
        raise Conflict("Injected failure after the event was recorded.", code="injected")

    monkeypatch.setattr(audit, "record_state", then_fail)
    assert_error(api.op("personas", "duplicate", {"persona_id": persona_id}), 409, "injected")
    monkeypatch.undo()

    assert [e["action"] for e in events(admin)] == ["create"]
    assert api.ok("personas", "search")["total_count"] == 1


def test_a_session_that_rolled_back_keeps_no_event_for_its_next_commit(admin, db):
    principal = Principal(uuid.UUID(profile_id(db, admin)), uuid.UUID(group_id(db, admin)), "admin", "admin")
    with Session(db.engine) as session:
        session.execute(select(1))  # a service records inside its transaction
        audit.record(session, principal, "resource_create", "department", {"id": "gone"})
        session.rollback()
        audit.record(session, principal, "resource_create", "department", {"id": "kept"})
        session.commit()
    assert [e["changes"]["id"] for e in events(admin)] == ["kept"]


def test_labels_are_read_in_chunks_and_each_value_keeps_its_label(api, admin, monkeypatch):
    monkeypatch.setattr(audit, "LABEL_CHUNK", 2)  # a large import's ids, in miniature
    departments = [f"Team {i}" for i in range(5)]
    api.ok(
        "personas",
        "create",
        {"personas": [{"name": "A", "departments": departments[:3]}, {"name": "B", "departments": departments[3:]}]},
    )
    by_name = {
        labels(e["changes"]["values"]["name"]): labels(e["changes"]["values"]["departments"]) for e in events(admin)
    }
    assert by_name == {"A": departments[:3], "B": departments[3:]}


def test_a_bulk_request_writes_all_its_events_in_one_insert(api, admin, db):
    inserts: list[int] = []

    def on_execute(_conn, _cursor, statement, parameters, _context, executemany) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS"):
            inserts.append(len(parameters) if executemany else 1)

    event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        api.ok("personas", "create", {"personas": [{"name": f"Agent {i}"} for i in range(20)]})
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)
    assert inserts == [20]
    assert len(events(admin, limit=500)) == 20


# --- searching --------------------------------------------------------------------------------------------------


def _move(db, artifact_id: str, when: datetime) -> None:
    with db.transaction(write=True) as session:
        session.execute(update(AuditEvent).where(AuditEvent.artifact_id == uuid.UUID(artifact_id)).values(at=when))


def test_filters_by_artifact_kind_profile_and_time_range_combine(make_api, admin, db):
    ada, bob = make_api("editor", name="ada"), make_api("editor", name="bob")
    old = create(ada, ARTIFACT_KINDS[0], name="Old persona")
    mid = create(bob, ARTIFACT_KINDS[1], name="Mid tool")
    new = create(ada, ARTIFACT_KINDS[1], name="New tool")
    day = datetime(2026, 3, 1, tzinfo=UTC)
    _move(db, old, day)
    _move(db, mid, day + timedelta(days=1))
    _move(db, new, day + timedelta(days=2))

    def ids(**filters: Any) -> list[str]:
        return [e["artifact_id"] for e in events(admin, **filters)]

    assert ids() == [new, mid, old]
    assert ids(artifact_id=mid) == [mid]
    assert ids(artifact_kind="tool") == [new, mid]
    assert ids(profile_id=profile_id(db, ada)) == [new, old]
    assert ids(since="2026-03-02T00:00:00Z") == [new, mid]  # since is inclusive
    assert ids(until="2026-03-02T00:00:00+00:00") == [old]  # until is exclusive
    assert ids(since="2026-03-01T12:00:00", until="2026-03-02T12:00:00") == [mid]  # no zone: UTC
    assert ids(since="2026-03-02T00:00:00Z", until="2026-03-02T00:00:00Z") == []  # an empty window, not an error
    assert ids(since="2026-03-02T01:00:00+02:00") == [new, mid]  # 23:00 UTC the day before
    assert ids(profile_id=profile_id(db, ada), artifact_kind="tool", since="2026-03-02") == [new]
    assert ids(artifact_id=str(uuid.uuid4())) == []


def test_pages_newest_first_with_the_total(api, admin):
    made = api.ok("personas", "create", {"personas": [{"name": f"Agent {i}"} for i in range(5)]})["results"]
    newest_first = [r["persona_id"] for r in reversed(made)]

    pages = [admin.post(SEARCH, {"limit": 2, "offset": offset}).json() for offset in (0, 2, 4, 6)]
    assert [p["total_count"] for p in pages] == [5, 5, 5, 5]
    assert [[e["artifact_id"] for e in p["events"]] for p in pages] == [
        newest_first[:2],
        newest_first[2:4],
        newest_first[4:],
        [],
    ]
    assert len(admin.post(SEARCH, {}).json()["events"]) == 5  # default limit 50


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"artifact_id": "not-a-uuid"}, "artifact_id"),
        ({"artifact_kind": "widget"}, "artifact_kind"),
        ({"profile_id": 7}, "profile_id"),
        ({"since": "yesterday"}, "since"),
        ({"since": 1700000000}, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"since": "0001-01-01T00:00:00+05:00"}, "since"),
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "until"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"offset": -1}, "offset"),
        ({"action": "create"}, "action"),
    ],
)
def test_an_invalid_filter_is_422_naming_the_field(admin, body, field):
    error = assert_error(admin.post(SEARCH, body), 422, "invalid")
    assert error["field"] == field and field in error["detail"], error


def test_only_admins_read_the_trail_and_agents_are_refused(make_api, admin):
    for role in ("viewer", "editor"):
        error = assert_error(make_api(role).post(SEARCH, {}), 403, "forbidden")
        assert "admin role" in error["detail"] and role in error["detail"]
    assert_error(admin.as_agent().post(SEARCH, {}), 403, "agent_refused")
    assert_error(admin.client.post(SEARCH, json={}), 401, "unauthenticated")
    assert admin.post(SEARCH, {}).status_code == 200


def test_another_groups_events_never_appear(api, admin, make_api):
    artifact_id = create(api, ARTIFACT_KINDS[0], name="Ours")
    other_admin = make_api("admin", group="other")
    create(make_api("editor", group="other"), ARTIFACT_KINDS[0], name="Theirs")

    assert [e["artifact_id"] for e in events(admin)] == [artifact_id]
    theirs = other_admin.post(SEARCH, {}).json()
    assert theirs["total_count"] == 1 and theirs["events"][0]["artifact_id"] != artifact_id
    assert other_admin.post(SEARCH, {"artifact_id": artifact_id}).json() == {"events": [], "total_count": 0}


def test_openapi_lists_the_audit_search_route(client, dialect):
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/api/v5/audit/search"]["post"]
    assert operation["operationId"] == "search_audit"
    assert {"403", "422"} <= set(operation["responses"])
    schema = spec["components"]["schemas"]["AuditSearchRequest"]["properties"]
    assert {"artifact_id", "artifact_kind", "profile_id", "since", "until", "limit", "offset"} <= set(schema)
