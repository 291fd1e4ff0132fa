"""The pages in a real browser (Debian's chromium under Playwright) against the real server: sign in
and out, create a persona through the editor, find it by search and facet, accept a proposal an
agent made over MCP, and see a conflict when two tabs edit one draft. Screenshots go to
tests/artifacts/. SQLite only: the subject here is the pages, and the API they call is tested on both
databases elsewhere."""

from __future__ import annotations

import re
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client
from playwright.sync_api import Page, expect

from conftest import Api, run_async
from mcp import Client
from web.conftest import LiveServer, shot

pytestmark = pytest.mark.sqlite_only

ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4" fill="#2456c9"/></svg>'


def sign_in(page: Page, server: LiveServer, key: str) -> None:
    page.goto(f"{server.url}/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Personas", exact=True)).to_be_visible()


def test_a_person_signs_in_with_a_key_and_signs_out(page: Page, context, web_server: LiveServer, api: Api, dialect):
    page.goto(f"{web_server.url}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API key").fill("lw_wrong_key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    shot(page, "sign-in")
    sign_in(page, web_server, api.key)
    (cookie,) = context.cookies()
    assert cookie["name"] == "lw_session" and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # no script on the page can read the session
    assert api.key not in page.content()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # the server ended the session


def test_a_persona_is_made_step_by_step_through_a_draft(page: Page, web_server: LiveServer, api: Api, dialect):
    sign_in(page, web_server, api.key)
    page.get_by_role("link", name="New persona").click()
    expect(page.get_by_role("heading", name="Basic information")).to_be_visible()
    page.get_by_label("New name").fill("Ada")
    page.get_by_label("New name").press("Enter")  # the keyboard alone is enough
    expect(page.locator("#draft-version")).to_contain_text("Draft version 2")
    page.get_by_role("button", name="Add color").click()  # an empty optional slot is one button until opened
    page.get_by_label("Pick a color").fill("#ff8800")
    page.locator("#slot-color").get_by_role("button", name="Use").click()
    expect(page.locator("#slot-color")).to_contain_text("#ff8800")
    expect(page.locator("#draft-version")).to_contain_text("Draft version 3")
    page.get_by_role("button", name="Add icon").click()
    page.get_by_label("New icon (SVG markup)").fill(ICON)
    page.locator("#slot-icon").get_by_role("button", name="Use").click()
    icon = page.locator("#slot-icon img.icon")
    expect(icon).to_have_attribute("src", re.compile(r"^data:image/svg\+xml;base64,"))
    assert page.locator("main svg").count() == 0  # shown as an image, never as markup in the page
    shot(page, "editor-basic")

    page.get_by_role("link", name="2. Content").click()
    page.get_by_role("button", name="Add instruction").click()
    page.get_by_label("New instruction").fill("Guide visitors around {{city}}.")
    page.locator("#slot-instructions").get_by_role("button", name="Use").click()
    expect(page.locator("#draft-version")).to_contain_text("Draft version 5")
    page.get_by_role("button", name="Add department").click()
    page.get_by_label("New department").fill("Tourism")
    page.locator("#slot-department").get_by_role("button", name="Add").click()
    expect(page.locator("#draft-version")).to_contain_text("Draft version 6")
    page.locator("#slot-department").get_by_role("button", name="Mark pending").click()
    expect(page.locator("#slot-department .badge.pending")).to_have_text("pending")
    shot(page, "editor-content")

    page.get_by_role("link", name="3. Parameters").click()
    expect(page.locator("#parameters")).to_contain_text("missing")
    page.get_by_role("button", name="Add city as a parameter field").click()
    expect(page.locator("#parameters")).to_contain_text("mapped")
    shot(page, "editor-parameters")
    page.get_by_role("button", name="Create persona").click()
    expect(page.locator("#flash")).to_contain_text("Saved the persona")
    expect(page.locator("tbody tr")).to_have_count(1)

    (row,) = api.ok("personas", "search", {"search": "Ada"})["personas"]
    assert (row["name"], row["color"], row["parameter_fields"]) == ("Ada", "#ff8800", ["city"])
    view = api.ok("personas", "get", {"persona_id": row["persona_id"]})
    (department,) = [o for o in view["departments"]["options"] if o["selected"]]
    assert department["pending"] and department["value"] == "Tourism"  # pending stays out of the live form
    assert row["departments"] == []


def test_a_persona_is_found_by_search_facet_and_page(page: Page, web_server: LiveServer, api: Api, dialect):
    items = [{"name": f"Guide {i:02}", "departments": ["Sales" if i % 3 == 0 else "Support"]} for i in range(12)]
    assert all(r["success"] for r in api.ok("personas", "create", {"personas": items})["results"])
    api.create("personas", name="Ada Lovelace", departments=["Research"])
    sign_in(page, web_server, api.key)
    expect(page.locator("#total")).to_have_text("13 personas")
    page.get_by_label("Search personas").fill("lovelace")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#total")).to_have_text("1 persona")
    expect(page.locator("tbody")).to_contain_text("Ada Lovelace")
    page.get_by_label("Search personas").fill("")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#total")).to_have_text("13 personas")
    sales = page.get_by_label("Sales (4)")
    expect(page.get_by_label("Support (8)")).to_be_visible()
    sales.check()
    expect(page.locator("#total")).to_have_text("4 personas")
    expect(page.get_by_label("Support (8)")).to_be_visible()  # disjunctive: what choosing it would add
    shot(page, "list-facet")
    sales.uncheck()
    expect(page.locator("#total")).to_have_text("13 personas")
    page.get_by_label("Per page").select_option("10")
    expect(page.locator("#range")).to_have_text("1–10 of 13")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#range")).to_have_text("11–13 of 13")
    expect(page.locator("tbody tr")).to_have_count(3)
    shot(page, "list-page-2")


def propose_over_mcp(server: LiveServer, key: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """An agent's proposal through the real MCP endpoint, with the SDK's own client (in its own thread,
    so its event loop never meets Playwright's)."""
    answer: dict[str, Any] = {}

    async def agent() -> None:
        with anyio.fail_after(60):
            http = httpx2.AsyncClient(headers={"X-Api-Key": key}, timeout=60)  # a busy CI machine is slow
            async with Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client:
                # The compact tool set (the default): the kind is an argument, the fields go in `changes`.
                changes = {k: v for k, v in arguments.items() if k != "persona_id"}
                request = {"kind": "personas", "changes": changes}
                if "persona_id" in arguments:
                    request["id"] = arguments["persona_id"]
                result = await client.call_tool("propose", request)
                assert not result.is_error, result.content[0].text
                answer.update(result.structured_content)

    run_async(agent)
    return answer


def test_a_proposal_an_agent_made_over_mcp_is_accepted_in_the_review_queue(
    page: Page, web_server: LiveServer, api: Api, make_api, dialect
):
    persona_id = api.create("personas", name="Archivist", description="Finds documents")
    proposal = propose_over_mcp(web_server, api.key, {"persona_id": persona_id, "description": "Finds and cites"})
    reviewer = make_api("editor", name="Grace")  # not the draft's owner: the queue is the group's
    sign_in(page, web_server, reviewer.key)
    page.get_by_role("link", name="Review queue").click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    card = page.locator("article.proposal")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("AI agent")
    row = card.get_by_role("row", name="Description")  # a single slot goes by its own name
    # One text with its changed words marked in place: "Finds" kept, "documents" out, "and cites" in.
    expect(row.locator("del")).to_have_text("documents")
    expect(row.locator("ins")).to_have_text("and cites")
    shot(page, "proposals")
    card.get_by_role("button", name="Accept proposal for persona “Archivist”").click()
    # The answer stands where the card was, not at the top of the page.
    expect(page.locator(".decided-note")).to_contain_text("Accepted the proposal and committed persona version 2")
    expect(page.locator("#no-proposals")).to_be_visible()
    (row,) = api.ok("personas", "search", {})["personas"]
    assert row["description"] == "Finds and cites" and row["version"] == 2  # saved at once: an agent's draft

    page.get_by_label("Status").select_option("accepted")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Accepted by Grace")
    # The decided card still shows the change it made (the value it was decided against, frozen), with the
    # changed words marked, not today's value against itself.
    row = card.get_by_role("row", name="Description")
    expect(row.locator("del")).to_have_text("documents")
    expect(row.locator("ins")).to_have_text("and cites")
    assert api.ok("personas", "drafts")["entries"][0]["draft_id"] == proposal["draft_id"]


def test_a_reviewer_rejects_a_proposal_with_a_reason_and_the_queue_says_who(
    page: Page, web_server: LiveServer, api: Api, make_api, dialect
):
    api.as_agent().ok("personas", "draft", {"name": "Shouty", "icon": ICON}, method="PATCH")
    api.as_agent().ok("tools", "draft", {"name": "other_tool"}, method="PATCH")
    reviewer = make_api("editor", name="Linus")
    sign_in(page, web_server, reviewer.key)
    page.get_by_role("link", name="Review queue").click()
    expect(page.locator("article.proposal")).to_have_count(2)
    page.get_by_label("Kind").select_option("persona")
    card = page.locator("article.proposal")
    expect(card).to_have_count(1)
    expect(card.get_by_role("row", name="Icon").locator("img")).to_have_count(1)  # an image, never markup
    card.get_by_text("Add a reason").click()  # the reason box opens on demand
    card.get_by_label("Reason for proposal for persona “Shouty”").fill("Too loud")
    card.get_by_role("button", name="Reject proposal for persona “Shouty”").click()
    expect(page.locator(".decided-note")).to_contain_text("Rejected the proposal")
    expect(page.locator("#no-proposals")).to_be_visible()
    page.get_by_label("Status").select_option("rejected")
    expect(card).to_contain_text("Rejected by Linus")
    expect(card).to_contain_text("Reason: Too loud")
    shot(page, "proposals-rejected")
    assert reviewer.post("/api/v5/resources/names/search", {"search": "shouty"}).json()["total_count"] == 0


def test_two_tabs_editing_one_draft_see_a_conflict_and_reload(
    context, page: Page, web_server: LiveServer, api: Api, dialect
):
    draft = api.ok("personas", "draft", {"name": "Ada"}, method="PATCH")
    sign_in(page, web_server, api.key)
    editor = f"{web_server.url}/#/k/personas/draft/{draft['draft_id']}?step=content"
    page.goto(editor)
    other = context.new_page()
    other.goto(editor)
    for tab in (page, other):
        expect(tab.locator("#draft-version")).to_contain_text("Draft version 1")
    other.get_by_role("button", name="Add department").click()
    other.get_by_label("New department").fill("Sales")
    other.locator("#slot-department").get_by_role("button", name="Add").click()
    expect(other.locator("#draft-version")).to_contain_text("Draft version 2")

    page.get_by_role("button", name="Add voice").click()
    page.get_by_label("New voice").fill("Calm")
    page.locator("#slot-voice").get_by_role("button", name="Add").click()
    expect(page.locator("#conflict")).to_contain_text("version 2, but this page shows version 1")
    shot(page, "editor-conflict")
    page.get_by_role("button", name="Reload draft").click()
    expect(page.locator("#draft-version")).to_contain_text("Draft version 2")
    expect(page.locator("#slot-department")).to_contain_text("Sales")
    page.get_by_label("New voice").fill("Calm")
    page.locator("#slot-voice").get_by_role("button", name="Add").click()
    expect(page.locator("#draft-version")).to_contain_text("Draft version 3")
    state = api.ok("personas", "draft", {"draft_id": draft["draft_id"]}, method="PATCH")["form_state"]
    assert (state["departments"], state["voices"]) == (["Sales"], ["Calm"])


def test_export_duplicate_delete_with_confirmation_and_docs(page: Page, web_server: LiveServer, api: Api, dialect):
    api.create("personas", name="Archivist", departments=["Research"])
    sign_in(page, web_server, api.key)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    assert "Archivist" in download.value.path().read_text()
    page.get_by_role("button", name="Duplicate Archivist").click()
    expect(page.locator("tbody")).to_contain_text("Archivist (copy)")
    page.get_by_role("button", name="Delete Archivist (copy)").click()
    expect(page.get_by_role("dialog")).to_contain_text("Delete the persona “Archivist (copy)”?")
    shot(page, "list-delete-confirm")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#total")).to_have_text("2 personas")
    page.get_by_role("button", name="Delete Archivist (copy)").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.locator("#flash")).to_contain_text("Deleted persona")
    expect(page.locator("#total")).to_have_text("1 persona")
    page.get_by_role("link", name="Docs").click()
    expect(page.get_by_role("heading", name="Persona docs")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(r"^refresh POST"))).to_contain_text("admin")
    shot(page, "docs-personas")


