"""The webhooks page in a real browser: an admin creates a webhook and sees its secret once, sends a
test, sees the delivery's attempts with their status codes, and redelivers. SQLite only (the pages
are the subject; the API is tested on both databases in tests/events)."""

from __future__ import annotations

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
