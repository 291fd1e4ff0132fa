"""Reading many at once (API.md section 14): `POST /api/v5/resolve`, each item answered on its own, with one
ETag for the whole answer, on both databases."""

from __future__ import annotations

import uuid
from typing import Any

from conftest import Api, assert_error

PATH = "/api/v5/resolve"


def resolve_many(api: Api, items: list[dict[str, Any]], **headers: str) -> Any:
    return api.client.post(PATH, json={"items": items}, headers={**api.headers, **headers})


def test_items_of_every_kind_answer_like_single_resolves_and_a_failure_stays_its_own(make_api):
    admin = make_api("admin")
    persona_id = admin.create("personas", name="Ada", instructions="Hi {{customer}}.")
    admin.ok("personas", "update", {"personas": [{"persona_id": persona_id, "description": "v2"}]})
    admin.ok("personas", "label", {"persona_id": persona_id, "label": "production", "version": 1})
    tool_id = admin.create("tools", name="lookup")
    missing = str(uuid.uuid4())

    answer = resolve_many(
        admin,
        [
            {"kind": "persona", "id": persona_id},
            {"kind": "persona", "name": "Ada", "label": "production"},
            {"kind": "tool", "name": "lookup"},
            {"kind": "tool", "id": missing},
            {"kind": "persona", "id": persona_id, "version": 1},
            {"kind": "persona"},
        ],
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert answer.headers["etag"] == f'"{body["etag"]}"'
    latest, production, tool, gone, pinned, neither = body["results"]
    assert [r["index"] for r in body["results"]] == list(range(6))

    single = admin.op("personas", "resolve", {"persona_id": persona_id}).json()
    assert latest["success"] is True and latest["id"] == persona_id and latest["kind"] == "persona"
    assert (latest["version"], latest["etag"], latest["config"]) == (2, single["etag"], single["config"])
    assert production["version"] == 1 and production["label"] == "production"
    assert production["config"]["description"] is None
    assert pinned["etag"] == production["etag"] and pinned["label"] is None
    assert tool["success"] is True and tool["id"] == tool_id and tool["config"]["function"]["name"] == "lookup"
    assert (gone["success"], gone["status"], gone["code"]) == (False, 404, "not_found") and gone["detail"]
    assert (neither["success"], neither["status"], neither["code"]) == (False, 422, "invalid")


def test_the_whole_answer_revalidates_by_etag_until_any_item_changes(api):
    persona_id = api.create("personas", name="Ada")
    items = [{"kind": "persona", "id": persona_id}, {"kind": "tool", "name": "nowhere"}]
    first = resolve_many(api, items)
    etag = first.headers["etag"]

    again = resolve_many(api, items, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""

    api.ok("personas", "update", {"personas": [{"persona_id": persona_id, "description": "Changed"}]})
    changed = resolve_many(api, items, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["results"][0]["version"] == 2

    # An item's error is part of the answer too: the missing tool appearing changes the ETag.
    settled = changed.headers["etag"]
    api.create("tools", name="nowhere")
    assert resolve_many(api, items, **{"If-None-Match": settled}).status_code == 200


def test_another_groups_artifacts_are_not_found_and_agents_may_read(api, make_api):
    persona_id = api.create("personas", name="Ada")
    other = make_api("admin", group="other")
    (by_id, by_name) = resolve_many(
        other, [{"kind": "persona", "id": persona_id}, {"kind": "persona", "name": "Ada"}]
    ).json()["results"]
    assert (by_id["status"], by_name["status"]) == (404, 404)

    agent = make_api("viewer").as_agent()
    (found,) = resolve_many(agent, [{"kind": "persona", "name": "Ada"}]).json()["results"]
    assert found["success"] is True and found["config"]["name"] == "Ada"


def test_the_request_is_checked_whole(api):
    assert_error(resolve_many(api, []), 422)
    assert_error(resolve_many(api, [{"kind": "persona", "name": "x"}] * 101), 422)
    body = assert_error(resolve_many(api, [{"kind": "personas", "name": "x"}]), 422)
    assert "persona" in body["detail"] and "invocation" in body["detail"]  # the kinds it takes are named
    assert_error(resolve_many(api, [{"kind": "persona", "name": "x", "colour": "red"}]), 422)
    assert_error(api.client.post(PATH, json={"items": [{"kind": "persona", "name": "x"}]}), 401)
