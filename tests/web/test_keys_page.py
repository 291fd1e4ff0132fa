"""The "Keys and agents" page in a real browser: an admin adds an AI agent with a sponsor, makes it a
key whose secret is shown once, and revokes it after confirming; the revoked key stops working."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from conftest import Api
from web.conftest import LiveServer, shot
from web.test_browser import sign_in

pytestmark = pytest.mark.sqlite_only


def test_an_admin_adds_an_agent_makes_it_a_key_once_and_revokes_it(
    page: Page, web_server: LiveServer, make_api, dialect
):
    admin = make_api("admin", name="Grace")
    sign_in(page, web_server, admin.key)
    page.get_by_role("link", name="Keys and agents").click()
    expect(page.get_by_role("heading", name="Keys and agents")).to_be_visible()
    expect(page.locator("#keys tbody tr")).to_have_count(1)
    expect(page.locator("#keys")).to_contain_text(admin.key[:12])
    assert admin.key not in page.content()  # a prefix, never the secret

    page.get_by_label("Agent name").fill("Helper bot")
    page.get_by_label("Sponsor").select_option(label="Grace")
    page.get_by_role("button", name="Add agent").click()
    expect(page.locator("#flash")).to_contain_text("Helper bot")

    page.get_by_label("For", exact=True).select_option(label="Helper bot (AI agent of Grace)")
    page.get_by_label("Name", exact=True).fill("bot key")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("Secret (shown this once)")
    expect(secret).to_have_value(re.compile(r"^lw_[0-9a-f]{12}_"))
    key = secret.input_value()
    shot(page, "keys-and-agents")
    agent = Api(admin.client, key)
    assert agent.op("personas", "get").status_code == 200
    page.reload()
    expect(page.get_by_role("heading", name="Keys and agents")).to_be_visible()
    assert key not in page.content()  # shown once

    row = page.locator("#keys tbody tr", has_text="bot key")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("#confirm")).to_contain_text("Revoke the key “bot key”")
    page.locator("#confirm").get_by_role("button", name="Revoke").click()
    expect(page.locator("#flash")).to_contain_text("Revoked")
    expect(page.locator("#keys tbody tr", has_text="bot key")).to_have_count(0)
    page.get_by_label("Show revoked keys").check()
    expect(page.locator("#keys tbody tr", has_text="bot key")).to_contain_text("Revoked")
    response = agent.op("personas", "get")
    assert response.status_code == 401 and response.json()["code"] == "key_revoked"
