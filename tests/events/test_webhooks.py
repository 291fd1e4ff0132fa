"""Events, webhooks and their delivery (API.md section 10), through HTTP, on SQLite and PostgreSQL,
against a real receiver on 127.0.0.1 that verifies every signature."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from conftest import assert_error
from loomwork.events import outbox
from loomwork.events.models import Event, WebhookDelivery

ALL_EVENTS = list(outbox.EVENT_TYPES)


def make_webhook(admin: Any, receiver: Any, events: list[str] | None = None) -> str:
    response = admin.post(
        "/api/v5/webhooks/create", {"url": receiver.url, "events": events or ALL_EVENTS, "description": "tests"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["secret"].startswith("whsec_")
    receiver.secret = body["secret"]
    return body["webhook_id"]


def deliveries(admin: Any, webhook_id: str) -> list[dict[str, Any]]:
    response = admin.post("/api/v5/webhooks/deliveries", {"webhook_id": webhook_id})
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


def person(principal_api: Any, name: str) -> dict[str, Any]:
    return {"name": name, "type": "person"}


def test_each_event_is_delivered_signed_and_as_specified(make_api, receiver, worker):
    admin = make_api("admin", name="Ada")
    make_webhook(admin, receiver)
    editor = make_api("editor", name="Eve")
    persona_id = editor.create("personas", name="Grace")
    editor.ok("personas", "update", {"personas": [{"persona_id": persona_id, "description": "v2"}]})
    copy = editor.ok("personas", "duplicate", {"persona_id": persona_id})
    editor.ok("personas", "delete", {"persona_ids": [persona_id]})
    proposal = editor.as_agent().ok("personas", "draft", {"name": "Agent's idea"}, method="PATCH")
    decided = editor.ok(
        "personas",
        "draft",
        {"draft_id": proposal["draft_id"], "idempotency_key": proposal["idempotency_key"], "accept": True},
        method="PATCH",
    )
    assert decided["success"]
    receiver.wait_for(lambda: len(receiver.messages) >= 6)
    assert receiver.bad_signatures == []
    # One webhook-id per event, the event's own id; deliveries run in parallel, so compare in the feed's order.
    feed = admin.post("/api/v5/changes", {}).json()["changes"]
    by_id = {m.message_id: m for m in receiver.messages}
    assert sorted(by_id) == sorted(f"msg_{uuid.UUID(c['id']).hex}" for c in feed) and len(receiver.messages) == 6
    in_order = [by_id[f"msg_{uuid.UUID(c['id']).hex}"] for c in feed]
    assert [c["event"] for c in feed] == [m.type for m in in_order]

    revisions = [m.data for m in in_order if m.type == "artifact.revision_created"]
    eve = {"name": "Eve", "type": "person"}
    for data in revisions:
        assert set(data) == {"kind", "persona_id", "version", "author", "via_agent", "approved_by"}, data
        assert {k: v for k, v in data["author"].items() if k != "profile_id"} == eve
        assert data["via_agent"] is False and data["approved_by"] is None and data["kind"] == "persona"
    assert [(d["persona_id"], d["version"]) for d in revisions[:2]] == [(persona_id, 1), (persona_id, 2)]
    copy_id = copy.get("persona_id") or copy["results"][0]["persona_id"] if "results" in copy else copy["persona_id"]
    assert (revisions[2]["persona_id"], revisions[2]["version"]) == (copy_id, 1)

    [deleted] = [m.data for m in receiver.of_type("artifact.deleted")]
    assert deleted["persona_id"] == persona_id and deleted["version"] == 2 and deleted["kind"] == "persona"
    assert deleted["deleted_by"]["name"] == "Eve" and deleted["via_agent"] is False

    # Events name a proposal by its own id (API.md section 8), as the review queue does.
    [proposal_id] = [p["proposal_id"] for p in proposal["form_state"]["proposals"]]
    [created] = [m.data for m in receiver.of_type("proposal.created")]
    assert created == {
        "kind": "persona",
        "persona_id": None,
        "draft_id": proposal["draft_id"],
        "proposal_id": proposal_id,
        "via_agent": True,
        "proposed_by": {**created["proposed_by"], "name": "Eve", "type": "agent"},
    }
    [decision] = [m.data for m in receiver.of_type("proposal.decided")]
    assert decision["decision"] == "accept" and decision["proposal_id"] == proposal_id
    assert decision["decided_by"]["type"] == "person" and decision["proposed_by"]["type"] == "agent"
    assert [c["data"] for c in feed] == [m.data for m in in_order]  # the feed and the deliveries say the same


def test_a_webhook_hears_only_the_events_it_names(make_api, receiver, worker, db):
    admin = make_api("admin")
    make_webhook(admin, receiver, ["artifact.deleted"])
    persona_id = admin.create("personas", name="Short-lived")
    admin.ok("personas", "delete", {"persona_ids": [persona_id]})
    receiver.wait_for(lambda: len(receiver.messages) >= 1)
    assert [m.type for m in receiver.messages] == ["artifact.deleted"]


def test_a_receiver_answering_500_gets_the_event_again_and_the_log_shows_both(make_api, receiver, worker):
    admin = make_api("admin")
    webhook_id = make_webhook(admin, receiver)
    receiver.script = [500]
    admin.create("personas", name="Retried")
    receiver.wait_for(lambda: len(receiver.messages) >= 2)
    first, second = receiver.messages[:2]
    assert first.message_id == second.message_id and receiver.bad_signatures == []

    def logged() -> bool:
        return deliveries(admin, webhook_id)[0]["status"] == "delivered"

    receiver.wait_for(logged)
    [delivery] = deliveries(admin, webhook_id)
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 200]
    assert delivery["attempt_count"] == 2 and delivery["message_id"] == first.message_id
    assert all(a["at"] for a in delivery["attempts"])


def test_test_and_redeliver_send_again_with_the_same_id(make_api, receiver, worker):
    admin = make_api("admin")
    webhook_id = make_webhook(admin, receiver)
    sent = admin.post("/api/v5/webhooks/test", {"webhook_id": webhook_id})
    assert sent.status_code == 200, sent.text
    receiver.wait_for(lambda: len(receiver.messages) == 1)
    assert receiver.messages[0].type == "webhook.test" and receiver.messages[0].message_id == sent.json()["message_id"]
    receiver.wait_for(lambda: deliveries(admin, webhook_id)[0]["status"] == "delivered")
    again = admin.post("/api/v5/webhooks/redeliver", {"delivery_id": sent.json()["delivery_id"]})
    assert again.status_code == 200, again.text
    receiver.wait_for(lambda: len(receiver.messages) == 2)
    assert receiver.messages[1].message_id == receiver.messages[0].message_id


def test_a_webhook_that_keeps_failing_is_disabled_and_says_so(make_api, receiver, db, worker_settings):
    from dataclasses import replace

    from loomwork.events.delivery import DeliveryWorker

    admin = make_api("admin")
    webhook_id = make_webhook(admin, receiver)
    receiver.script = [500] * 100
    admin.create("personas", name="Never heard")
    worker = DeliveryWorker(db, replace(worker_settings, webhook_retry_base_s=0.05, webhook_retry_window_s=1.0))
    worker.start()
    try:
        receiver.wait_for(lambda: admin.post("/api/v5/webhooks/search", {}).json()["webhooks"][0]["enabled"] is False)
    finally:
        worker.shutdown()
    [hook] = admin.post("/api/v5/webhooks/search", {}).json()["webhooks"]
    assert "HTTP 500" in hook["disabled_reason"]
    [delivery] = deliveries(admin, webhook_id)
    assert delivery["status"] == "failed" and delivery["attempts"][-1]["status_code"] == 500


def test_a_rolled_back_change_emits_nothing(make_api, db):
    admin = make_api("admin")
    persona_id = admin.create("personas", name="Kept")
    # A whole request that fails: the version check refuses it, nothing commits.
    stale = admin.op(
        "personas", "update", {"personas": [{"persona_id": persona_id, "expected_version": 7, "description": "x"}]}
    )
    assert stale.status_code == 200 and not stale.json()["results"][0]["success"]
    # A bulk create with one failing item: its event goes with it; the others' stay.
    bulk = admin.ok("personas", "create", {"personas": [{"name": "A"}, {"color": "#fff"}, {"name": "B"}]})
    assert [r["success"] for r in bulk["results"]] == [True, False, True]
    # A transaction that emits, then fails.
    with pytest.raises(RuntimeError), db.transaction(write=True) as session:
        group_id = session.scalar(select(Event.group_id))
        outbox.emit(session, group_id, outbox.DELETED, {"kind": "persona"})
        raise RuntimeError("boom")
    feed = admin.post("/api/v5/changes", {}).json()
    assert [(c["event"], c["data"]["version"]) for c in feed["changes"]] == [("artifact.revision_created", 1)] * 3
    assert [c["cursor"] for c in feed["changes"]] == [1, 2, 3]
    with db.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 3


def test_webhooks_are_for_admins_and_people_only(make_api, receiver):
    admin = make_api("admin")
    assert_error(admin.as_agent().post("/api/v5/webhooks/create", {"url": receiver.url, "events": ALL_EVENTS}), 403)
    assert_error(admin.as_agent().post("/api/v5/webhooks/search", {}), 403)
    assert_error(make_api("editor").post("/api/v5/webhooks/search", {}), 403)
    assert make_api("viewer").post("/api/v5/changes", {}).status_code == 200
    assert make_api("viewer").as_agent().post("/api/v5/changes", {}).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest",
        "http://[::1]/",
        "http://localhost/",
        "http://100.64.0.1/",
        "http://[::ffff:10.0.0.1]/",
    ],
)
def test_a_private_address_is_refused(make_api, url, monkeypatch):
    monkeypatch.delenv("LOOMWORK_ALLOW_PRIVATE_URLS", raising=False)
    body = assert_error(make_api("admin").post("/api/v5/webhooks/create", {"url": url, "events": ALL_EVENTS}), 422)
    assert body["field"] == "url" and "private" in body["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "http://",
        "http://user:pw@example.com/",
        "javascript:alert(1)",
        "example.com",
    ],
)
def test_only_http_urls_are_taken(make_api, url):
    body = assert_error(make_api("admin").post("/api/v5/webhooks/create", {"url": url, "events": ALL_EVENTS}), 422)
    assert body["field"] == "url"


def test_the_address_is_checked_again_when_sending(make_api, receiver, worker, monkeypatch):
    """A name that resolved to a public address when saved but points inside now (DNS rebinding) is refused."""
    admin = make_api("admin")
    webhook_id = make_webhook(admin, receiver)
    monkeypatch.delenv("LOOMWORK_ALLOW_PRIVATE_URLS")
    admin.create("personas", name="Not sent")
    receiver.wait_for(lambda: (deliveries(admin, webhook_id) or [{}])[0].get("attempt_count", 0) >= 1)
    delivery = deliveries(admin, webhook_id)[0]
    assert receiver.messages == []
    assert delivery["attempts"][0]["status_code"] is None and "private" in delivery["attempts"][0]["error"]


def test_other_groups_never_see_the_events_or_the_webhooks(make_api, receiver, worker):
    admin = make_api("admin", group="acme")
    other = make_api("admin", group="globex")
    webhook_id = make_webhook(admin, receiver)
    other.create("personas", name="Globex secret")
    admin.create("personas", name="Acme")
    receiver.wait_for(lambda: len(receiver.messages) >= 1)
    assert len(admin.post("/api/v5/changes", {}).json()["changes"]) == 1
    assert len(other.post("/api/v5/changes", {}).json()["changes"]) == 1
    assert other.post("/api/v5/webhooks/search", {}).json()["webhooks"] == []
    for path, body in (
        ("deliveries", {"webhook_id": webhook_id}),
        ("test", {"webhook_id": webhook_id}),
        ("delete", {"webhook_id": webhook_id}),
    ):
        assert_error(other.post(f"/api/v5/webhooks/{path}", body), 404)
    delivery_id = deliveries(admin, webhook_id)[0]["delivery_id"]
    assert_error(other.post("/api/v5/webhooks/redeliver", {"delivery_id": delivery_id}), 404)
    receiver.wait_for(lambda: len(receiver.messages) >= 1)
    assert all("Globex" not in str(m.data) for m in receiver.messages)
    assert len(deliveries(admin, webhook_id)) == 1


def test_delete_stops_deliveries(make_api, receiver, db):
    admin = make_api("admin")
    webhook_id = make_webhook(admin, receiver)
    assert admin.post("/api/v5/webhooks/delete", {"webhook_id": webhook_id}).status_code == 200
    admin.create("personas", name="Unheard")
    assert admin.post("/api/v5/webhooks/search", {}).json()["total_count"] == 0
    with db.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_a_delivery_never_shows_any_part_of_the_signing_secret(make_api, receiver, worker):
    """A receiver's answer is kept for people to read; one that echoes the secret, in part or encoded, shows none."""
    admin = make_api("admin")
    webhook_id = make_webhook(admin, receiver, ["artifact.revision_created"])
    secret = receiver.secret
    encoded = base64.b64encode(secret.encode()).decode()
    receiver.answer = f"bad signature for {secret[:16]} ({encoded}) tail {secret[-10:]}".encode()
    admin.create("personas", name="Grace")
    receiver.wait_for(lambda: len(receiver.messages) >= 1)

    def answered() -> list[dict[str, Any]]:
        return [d for d in deliveries(admin, webhook_id) if d.get("attempts")]

    receiver.wait_for(lambda: answered())
    text = json.dumps(deliveries(admin, webhook_id))
    assert "bad signature for" in text  # the answer itself is kept...
    for part in (secret[:16], encoded, secret[-10:], secret[6:14], encoded[10:22]):
        assert part not in text, part  # ...with no part of the secret
