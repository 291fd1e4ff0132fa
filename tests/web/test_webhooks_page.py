"""The webhooks page in a real browser: an admin creates a webhook and sees its secret once, sends a
test, sees the delivery's attempts with their status codes, and redelivers. SQLite only (the pages
are the subject; the API is tested on both databases in tests/events)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from playwright.sync_api import Page, expect

from events.conftest import Receiver, receiver  # noqa: F401 - the fixture, used by name
from loomwork.events.delivery import DeliveryWorker
from web.conftest import LiveServer, shot

pytestmark = pytest.mark.sqlite_only


def test_an_admin_creates_a_webhook_tests_it_and_redelivers(
    page: Page, web_server: LiveServer, make_api, db, receiver: Receiver, dialect
):
    admin = make_api("admin")
    page.set_default_timeout(60_000)  # the shared test machine can be slow to serve the modules
    page.goto(f"{web_server.url}/")
    page.get_by_label("API key").fill(admin.key)
    page.get_by_role("button", name="Sign in").click()
    # Signed in once the landing page shows: a click before it may be undone by the sign-in's own navigation.
    expect(page.get_by_role("heading", name="Personas", exact=True)).to_be_visible()
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("proposal.created").uncheck()
    page.get_by_role("button", name="Create webhook").click()
    secret = page.locator("#webhook-secret pre")
    expect(secret).to_contain_text("whsec_")
    receiver.secret = secret.inner_text().strip()
    shot(page, "webhooks-created")
    expect(page.locator("#webhooks")).to_contain_text("artifact.deleted")
    expect(page.locator("#webhooks")).not_to_contain_text("proposal.created")
    page.reload()  # shown once: a new visit of the page no longer has it
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    expect(page.locator("#webhook-secret")).to_have_count(0)

    receiver.script = [503]  # the first attempt fails; the retry goes through
    worker = DeliveryWorker(db, replace(web_server.settings, webhook_retry_base_s=0.2))
    worker.start()
    try:
        page.get_by_role("link", name=receiver.url).click()
        page.get_by_role("button", name="Send test").click()
        expect(page.get_by_role("status")).to_contain_text("test message")
        receiver.wait_for(lambda: len(receiver.messages) >= 2)
        delivered = page.locator('#deliveries tr[data-status="delivered"]')
        for _ in range(50):
            page.get_by_role("button", name="Refresh").click()
            if delivered.count():
                break
            page.wait_for_timeout(200)
        expect(delivered).to_contain_text("webhook.test")
        expect(delivered).to_contain_text("503")
        expect(delivered).to_contain_text("200")
        shot(page, "webhook-deliveries")
        page.get_by_role("button", name="Redeliver").click()
        receiver.wait_for(lambda: len(receiver.messages) >= 3)
    finally:
        worker.shutdown()
    assert receiver.bad_signatures == []
    assert len({m.message_id for m in receiver.messages}) == 1


def test_deliveries_read_as_states_with_one_line_errors_and_the_hook_says_since_when_it_fails(
    page: Page, web_server: LiveServer, make_api, receiver: Receiver, dialect
):
    """A hook failing for an hour: the list says since when, a delivery says "Retrying" with when it is tried
    next (not "pending"), another "Failed after 7 attempts", each error one readable line, the attempts folded."""
    admin = make_api("admin")
    created = admin.post("/api/v5/webhooks/create", {"url": receiver.url, "events": ["label.moved"]})
    assert created.status_code == 200, created.text
    listed = admin.post("/api/v5/webhooks/search", {"limit": 200}).json()
    listed["webhooks"][0]["failing_since"] = "2026-12-01T10:00:00Z"
    attempt = {
        "at": "2026-12-01T10:00:00Z",
        "status_code": None,
        "duration_ms": 5,
        "response": "",
        "error": "httpx.ConnectError: [Errno 111] Connection refused\nTraceback (most recent call last): ...",
    }
    delivery = {
        "message_id": "msg_1",
        "event": "label.moved",
        "last_status_code": None,
        "created_at": "2026-12-01T10:00:00Z",
        "last_error": attempt["error"],
        "finished_at": None,
    }
    answer = {
        "webhook": listed["webhooks"][0],
        "total_count": 2,
        "deliveries": [
            {
                **delivery,
                "delivery_id": "d1",
                "status": "pending",
                "attempts": [attempt] * 3,
                "attempt_count": 3,
                "next_attempt_at": "2099-01-01T00:00:00Z",
            },
            {
                **delivery,
                "delivery_id": "d2",
                "status": "failed",
                "attempts": [attempt] * 7,
                "attempt_count": 7,
                "next_attempt_at": None,
            },
        ],
    }
    page.route(
        "**/api/v5/webhooks/search", lambda r: r.fulfill(content_type="application/json", body=json.dumps(listed))
    )
    page.route(
        "**/api/v5/webhooks/deliveries", lambda r: r.fulfill(content_type="application/json", body=json.dumps(answer))
    )
    page.goto(f"{web_server.url}/")
    page.get_by_label("API key").fill(admin.key)
    page.get_by_role("button", name="Sign in").click()
    # Signed in once the landing page shows: a click before it may be undone by the sign-in's own navigation.
    expect(page.get_by_role("heading", name="Personas", exact=True)).to_be_visible()
    page.get_by_role("link", name="Webhooks").click()
    expect(page.locator("#webhooks")).to_contain_text("Failing since")
    page.get_by_role("link", name=receiver.url).click()
    rows = page.locator("#deliveries tbody tr")
    expect(rows.nth(0)).to_contain_text("Retrying")
    expect(rows.nth(0)).not_to_contain_text("pending")
    expect(rows.nth(1)).to_contain_text("Failed after 7 attempts")
    expect(rows.nth(1).locator(".error-line")).to_have_text("Connection refused")
    expect(page.locator("#deliveries")).not_to_contain_text("Traceback")
    expect(rows.nth(1).locator("details")).not_to_have_attribute("open", "")
    expect(rows.nth(1).locator("summary")).to_have_text("7 attempts")
    shot(page, "webhook-deliveries-failing")
