"""Try a persona through an invocation (API.md section 15), against the OpenAI-compatible stub: what the stub
receives (filled instructions, tools as functions, the invocation's model and parameters), a streamed run, who
may run, a failing endpoint, the stored runs, and another group's ids."""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from conftest import Api, assert_error
from generation.stub import MODEL, SECRET, Stub, make_generator, stub_model_server
from loomwork.audit.models import AuditEvent
from loomwork.db.database import Database

PROMPT = "You help {{customer}} with {{topic}}. Be brief."


@pytest.fixture(scope="module")
def stub_server() -> Iterator[tuple[str, list[Stub]]]:
    with stub_model_server() as served:
        yield served


@pytest.fixture
def stub(stub_server: tuple[str, list[Stub]]) -> Stub:
    fresh = Stub(raw="Hello Ada, here is your answer.")
    stub_server[1][0] = fresh
    return fresh


@pytest.fixture
def stub_url(stub_server: tuple[str, list[Stub]], client: Any) -> str:
    client.app.state.settings = dataclasses.replace(
        client.app.state.settings, allow_private_urls=True, generator_timeout_s=1.0, generator_retries=0
    )
    return stub_server[0] + "/v1"


@pytest.fixture
def admin(make_api: Any) -> Api:
    return make_api("admin")


@pytest.fixture
def invocation(admin: Api, stub_url: str) -> str:
    return make_generator(admin, stub_url)


@pytest.fixture
def persona(api: Api) -> str:
    return api.create("personas", name="Guide", instructions=PROMPT)


def try_body(persona_id: str, invocation_id: str, **more: Any) -> dict[str, Any]:
    return {
        "persona_id": persona_id,
        "invocation_id": invocation_id,
        "variables": {"customer": "Ada", "topic": "maths"},
        "messages": [{"role": "user", "content": "What is 2 + 2?"}],
        **more,
    }


def run(who: Api, body: dict[str, Any]) -> Any:
    return who.post("/api/v5/artifacts/personas/try", body)


def test_the_variables_are_filled_and_the_invocation_configures_the_call(
    api: Api, db: Database, stub: Stub, persona: str, invocation: str
) -> None:
    response = run(api, try_body(persona, invocation))
    assert response.status_code == 200, response.text
    answer = response.json()
    [call] = stub.received
    assert call["authorization"] == f"Bearer {SECRET}"
    sent = call["body"]
    assert sent["model"] == MODEL and sent["temperature"] == 0.3 and sent["reasoning_effort"] == "low"
    assert sent["messages"] == [
        {"role": "system", "content": "You help Ada with maths. Be brief."},
        {"role": "user", "content": "What is 2 + 2?"},
    ]
    assert "tools" not in sent and not sent.get("stream")
    assert answer["system"] == "You help Ada with maths. Be brief."
    assert answer["reply"] == {"content": "Hello Ada, here is your answer.", "tool_calls": []}
    assert answer["persona"] == {"id": persona, "version": 1, "label": None}
    assert answer["invocation"] == {"id": invocation, "version": 1}
    assert answer["usage"] == {"prompt_tokens": 11, "completion_tokens": 7}
    assert answer["latency_ms"] >= 0
    with db.transaction(write=False) as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "try")).one()
    assert event.changes["run_id"] == answer["run_id"] and event.changes["prompt_tokens"] == 11
    assert event.changes["invocation_version"] == 1 and event.changes["persona_version"] == 1


def test_a_missing_variable_is_422_naming_it_and_nothing_is_sent(
    api: Api, stub: Stub, persona: str, invocation: str
) -> None:
    body = try_body(persona, invocation, variables={"customer": "Ada"})
    error = assert_error(run(api, body), 422)
    assert "topic" in error["detail"]
    assert stub.received == []


def test_a_label_and_a_version_pick_the_instructions(api: Api, stub: Stub, persona: str, invocation: str) -> None:
    api.ok("personas", "update", {"personas": [{"persona_id": persona, "instructions": "Now for {{customer}}."}]})
    api.ok("personas", "label", {"persona_id": persona, "label": "staging", "version": 1})
    old = run(api, try_body(persona, invocation, label="staging")).json()
    new = run(api, try_body(persona, invocation)).json()
    assert old["system"] == "You help Ada with maths. Be brief." and old["persona"]["label"] == "staging"
    assert new["system"] == "Now for Ada." and new["persona"]["version"] == 2


