"""The History page in a real browser: the revisions, the diff of any two versions, labels showing which
version production runs, and rollback after a confirmation. SQLite only (the API is tested on both
databases in tests/engine/test_revisions.py)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from web.conftest import LiveServer, shot
from web.test_browser import sign_in

pytestmark = pytest.mark.sqlite_only


def test_history_diff_labels_and_rollback(page: Page, web_server: LiveServer, make_api, dialect):
    admin = make_api("admin")
    persona_id = admin.create("personas", name="Ada", departments=["Sales"])
    for fields in ({"name": "Ada II"}, {"department_ids": [], "departments": ["Support"]}):
        (result,) = admin.ok("personas", "update", {"personas": [{"persona_id": persona_id, **fields}]})["results"]
        assert result["success"], result

    sign_in(page, web_server, admin.key)
    page.get_by_role("link", name="Ada II", exact=True).click()  # the artifact's own page links its full history
    page.get_by_role("link", name=re.compile("^History of ")).click()
    expect(page.get_by_role("heading", name="History of persona: Ada II")).to_be_visible()
    expect(page.locator("#revisions tbody tr")).to_have_count(3)
    # The timeline is a picture in the page: a dot per version on a line, named for screen readers.
    timeline = page.get_by_role("img", name="Timeline of 3 versions")
    expect(timeline.locator("circle")).to_have_count(3)
    expect(page.locator("#production-version")).to_have_text("No version is labelled production.")

    page.get_by_label("From").select_option("1")
    page.get_by_label("To").select_option("3")
    page.get_by_role("button", name="Compare", exact=True).click()
    diff = page.locator("#diff-result")
    expect(diff).to_contain_text("Ada II")
    expect(diff.get_by_role("row", name="departments")).to_contain_text("Support")
    shot(page, "history-diff")

    page.get_by_label("Label", exact=True).fill("production")
    page.get_by_label("Version", exact=True).select_option("2")
    page.get_by_role("button", name="Move label").click()
    expect(page.get_by_role("dialog")).to_contain_text("Point the new label production at version 2?")
    page.get_by_role("dialog").get_by_role("button", name="Move production").click()
    expect(page.locator("#production-version")).to_have_text("Production runs version 2.")

    # Moving it again asks first, showing what production will pick up: version 2 against version 3.
    page.get_by_label("Version", exact=True).select_option("3")
    page.get_by_role("button", name="Move label").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Point production at version 3? It points at version 2 now")
    expect(dialog.locator("#label-diff").get_by_role("row", name="Departments")).to_contain_text("Support")
    shot(page, "history-label-confirm")
    dialog.get_by_role("button", name="Move production").click()
    expect(page.locator("#production-version")).to_have_text("Production runs version 3.")
    expect(page.locator("#revisions tbody tr").nth(0)).to_contain_text("production")
    expect(page.locator("svg.timeline .tl-pin.production")).to_contain_text("production")

    page.locator("#rollback-1").click()
    expect(page.get_by_role("dialog")).to_contain_text("Roll back to version 1?")
    shot(page, "history-rollback-confirm")
    page.get_by_role("dialog").get_by_role("button", name="Roll back").click()
    expect(page.get_by_text("Rolled back persona to version 1 as version 4.")).to_be_visible()
    expect(page.locator("#revisions tbody tr")).to_have_count(4)
    expect(page.locator("#revisions tbody tr").first).to_contain_text("rollback")
    expect(page.locator("#production-version")).to_have_text("Production runs version 3.")
    shot(page, "history")
    assert admin.ok("personas", "resolve", {"name": "Ada"})["version"] == 4
