"""The list pages: export works whatever was typed in a facet's search box (on every kind's list), the active
filters are chips with "Clear filters", the columns identify each kind, and on a phone the filters open
from a button at the top. SQLite only, like the other browser tests."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from conftest import Api
from web.conftest import LiveServer, shot
from web.test_browser import sign_in
from web.test_every_page import PLURALS, fill_every_kind

pytestmark = pytest.mark.sqlite_only


@pytest.mark.parametrize("plural", PLURALS)
def test_a_list_filtered_through_a_facets_search_box_exports(
    plural: str, page: Page, web_server: LiveServer, api: Api, dialect
):
    fill_every_kind(api)
    sign_in(page, web_server, api.key)
    kind = next(k for k in page.evaluate("fetch('/web/kinds').then(r => r.json())") if k["plural"] == plural)
    facet = next(f for f in kind["facets"] if f["name"] == "department")
    # What the facet's own search box puts in the URL when a person types in it.
    page.goto(f"{web_server.url}/#/k/{plural}?{facet['search_field']}=e")
    chips = page.locator("#active-filters")
    expect(chips).to_contain_text("Department options matching “e”")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    expect(page.locator("#flash")).to_contain_text("Exported")
    expect(page.locator("#flash .alert")).to_have_count(0)


def test_chips_clear_filters_kind_columns_and_the_phone_filters_button(
    page: Page, web_server: LiveServer, api: Api, dialect
):
    fill_every_kind(api)
    sign_in(page, web_server, api.key)
    page.get_by_label("Education (1)").check()
    expect(page.locator("#total")).to_have_text("1 persona")
    chips = page.locator("#active-filters")
    expect(chips).to_contain_text("Department: Education")
    shot(page, "list-filtered")
    page.get_by_role("link", name="Clear filters").click()
    expect(page.locator("#active-filters")).to_have_count(0)
    # Facets for people: no whole prompts or icons in the sidebar.
    expect(page.get_by_role("group", name="Instruction")).to_have_count(0)
    expect(page.get_by_role("group", name="Icon")).to_have_count(0)
    # A tool's list shows its arguments, an invocation's its endpoint, not "Value".
    page.get_by_role("link", name="Tools", exact=True).click()
    expect(page.locator("table.results thead")).to_contain_text("Arguments")
    expect(page.locator("table.results tbody")).to_contain_text("query")
    page.get_by_role("link", name="Invocations", exact=True).click()
    expect(page.locator("table.results thead")).not_to_contain_text("Value")

    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="Personas", exact=True).click()
    filters = page.get_by_role("button", name="Filters")
    expect(filters).to_be_in_viewport()
    expect(page.get_by_label("Education (1)")).to_be_hidden()
    filters.click()
    expect(page.get_by_label("Education (1)")).to_be_visible()
    shot(page, "phone-list-filters")
