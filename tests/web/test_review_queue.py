"""The review queue for busy people, and the diff component it shares with history: a changed word in a
long prompt is highlighted in place, several proposals are decided together, the nav counts what waits,
and an unknown id shows a not-found page. SQLite only, like the other browser tests."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from conftest import Api
from web.conftest import LiveServer, shot
from web.test_browser import sign_in

pytestmark = pytest.mark.sqlite_only

PROMPT = (
    "You are the museum's guide. Greet every visitor by name, explain where the collections are, and "
    "suggest one work of art that matches what they say they like. Keep answers short, friendly and exact; "
    "when you do not know, say so and point them to the information desk near the main entrance."
)


def test_a_changed_word_in_a_long_prompt_is_highlighted_in_the_queue_and_history(
    page: Page, web_server: LiveServer, api: Api, make_api, dialect
):
    persona_id = api.create("personas", name="Guide", instructions=PROMPT)
    changed = PROMPT.replace("short, friendly", "short, warm")
    api.as_agent().ok("personas", "draft", {"persona_id": persona_id, "instructions": changed}, method="PATCH")
    sign_in(page, web_server, make_api("editor", name="Ada").key)  # another person: nobody decides their own
    page.get_by_role("link", name=re.compile("^Review queue")).click()
    row = page.locator("article.proposal").get_by_role("row", name=re.compile("Instruction"))
    expect(row.locator("del")).to_have_text("friendly")
    expect(row.locator("ins")).to_have_text("warm")
    shot(page, "queue-word-diff")
    page.locator("article.proposal").get_by_role("button", name=re.compile("^Accept")).click()
    expect(page.locator(".decided-note")).to_contain_text("Accepted")

    page.goto(f"{web_server.url}/#/k/personas/history/{persona_id}")
    page.get_by_role("button", name="Compare", exact=True).click()
    diff = page.locator("#diff-result")
    expect(diff.locator("del")).to_have_text("friendly")
    expect(diff.locator("ins")).to_have_text("warm")
    expect(diff).not_to_contain_text("Added")  # no Before/After/Added/Removed columns repeating the text


def test_three_proposals_are_selected_and_rejected_together(
    page: Page, web_server: LiveServer, api: Api, make_api, dialect
):
    agent = api.as_agent()
    for name in ("Alpha", "Beta", "Gamma"):
        agent.ok("personas", "draft", {"name": name}, method="PATCH")
    reviewer = make_api("editor", name="Ada")
    sign_in(page, web_server, reviewer.key)
    expect(page.locator("#queue-count")).to_have_text("3")  # the nav counts what waits
    page.get_by_role("link", name=re.compile("^Review queue")).click()
    expect(page.locator("article.proposal")).to_have_count(3)
    for name in ("Alpha", "Beta", "Gamma"):
        page.get_by_label(f"Select proposal for persona “{name}”").check()
    expect(page.locator("#bulk-count")).to_have_text("3 selected")
    shot(page, "queue-bulk")
    page.get_by_role("button", name="Reject selected").click()
    expect(page.locator("#queue-notice")).to_contain_text("Rejected 3 proposals.")
    expect(page.locator("#no-proposals")).to_be_visible()
    expect(page.locator("#queue-count")).to_have_text("")
    rejected = reviewer.post("/api/v5/proposals/search", {"status": "rejected"}).json()
    assert rejected["total_count"] == 3


def test_an_unknown_id_shows_the_not_found_page(page: Page, web_server: LiveServer, api: Api, dialect):
    persona_id = api.create("personas", name="Known")
    sign_in(page, web_server, api.key)
    page.goto(f"{web_server.url}/#/k/personas/view/{persona_id}")
    expect(page.get_by_role("heading", name="Known", level=1)).to_be_visible()
    page.goto(f"{web_server.url}/#/k/personas/view/00000000-0000-4000-8000-000000000000")
    expect(page.get_by_role("heading", name="Not found", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Known")).to_have_count(0)  # the previous page is gone
    # The nav stays in view after a navigation (focus moved without scrolling), and says no "null".
    assert page.evaluate("window.scrollY") == 0
    expect(page.locator("#nav")).not_to_contain_text("null")


def test_a_message_is_cleared_by_the_next_navigation(page: Page, web_server: LiveServer, api: Api, dialect):
    """A message from an action on the same page (here Duplicate on the list) is gone once the person moves on."""
    api.create("personas", name="Copied")
    sign_in(page, web_server, api.key)
    page.get_by_role("button", name="Duplicate Copied").click()
    expect(page.locator("#flash")).to_contain_text("Duplicated")
    page.get_by_role("link", name="Tools", exact=True).click()
    expect(page.get_by_role("heading", name="Tools", exact=True)).to_be_visible()
    expect(page.locator("#flash")).to_have_text("")
    page.get_by_role("link", name="Personas", exact=True).click()
    expect(page.get_by_role("heading", name="Personas", exact=True)).to_be_visible()
    expect(page.locator("#flash")).to_have_text("")