def test_every_kind_has_its_list_editor_steps_and_docs(page: Page, web_server: LiveServer, api: Api, dialect):
    sign_in(page, web_server, api.key)
    for title in ("Tool", "Eval", "Invocation"):
        page.get_by_role("link", name=f"{title}s", exact=True).click()
        expect(page.get_by_role("heading", name=f"{title}s", exact=True)).to_be_visible()
        shot(page, f"list-{title}s")
        page.get_by_role("link", name=f"New {title.lower()}").click()
        steps = page.get_by_role("navigation", name="Steps").get_by_role("link")
        expect(steps).to_have_count(3)
        for index in range(3):
            steps.nth(index).click()
            expect(page.locator("fieldset").first).to_be_visible()
            shot(page, f"editor-{title}s-step-{index + 1}")
    # A reference (a model's flag) is chosen from the catalogs it points at, never typed as ids.
    api.post("/api/v5/resources/models/create", {"models": ["gpt-4o"]})
    page.get_by_role("link", name="Evals", exact=True).click()
    page.get_by_role("link", name="New eval").click()
    page.get_by_role("link", name="3. Models").click()
    page.get_by_role("button", name="Add model flag").click()
    page.get_by_label("Model flag model").select_option(label="gpt-4o")
    page.get_by_label("Model flag flag").select_option(label="eval_role: judge")
    page.locator("#slot-model_flag").get_by_role("button", name="Add").click()
    expect(page.locator("#slot-model_flag")).to_contain_text("gpt-4o · eval_role: judge")
    # A structured value (a tool's argument) is made in its catalog and chosen, and the schema shows it.
    page.get_by_role("link", name="Tools", exact=True).click()
    page.get_by_role("link", name="New tool").click()
    page.get_by_role("link", name="3. Arguments").click()
    page.get_by_role("button", name="Add arg", exact=True).click()
    page.get_by_label("Arg name").fill("query")
    page.get_by_label("Arg type").select_option("string")
    page.locator("#slot-arg").get_by_role("button", name="Add").click()
    expect(page.locator("#slot-arg")).to_contain_text("query: string")
    expect(page.locator("pre")).to_contain_text('"query"')


def test_the_list_and_the_editor_fit_a_phone_screen(page: Page, web_server: LiveServer, api: Api, dialect):
    api.create("personas", name="Archivist with a rather long name for a small screen", departments=["Research"])
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, web_server, api.key)
    fits = "document.documentElement.scrollWidth <= window.innerWidth"
    shot(page, "phone-list")
    wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right >
        window.innerWidth).map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)""")
    assert page.evaluate(fits), f"the list page scrolls sideways on a phone: {wide}"
    page.get_by_role("link", name="Edit Archivist with a rather long name for a small screen").click()
    expect(page.get_by_role("heading", name="Basic information")).to_be_visible()
    assert page.evaluate(fits), "the editor scrolls sideways on a phone"
    shot(page, "phone-editor")
    first_draft = page.url
    page.get_by_role("link", name="Back to list").click()
    page.get_by_role("link", name="Edit Archivist with a rather long name for a small screen").click()
    expect(page.get_by_role("heading", name="Basic information")).to_be_visible()
    assert page.url == first_draft  # Edit again resumes the open draft instead of starting another
