"""Every page, checked by tools as well as by eye: axe-core (its axe.min.js comes bundled in the
axe-playwright-python package of the test extras, never from a CDN) finds no serious or critical
accessibility violation, and at 1280 and at 390 px wide no element overflows its container sideways
(unless its container scrolls on purpose) and every button and link is fully visible and clickable.
Then the artifact page itself: what it shows, and its history section lighting up once the server has it.
SQLite only, like the other browser tests: the subject is the pages."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, Route, expect

from conftest import Api
from web.conftest import LiveServer, shot
from web.test_browser import ICON, sign_in

pytestmark = pytest.mark.sqlite_only

AXE = Axe()
WIDTHS = ((1280, 900), (390, 844))
PLURALS = ("personas", "tools", "evals", "invocations")

# What a person would see go wrong, found by the browser's own geometry. An element may stick out of its
# parent only when the parent scrolls on purpose (a wide table in its .table-wrap); a button or link must
# lie inside the window and inside every box that clips or scrolls it, and be what a click at its centre hits.
LAYOUT = """() => {
  const vw = document.documentElement.clientWidth;
  const problems = [];
  const css = (el) => getComputedStyle(el);
  const text = (el) => (el.getAttribute("aria-label") || el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 40);
  const name = (el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}` +
    `${typeof el.className === "string" && el.className ? "." + el.className.trim().split(/\\s+/).join(".") : ""}` +
    ` "${text(el)}"`;
  // checkVisibility: also false inside a closed <details>, whose content keeps its boxes but is not drawn.
  const shown = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0 &&
                                                                      el.checkVisibility({ visibilityProperty: true }); };
  // Kept out of sight on purpose: text for screen readers only (a clipped 1 px box), the skip link until focused.
  const offOnPurpose = (el) => {
    for (let a = el; a && a !== document.body; a = a.parentElement) {
      if (a.classList.contains("skip") || (css(a).position === "absolute" && css(a).clip !== "auto")) return true;
    }
    return false;
  };
  if (document.documentElement.scrollWidth > vw + 1) {
    problems.push(`the page is ${document.documentElement.scrollWidth}px wide in a ${vw}px window`);
  }
  for (const el of document.body.querySelectorAll("*")) {
    if (["SCRIPT", "STYLE", "OPTION"].includes(el.tagName) || !shown(el) || offOnPurpose(el)) continue;
    const parent = el.parentElement;
    if (["auto", "scroll"].includes(css(parent).overflowX)) continue;
    const r = el.getBoundingClientRect();
    const p = parent === document.body ? { left: 0, right: vw } : parent.getBoundingClientRect();
    if (r.right > p.right + 1 || r.left < p.left - 1) {
      problems.push(`${name(el)} sticks out of ${name(parent)} (${Math.round(r.left)}–${Math.round(r.right)} in ` +
                    `${Math.round(p.left)}–${Math.round(p.right)})`);
    }
  }
  for (const el of document.querySelectorAll("a[href], button, summary")) {
    if (!shown(el) || offOnPurpose(el)) continue;
    el.scrollIntoView({ block: "center", inline: "nearest" });
    const r = el.getBoundingClientRect();
    if (r.left < -1 || r.right > vw + 1) {
      problems.push(`${name(el)} reaches out of the window (${Math.round(r.left)}–${Math.round(r.right)} of ${vw})`);
      continue;
    }
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (css(a).overflowX === "visible") continue;
      const b = a.getBoundingClientRect();
      if (r.left < b.left - 1 || r.right > b.right + 1 || r.top < b.top - 1 || r.bottom > b.bottom + 1) {
        problems.push(`${name(el)} is cut off by ${name(a)}`);
        break;
      }
    }
    const part = el.getClientRects()[0];  // a link wrapped over two lines: the middle of its first line
    const hit = document.elementFromPoint(part.left + part.width / 2, part.top + part.height / 2);
    if (!hit || !(hit === el || el.contains(hit))) problems.push(`${name(el)} is covered by ${hit ? name(hit) : "nothing"}`);
  }
  window.scrollTo(0, 0);
  return problems;
}"""


def check(page: Page, what: str) -> None:
    """axe-core at both widths, then the layout at both widths; a screenshot of each for a person."""
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        results = AXE.run(page).response
        bad = [
            f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']][:3]}"
            for v in results["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert bad == [], f"{what} at {width}px: axe-core found {bad}"
        problems = page.evaluate(LAYOUT)
        assert problems == [], f"{what} at {width}px: {problems[:8]}"
        shot(page, f"every-{what}-{width}")
    page.set_viewport_size({"width": WIDTHS[0][0], "height": WIDTHS[0][1]})


def visit(page: Page, url: str) -> None:
    """Go to a page and wait for it (only the hash changes: the old page is cleared first, so it is not taken
    for the new one)."""
    page.evaluate("document.getElementById('main')?.replaceChildren()")
    if page.url == url:
        page.reload()
    else:
        page.goto(url)
    expect(page.locator("main h1")).to_be_visible()
    page.wait_for_load_state("networkidle")


def fill_every_kind(api: Api) -> dict[str, str]:
    """One artifact of each kind with most of its slots set, an edit draft of each, and an agent's proposal."""
    persona = api.create(
        "personas",
        name="Museum guide",
        description="Greets visitors and walks them around.",
        color="#2456c9",
        icon=ICON,
        active=True,
        instructions="Welcome visitors to {{museum}} and answer in {{language}}.",
        examples=["Where are the Impressionists?"],
        departments=["Visitor services", "Education"],
        parameter_fields=["museum"],
        voices=["Warm"],
        scenarios=["A school group arrives early"],
    )
    tool = api.create(
        "tools",
        name="Collection search",
        description="Finds works in the collection.",
        departments=["Research"],
        instructions=["Search titles first, then artists."],
        args_drafts=[
            {"name": "query", "type": "string", "description": "What to look for", "required": True, "position": 0}
        ],
    )
    evals = api.create(
        "evals",
        name="Answer quality",
        description="Do guides answer correctly?",
        departments=["Research"],
        models=["gpt-4o", "small-model"],
        model_rubrics=["Correct, and names the room"],
    )
    invocation = api.create(
        "invocations",
        name="Guide chat",
        description="The guide's chat call.",
        value="chat",
        departments=["Visitor services"],
        modalities=["text"],
        voices=["Warm"],
    )
    ids = {"personas": persona, "tools": tool, "evals": evals, "invocations": invocation}
    api.as_agent().ok(
        "personas", "draft", {"persona_id": persona, "description": "Greets visitors warmly."}, method="PATCH"
    )
    for plural, artifact_id in list(ids.items()):
        ids[f"{plural}-draft"] = api.ok(plural, "draft", {f"{plural[:-1]}_id": artifact_id}, method="PATCH")["draft_id"]
    return ids


def page_urls(server: LiveServer, ids: dict[str, str], plural: str) -> dict[str, str]:
    base = f"{server.url}/#/k/{plural}"
    return {"list": base, "view": f"{base}/view/{ids[plural]}", "docs": f"{base}/docs"}


def test_the_sign_in_page_passes_axe_and_fits(page: Page, web_server: LiveServer, dialect):
    page.goto(f"{web_server.url}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    check(page, "sign-in")


@pytest.mark.parametrize("plural", PLURALS)
def test_each_kinds_pages_pass_axe_and_fit(plural: str, page: Page, web_server: LiveServer, api: Api, dialect):
    ids = fill_every_kind(api)
    sign_in(page, web_server, api.key)
    for name, url in page_urls(web_server, ids, plural).items():
        visit(page, url)
        check(page, f"{plural}-{name}")
        if name == "list":  # and with its import form opened
            page.get_by_text("Import CSV…").click()
            check(page, f"{plural}-list-import")
    kind = next(k for k in page.evaluate("fetch('/web/kinds').then(r => r.json())") if k["plural"] == plural)
    for step in kind["steps"]:
        visit(page, f"{web_server.url}/#/k/{plural}/draft/{ids[f'{plural}-draft']}?step={step['key']}")
        check(page, f"{plural}-editor-{step['key']}")
        # Every collapsed slot opened: the pickers and new-value forms pass too.
        while page.locator("button.add-slot").count():
            page.locator("button.add-slot").first.click()
        expect(page.locator("button.add-slot")).to_have_count(0)
        check(page, f"{plural}-editor-{step['key']}-open")
        # The step navigation and Save stay in view while the form scrolls.
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        expect(page.get_by_role("navigation", name="Steps")).to_be_in_viewport()
        expect(page.locator("#save")).to_be_in_viewport()


def test_the_proposals_page_passes_axe_and_fits(page: Page, web_server: LiveServer, api: Api, dialect):
    fill_every_kind(api)
    sign_in(page, web_server, api.key)
    visit(page, f"{web_server.url}/#/proposals")
    expect(page.locator("article.proposal")).to_have_count(1)
    check(page, "proposals")


def test_an_artifact_page_shows_its_values_proposals_and_changes(page: Page, web_server: LiveServer, api: Api, dialect):
    ids = fill_every_kind(api)
    sign_in(page, web_server, api.key)
    page.get_by_role("link", name="Museum guide", exact=True).click()
    expect(page.get_by_role("heading", name="Museum guide", level=1)).to_be_visible()
    # A new page takes the focus for screen readers, and shows no ring around the whole page for it.
    expect(page.locator("main")).to_be_focused()
    assert page.evaluate("getComputedStyle(document.getElementById('main')).outlineStyle") == "none"
    values = page.locator("dl.values")
    expect(values.locator(".swatch").first).to_be_visible()
    icon = values.locator("img.icon")
    expect(icon).to_have_attribute("src", re.compile(r"^data:image/svg\+xml;base64,"))
    expect(icon).to_have_attribute("alt", "Icon of Museum guide")
    assert page.locator("main svg").count() == 0  # an image, never markup in the page
    expect(values.locator("mark.var")).to_have_text(["{{museum}}", "{{language}}", "{{museum}}", "{{language}}"])
    expect(values).to_contain_text("missing")  # {{language}} has no parameter field
    expect(values.locator(".badge.flag")).to_have_text("Active")  # not {"type":"persona_active",...}
    expect(page.locator("main")).not_to_contain_text("persona_active")
    proposals = page.get_by_role("region", name=re.compile("Proposals waiting"))
    expect(proposals).to_contain_text("AI agent")
    expect(proposals).to_contain_text("Description")
    changes = page.get_by_role("region", name="Recent changes")
    expect(changes).to_contain_text("Proposed a change")
    expect(changes).to_contain_text("Created by")
    # The history endpoint answers now, so its section shows the artifact's first version.
    expect(page.get_by_role("region", name="History and labels")).to_contain_text("Revisions")
    # From the review queue, the artifact is one click away.
    page.get_by_role("link", name=re.compile("^Review queue")).click()
    page.locator("article.proposal").get_by_role("link", name="Museum guide").click()
    expect(page.get_by_role("heading", name="Museum guide", level=1)).to_be_visible()
    assert ids["personas"] in page.url


def test_history_labels_and_the_shared_queue_light_up_when_the_server_has_them(
    page: Page, web_server: LiveServer, api: Api, dialect
):
    """The shapes of API.md sections 8 and 9, answered here by the browser, as the merged server will."""
    ids = fill_every_kind(api)
    persona = ids["personas"]
    history = {
        "persona_id": persona,
        "total_count": 2,
        "revisions": [
            {
                "version": 2,
                "created_at": "2026-11-30T10:00:00Z",
                "operation": "update",
                "message": "Warmer voice",
                "author": {"profile_id": "p1", "name": "Grace", "type": "person"},
                "via_agent": False,
                "approved_by": None,
                "labels": ["production"],
            },
            {
                "version": 1,
                "created_at": "2026-11-29T10:00:00Z",
                "operation": "create",
                "message": None,
                "author": {"profile_id": "p2", "name": "Scout", "type": "agent"},
                "via_agent": True,
                "approved_by": {"profile_id": "p1", "name": "Grace", "type": "person"},
                "labels": [],
            },
        ],
    }
    queue = {
        "total_count": 1,
        "proposals": [
            {
                "proposal_id": "x",
                "draft_id": "d",
                "kind": "persona",
                "artifact_id": persona,
                "artifact_name": "Museum guide",
                "proposer": {"profile_id": "p2", "name": "Scout", "type": "agent"},
                "via_agent": True,
                "created_at": "2026-11-30T11:00:00Z",
                "status": "waiting",
                "base_version": 1,
                "decided_by": None,
                "decided_at": None,
                "reason": None,
                "changes": [{"field": "description", "now": "Greets visitors", "proposed": "Greets visitors warmly"}],
            }
        ],
    }
    labelled: list[dict[str, Any]] = []

    def answer(body: Any) -> Any:
        return lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    def label(route: Route) -> None:
        labelled.append(route.request.post_data_json)
        route.fulfill(status=200, content_type="application/json", body=json.dumps({"success": True}))

    page.route("**/api/v5/artifacts/personas/history", answer(history))
    page.route("**/api/v5/proposals/search", answer(queue))
    page.route("**/api/v5/artifacts/personas/label", label)
    sign_in(page, web_server, api.key)
    visit(page, f"{web_server.url}/#/k/personas/view/{persona}")
    section = page.get_by_role("region", name="History and labels")
    expect(section).to_contain_text("production → v2")
    expect(section.get_by_role("row", name=re.compile(r"^1 "))).to_contain_text("Scout")
    expect(section.get_by_role("row", name=re.compile(r"^1 "))).to_contain_text("Grace")
    proposals = page.get_by_role("region", name=re.compile("Proposals waiting"))
    expect(proposals).to_contain_text("Scout")
    expect(proposals).to_contain_text("Greets visitors warmly")
    # What runs comes first: each label and its version, and whether the latest is live anywhere.
    runs = page.get_by_role("region", name="What runs")
    expect(runs).to_contain_text("production → version 2 (the latest)")
    expect(page.locator("#latest-live")).to_have_text("The latest version, 2, is live as production.")
    use = page.get_by_role("region", name="Use it")
    expect(use).to_contain_text(f"/api/v5/resolve/personas/{persona}?label=production")
    expect(use).to_contain_text("curl -H")
    expect(use).to_contain_text("loomwork.resolve(")
    expect(use).to_contain_text('import { Client } from "loomwork-client"')  # the TypeScript client's call too
    expect(use).to_contain_text(f"loomwork://personas/{persona}@production")
    check(page, "personas-view-with-history")
    section.get_by_label("Label").fill("staging")
    section.get_by_label("Version").select_option("1")
    section.get_by_role("button", name="Point label").click()
    expect(page.locator("#flash")).to_contain_text("staging")
    assert labelled == [{"persona_id": persona, "label": "staging", "version": 1}]


def test_a_viewer_reads_the_artifact_page_without_edit_buttons(
    page: Page, web_server: LiveServer, api: Api, make_api, dialect
):
    ids = fill_every_kind(api)
    viewer = make_api("viewer")
    sign_in(page, web_server, viewer.key)
    page.get_by_role("link", name="View Museum guide").click()
    expect(page.get_by_role("heading", name="Museum guide", level=1)).to_be_visible()
    expect(page.get_by_role("region", name="Recent changes")).to_contain_text("Created by")
    expect(page.get_by_role("link", name="Edit persona")).to_have_count(0)
    assert ids["personas"] in page.url


def test_history_not_found_and_a_filtered_list_pass_axe_and_fit(page: Page, web_server: LiveServer, api: Api, dialect):
    """The pages issue 31 added or reshaped: the history with its compare and label confirmation, the
    not-found page, a list filtered by a facet (its chips) and the review queue with a decided card."""
    ids = fill_every_kind(api)
    persona = ids["personas"]
    api.ok("personas", "update", {"personas": [{"persona_id": persona, "description": "Greets visitors warmly."}]})
    sign_in(page, web_server, api.key)
    visit(page, f"{web_server.url}/#/k/personas/history/{persona}")
    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page.locator("#diff-result")).to_be_visible()
    check(page, "personas-history")
    page.get_by_label("Label", exact=True).fill("staging")  # an editor's label (production needs an admin)
    page.get_by_label("Version", exact=True).select_option("1")
    page.get_by_role("button", name="Move label").click()
    page.get_by_role("dialog").get_by_role("button", name="Move staging").click()
    expect(page.locator(".label-pins")).to_contain_text("staging→ version 1")
    page.get_by_label("Label", exact=True).fill("staging")
    page.get_by_role("button", name="Move label").click()  # to version 2: the confirmation shows the diff
    expect(page.locator("#label-diff")).to_be_visible()
    # A modal covers the page on purpose: axe-core only, and the dialog's own controls inside the window.
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        violations = [v["id"] for v in AXE.run(page).response["violations"] if v["impact"] in ("serious", "critical")]
        assert violations == [], f"label confirmation at {width}px: {violations}"
        for button in page.get_by_role("dialog").get_by_role("button").all():
            expect(button).to_be_in_viewport()
        shot(page, f"every-personas-history-label-confirm-{width}")
    page.set_viewport_size({"width": WIDTHS[0][0], "height": WIDTHS[0][1]})
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    visit(page, f"{web_server.url}/#/k/personas/view/00000000-0000-4000-8000-000000000000")
    check(page, "not-found")
    visit(page, f"{web_server.url}/#/k/personas")
    page.get_by_label("Education (1)").check()
    expect(page.locator("#active-filters")).to_be_visible()
    check(page, "personas-list-filtered")
    visit(page, f"{web_server.url}/#/proposals?status=")
    check(page, "proposals-all")
