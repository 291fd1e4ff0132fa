"""GET /web/artifacts/K/{id}/events: an artifact's own recent changes, for its page, to anyone who may read
it (the group's whole trail stays admin-only at /api/v5/audit/search). Who, when and which fields; never the
values a waiting proposal carries."""

from __future__ import annotations

import uuid

from conftest import Api


def events(client, who: Api, plural: str, artifact_id: str, **params):
    return client.get(f"/web/artifacts/{plural}/{artifact_id}/events", params=params, headers=who.headers)


def test_a_viewer_reads_who_changed_an_artifact_and_which_fields(client, api: Api, make_api, dialect):
    persona = api.create("personas", name="Archivist", description="Finds documents")
    draft = api.ok("personas", "draft", {"persona_id": persona, "description": "Finds and cites"}, method="PATCH")
    assert api.ok("personas", "update", {"personas": [{"persona_id": persona, "draft_id": draft["draft_id"]}]})[
        "results"
    ][0]["success"]
    api.as_agent().ok("personas", "draft", {"persona_id": persona, "voices": ["Whispered secret"]}, method="PATCH")
    api.create("personas", name="Someone else")  # another artifact's events stay out

    response = events(client, make_api("viewer"), "personas", persona)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [e["action"] for e in body["events"]] == ["propose", "update", "create"]
    assert body["total_count"] == 3
    proposed, updated, created = body["events"]
    assert proposed["via_agent"] and proposed["fields"] == ["voices"]
    assert not updated["via_agent"] and updated["fields"] == ["description"]
    assert created["fields"] == ["description", "name"] and created["profile_name"] == updated["profile_name"]
    assert "Whispered secret" not in response.text and "Finds and cites" not in response.text  # names only

    assert [e["action"] for e in events(client, api, "personas", persona, limit=1).json()["events"]] == ["propose"]


def test_another_groups_artifact_an_unknown_kind_and_a_bad_limit_are_refused(client, api: Api, make_api, dialect):
    persona = api.create("personas", name="Archivist")
    stranger = make_api("admin", group="elsewhere")
    assert events(client, stranger, "personas", persona).status_code == 404  # never 403: existence does not leak
    assert events(client, api, "personas", str(uuid.uuid4())).status_code == 404
    assert events(client, api, "tools", persona).status_code == 404  # a persona is no tool
    unknown = events(client, api, "widgets", persona)
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    for limit in (0, 51, "many"):
        assert events(client, api, "personas", persona, limit=limit).status_code == 422
    assert client.get(f"/web/artifacts/personas/{persona}/events").status_code == 401
    assert api.ok("personas", "delete", {"persona_ids": [persona]})["results"][0]["success"]
    assert events(client, api, "personas", persona).status_code == 404