def test_a_draft_runs_its_own_form_and_only_for_its_owner(
    api: Api, make_api: Any, stub: Stub, persona: str, invocation: str
) -> None:
    draft = api.op(
        "personas", "draft", {"persona_id": persona, "instructions": "Draft for {{customer}}."}, method="PATCH"
    ).json()
    body = try_body(None, invocation, draft_id=draft["draft_id"])  # type: ignore[arg-type]
    del body["persona_id"]
    answer = run(api, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["system"] == "Draft for Ada."
    assert answer.json()["persona"] == {"id": persona, "version": None, "label": None}
    assert_error(run(make_api("editor"), body), 404)


def test_tools_are_sent_as_functions_and_tool_calls_come_back(
    api: Api, stub: Stub, persona: str, invocation: str
) -> None:
    tool_id = api.create(
        "tools",
        name="lookup",
        description="Finds a city.",
        args_drafts=[{"name": "city", "type": "string", "position": 0}],
    )
    stub.raw = ""
    stub.tool_calls = [{"name": "lookup", "arguments": '{"city": "Paris"}'}]
    answer = run(api, try_body(persona, invocation, tool_ids=[tool_id]))
    assert answer.status_code == 200, answer.text
    [tool] = stub.received[0]["body"]["tools"]
    assert tool["type"] == "function"
    function = tool["function"]
    assert function["name"] == "lookup" and function["description"] == "Finds a city."
    assert function["parameters"]["properties"]["city"]["type"] == "string"
    assert answer.json()["reply"]["tool_calls"] == [{"name": "lookup", "arguments": {"city": "Paris"}}]


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_a_streamed_run_sends_the_deltas_then_the_run(api: Api, stub: Stub, persona: str, invocation: str) -> None:
    stub.pieces = ["Hel", "lo ", "Ada."]
    with api.client.stream(
        "POST", "/api/v5/artifacts/personas/try", json=try_body(persona, invocation, stream=True), headers=api.headers
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    events = parse_sse(text)
    assert [e for e in events if e[0] == "delta"] == [("delta", {"content": p}) for p in ("Hel", "lo ", "Ada.")]
    name, last = events[-1]
    assert name == "run"
    assert last["reply"]["content"] == "Hello Ada." and last["usage"] == {"prompt_tokens": 11, "completion_tokens": 7}
    assert stub.received[0]["body"]["stream"] is True
    runs = api.ok("personas", "runs", {"persona_id": persona})
    assert runs["runs"][0]["run_id"] == last["run_id"]


def test_agents_and_viewers_are_refused(api: Api, make_api: Any, stub: Stub, persona: str, invocation: str) -> None:
    assert_error(run(api.as_agent(), try_body(persona, invocation)), 403, "agent_refused")
    assert_error(run(make_api("viewer"), try_body(persona, invocation)), 403)
    assert stub.received == []


def test_a_failing_endpoint_is_502_without_the_key(api: Api, stub: Stub, persona: str, invocation: str) -> None:
    encoded = base64.b64encode(SECRET.encode()).decode()
    stub.status = 401
    stub.error = f"Incorrect API key {SECRET[:14]}... (sent {encoded}) rejected"
    error = assert_error(run(api, try_body(persona, invocation)), 502, "invocation_failed")
    assert "HTTP 401" in error["detail"] and "rejected" in error["detail"]
    for part in (SECRET, SECRET[:14], encoded, encoded[8:24]):
        assert part not in error["detail"]
    assert api.ok("personas", "runs", {"persona_id": persona})["runs"] == []  # nothing stored


def test_runs_are_listed_newest_first_with_input_and_reply(
    api: Api, make_api: Any, stub: Stub, persona: str, invocation: str
) -> None:
    first = run(api, try_body(persona, invocation)).json()
    stub.raw = "Second answer."
    second = run(api, try_body(persona, invocation, messages=[{"role": "user", "content": "And 3 + 3?"}])).json()
    listed = make_api("viewer").ok("personas", "runs", {"persona_id": persona})
    assert listed["total_count"] == 2
    assert [r["run_id"] for r in listed["runs"]] == [second["run_id"], first["run_id"]]
    newest = listed["runs"][0]
    assert newest["input"]["messages"] == [{"role": "user", "content": "And 3 + 3?"}]
    assert newest["input"]["variables"] == {"customer": "Ada", "topic": "maths"}
    assert newest["reply"]["content"] == "Second answer."
    page = api.ok("personas", "runs", {"persona_id": persona, "page_size": 1, "page_offset": 1})
    assert [r["run_id"] for r in page["runs"]] == [first["run_id"]]


def test_another_groups_persona_or_invocation_is_404(
    api: Api, make_api: Any, stub: Stub, stub_url: str, persona: str, invocation: str
) -> None:
    other = make_api("admin", group="other")
    their_persona = other.create("personas", name="Theirs", instructions="Hi.")
    their_invocation = make_generator(other, stub_url)
    assert_error(run(api, try_body(their_persona, invocation)), 404)
    assert_error(run(api, try_body(persona, their_invocation)), 404)
    assert_error(api.op("personas", "runs", {"persona_id": their_persona}), 404)
    assert stub.received == []


def test_the_key_goes_only_to_its_bound_origin(
    api: Api, admin: Api, stub: Stub, stub_url: str, persona: str, invocation: str
) -> None:
    elsewhere = stub_url.replace("127.0.0.1", "localhost")  # the same stub under another origin
    moved = admin.ok("invocations", "update", {"invocations": [{"invocation_id": invocation, "endpoint": elsewhere}]})
    assert moved["results"][0]["success"], moved
    assert_error(run(api, try_body(persona, invocation)), 409, "key_origin_mismatch")
    assert stub.received == []


def test_the_runs_table_migrates_down_and_up(api: Api, db: Database, stub: Stub, persona: str, invocation: str) -> None:
    from alembic import command

    from loomwork.db.migrate import alembic_config, upgrade

    assert run(api, try_body(persona, invocation)).status_code == 200
    config = alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0020")
    upgrade(db.engine)
    assert api.ok("personas", "runs", {"persona_id": persona})["runs"] == []
    assert run(api, try_body(persona, invocation)).status_code == 200
    assert len(api.ok("personas", "runs", {"persona_id": persona})["runs"]) == 1


def test_tries_share_generations_limits(api: Api, client: Any, stub: Stub, persona: str, invocation: str) -> None:
    """One budget of outbound model calls: a generation under way counts against a try, and the other way."""
    from loomwork.generation.service import SLOTS

    client.app.state.settings = dataclasses.replace(client.app.state.settings, max_generations=1)
    with SLOTS.hold(uuid.uuid4(), client.app.state.settings):  # a generation of another group, under way
        assert_error(run(api, try_body(persona, invocation)), 429, "too_many_generations")
    assert stub.received == []
    assert run(api, try_body(persona, invocation)).status_code == 200
