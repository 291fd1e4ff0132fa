"""Generate with AI (API.md section 11), against an OpenAI-compatible stub on 127.0.0.1 that checks what
it receives: each step of each kind, the flags, agents, failures that write nothing, the key, private
addresses and the audit event."""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from sqlalchemy import func, select

from conftest import Api, assert_error
from generation.stub import MODEL, SECRET, Stub, make_generator, stub_model_server
from loomwork.audit.models import AuditEvent
from loomwork.db.database import Database
from loomwork.engine.models import Draft, DraftEntry
from loomwork.kinds import ARTIFACT_KINDS
from loomwork.resources.models import Resource

SAMPLES: dict[str, Any] = {  # a valid value per resource kind that is not plain text
    "color": "#336699",
    "icon": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><circle cx="4" cy="4" r="3"/></svg>',
    "arg": {"name": "city", "type": "string", "description": "The city", "required": True},
    "args_output": {"name": "forecast", "type": "string", "description": "The forecast"},
}
STEPS = [(kind, step) for kind in ARTIFACT_KINDS for step in kind.steps if kind.generated_slots(step)]


def proposed_values(kind: Any, step: str) -> dict[str, Any]:
    answer = {}
    for slot in kind.generated_slots(step):
        value = SAMPLES.get(slot.resource, f"Generated {slot.key}")
        answer[slot.value_field] = [value] if slot.many else value
    return answer


@pytest.fixture(scope="module")
def stub_server() -> Iterator[tuple[str, list[Stub]]]:
    with stub_model_server() as served:
        yield served


@pytest.fixture
def stub(stub_server: tuple[str, list[Stub]]) -> Stub:
    fresh = Stub()
    stub_server[1][0] = fresh
    return fresh


@pytest.fixture
def stub_url(stub_server: tuple[str, list[Stub]]) -> str:
    return stub_server[0] + "/v1"


@pytest.fixture
def private_ok(client: Any) -> None:
    """The stub is on loopback, which only an operator's LOOMWORK_ALLOW_PRIVATE_URLS=1 allows."""
    client.app.state.settings = dataclasses.replace(
        client.app.state.settings, allow_private_urls=True, generator_timeout_s=1.0, generator_retries=0
    )


def configure(admin: Api, invocation_id: str | None) -> Any:
    body = {"ai_generator": {"invocation_id": invocation_id} if invocation_id else None}
    return admin.post("/api/v5/settings/update", body)


@pytest.fixture
def admin(make_api: Any) -> Api:
    return make_api("admin")


@pytest.fixture
def generator(admin: Api, stub_url: str, private_ok: None) -> str:
    invocation_id = make_generator(admin, stub_url)
    response = configure(admin, invocation_id)
    assert response.status_code == 200, response.text
    return invocation_id


def row_counts(db: Database) -> dict[str, int]:
    with db.transaction(write=False) as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Resource, Draft, DraftEntry, AuditEvent)
        }


@pytest.mark.parametrize(("kind", "step"), STEPS, ids=[f"{k.name}-{s}" for k, s in STEPS])
def test_each_step_drafts_a_proposal_a_person_accepts_and_commits(
    api: Api, stub: Stub, generator: str, kind: Any, step: str
) -> None:
    artifact_id = api.create(kind.plural, name=f"A {kind.name} to improve")
    stub.answer = proposed_values(kind, step)

    response = api.op(kind.plural, "generate", {kind.id_field: artifact_id, "step": step, "hint": "make it concise"})

    assert response.status_code == 200, response.text
    drafted = response.json()
    [proposal] = drafted["form_state"]["proposals"]
    assert proposal["via_agent"] is True and proposal["actor_name"] == "AI generator"
    assert set(proposal["changes"]) == set(stub.answer)
    # The stub saw the invocation's own configuration and the step's schema.
    [call] = stub.received
    assert call["authorization"] == f"Bearer {SECRET}"
    assert call["body"]["model"] == MODEL and call["body"]["temperature"] == 0.3
    assert call["body"]["reasoning_effort"] == "low"
    schema = call["body"]["response_format"]["json_schema"]["schema"]
    assert set(schema["properties"]) == {slot.value_field for slot in kind.generated_slots(step)}
    assert "make it concise" in call["body"]["messages"][-1]["content"]
    # Nothing changed until a person accepts; then the update commits it.
    assert drafted["new_version"] == 0
    accepted = api.op(
        kind.plural,
        "draft",
        {"draft_id": drafted["draft_id"], "idempotency_key": proposal["idempotency_key"], "accept": True},
        method="PATCH",
    )
    assert accepted.status_code == 200, accepted.text
    committed = api.ok(
        kind.plural, "update", {kind.plural: [{kind.id_field: artifact_id, "draft_id": drafted["draft_id"]}]}
    )
    assert committed["results"][0]["success"], committed
    form = api.ok(kind.plural, "get", {kind.id_field: artifact_id})
    for slot in kind.generated_slots(step):
        selected = [o for o in form[slot.section]["options"] if o["selected"]]
        assert selected, f"{slot.key} was not committed"


def test_a_generation_into_a_new_draft_and_into_an_existing_one(api: Api, stub: Stub, generator: str) -> None:
    stub.answer = {"name": "Ada", "description": "Helps with maths"}
    first = api.op("personas", "generate", {"step": "basic"})
    assert first.status_code == 200, first.text
    draft_id = first.json()["draft_id"]
    stub.answer = {"description": "Helps with physics"}
    second = api.op("personas", "generate", {"draft_id": draft_id, "step": "basic"})
    assert second.status_code == 200, second.text
    assert second.json()["draft_id"] == draft_id
    assert len(second.json()["form_state"]["proposals"]) == 2
    # The current form reaches the model, so it can build on it.
    assert "Ada" not in stub.received[1]["body"]["messages"][-1]["content"]  # still a proposal, not the form


def test_the_flags_follow_the_settings_and_the_role(admin: Api, make_api: Any, stub_url: str, private_ok: None) -> None:
    editor, viewer = make_api("editor"), make_api("viewer")

    def flags(who: Api) -> dict[str, bool]:
        view = who.ok("personas", "get", {})
        return {k: v for k, v in view.items() if k.endswith("_show_ai_generate")}

    assert set(flags(editor).values()) == {False}
    invocation_id = make_generator(admin, stub_url)
    assert configure(admin, invocation_id).status_code == 200
    assert flags(editor) == {
        "basic_show_ai_generate": True,
        "content_show_ai_generate": True,
        "parameters_step_show_ai_generate": True,
    }
    assert set(flags(viewer).values()) == {False}
    assert set(flags(editor.as_agent()).values()) == {False}
    assert admin.post("/api/v5/settings/get").json()["ai_generator"]["invocation_id"] == invocation_id
    assert configure(admin, None).status_code == 200
    assert set(flags(editor).values()) == {False}
    assert admin.post("/api/v5/settings/get").json() == {"ai_generator": None}


def test_agents_and_lower_roles_are_refused(admin: Api, make_api: Any, stub: Stub, generator: str) -> None:
    editor, viewer = make_api("editor"), make_api("viewer")
    stub.answer = {"name": "Never"}
    assert_error(editor.as_agent().op("personas", "generate", {"step": "basic"}), 403, "agent_refused")
    assert_error(viewer.op("personas", "generate", {"step": "basic"}), 403)
    assert_error(admin.as_agent().post("/api/v5/settings/update", {"ai_generator": None}), 403, "agent_refused")
    assert_error(editor.post("/api/v5/settings/update", {"ai_generator": None}), 403)
    assert stub.received == []


def test_without_a_generator_generate_says_so(api: Api) -> None:
    assert_error(api.op("personas", "generate", {"step": "basic"}), 409, "generator_not_configured")


@pytest.mark.parametrize(
    "failure",
    ["http_500", "not_json", "not_an_object", "outside_the_step", "invalid_value", "slow", "unreachable", "empty"],
)
def test_a_failing_or_invalid_answer_is_502_and_writes_nothing(
    api: Api, admin: Api, db: Database, stub: Stub, generator: str, failure: str
) -> None:
    draft = api.op("personas", "draft", {"name": "Kept"}, method="PATCH").json()
    if failure == "http_500":
        stub.status = 500
    elif failure == "not_json":
        stub.raw = "Sure! Here is your persona: name=Ada"
    elif failure == "not_an_object":
        stub.raw = '["Ada"]'
    elif failure == "outside_the_step":
        stub.answer = {"name": "Ada", "instructions": "Not this step"}
    elif failure == "invalid_value":
        stub.answer = {"color": "a warm red"}
    elif failure == "slow":
        stub.delay_s, stub.answer = 3.0, {"name": "Too late"}
    elif failure == "empty":
        stub.answer = {}
    else:
        moved = {"endpoint": "http://127.0.0.1:9/v1", "key": {"name": "stub", "secret": SECRET}}
        update = admin.ok("invocations", "update", {"invocations": [{"invocation_id": generator, **moved}]})
        assert update["results"][0]["success"], update
        assert configure(admin, generator).status_code == 200
    before = row_counts(db)

    response = api.op("personas", "generate", {"draft_id": draft["draft_id"], "step": "basic"})

    body = assert_error(response, 502, "generator_failed")
    assert len(body["detail"]) > 20 and SECRET not in response.text
    assert row_counts(db) == before
    again = api.op("personas", "draft", {"draft_id": draft["draft_id"]}, method="PATCH").json()
    assert again["form_state"]["proposals"] == []


def test_the_key_never_shows_in_answers_or_logs(
    api: Api, admin: Api, stub: Stub, generator: str, caplog: pytest.LogCaptureFixture
) -> None:
    stub.answer = {"name": "Ada"}
    caplog.set_level(logging.DEBUG)
    answers = [
        api.op("personas", "generate", {"step": "basic"}),
        admin.post("/api/v5/settings/get"),
        admin.op("invocations", "get", {"invocation_id": generator}),
        admin.post("/api/v5/audit/search", {}),
    ]
    stub.status = 500
    answers.append(api.op("personas", "generate", {"step": "basic"}))

    assert [r.status_code for r in answers] == [200, 200, 200, 200, 502]
    assert stub.received[0]["authorization"] == f"Bearer {SECRET}"  # it was used...
    for response in answers:
        assert SECRET not in response.text and SECRET[-12:] not in response.text
    assert SECRET not in caplog.text and SECRET[-12:] not in caplog.text  # ...and never written down


def test_a_private_address_is_refused_unless_the_operator_allows_it(
    admin: Api, api: Api, client: Any, stub: Stub, stub_url: str
) -> None:
    invocation_id = make_generator(admin, stub_url)
    refused = configure(admin, invocation_id)
    body = assert_error(refused, 422, "private_address")
    assert body["field"] == "ai_generator.invocation_id" and "LOOMWORK_ALLOW_PRIVATE_URLS" in body["detail"]
    # Allowed when it was set, then the operator takes the permission back: generation refuses to call.
    client.app.state.settings = dataclasses.replace(client.app.state.settings, allow_private_urls=True)
    assert configure(admin, invocation_id).status_code == 200
    client.app.state.settings = dataclasses.replace(client.app.state.settings, allow_private_urls=False)
    stub.answer = {"name": "Never"}
    body = assert_error(api.op("personas", "generate", {"step": "basic"}), 502, "generator_failed")
    assert "private" in body["detail"]
    assert stub.received == []


def test_a_redirect_from_the_generator_is_an_answer_never_followed(
    admin: Api, api: Api, stub: Stub, stub_url: str, private_ok: None
) -> None:
    """A 307 would re-send the request (and its key) wherever the endpoint points it, inside the network too."""
    invocation_id = make_generator(admin, stub_url.replace("/v1", "/moved/v1"))
    assert configure(admin, invocation_id).status_code == 200
    stub.answer = {"name": "Never"}
    body = assert_error(api.op("personas", "generate", {"step": "basic"}), 502, "generator_failed")
    assert "HTTP 307" in body["detail"]
    assert stub.received == []


def test_the_generator_connects_only_to_the_address_it_checked(
    admin: Api, api: Api, client: Any, stub: Stub, stub_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the endpoint's name answers a public address to its first lookup of a request, then the
    stub on loopback. A check followed by a connect that resolves the name again would reach the stub; the
    request must go to the address that was checked (here refused, so nothing is sent anywhere real)."""
    real_lookup, real_connect = socket.getaddrinfo, socket.create_connection
    public = "93.184.216.34"
    first_of_request = [True]
    connected: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "model.example":
            return real_lookup(host, port, *args, **kwargs)
        if first_of_request[0]:
            first_of_request[0] = False
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (public, port))]
        return real_lookup("127.0.0.1", port, *args, **kwargs)

    def connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        connected.append(address[0])
        if address[0] == public:  # never leave the machine
            raise ConnectionRefusedError(f"the test refuses {public}")
        return real_connect(address, *args, **kwargs)

    real_connect_tcp = anyio.connect_tcp

    async def connect_tcp(remote_host: Any, remote_port: int, **kwargs: Any) -> Any:  # the async client's way out
        connected.append(str(remote_host))
        if str(remote_host) == public:
            raise ConnectionRefusedError(f"the test refuses {public}")
        return await real_connect_tcp(remote_host, remote_port, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(socket, "create_connection", connect)
    monkeypatch.setattr(anyio, "connect_tcp", connect_tcp)
    client.app.state.settings = dataclasses.replace(
        client.app.state.settings, allow_private_urls=False, generator_timeout_s=2.0, generator_retries=0
    )
    port = stub_url.rsplit(":", 1)[1].split("/", 1)[0]
    invocation_id = make_generator(admin, f"http://model.example:{port}/v1")
    assert configure(admin, invocation_id).status_code == 200  # checked: the name is public
    stub.answer = {"name": "Never"}
    first_of_request[0] = True
    assert_error(api.op("personas", "generate", {"step": "basic"}), 502, "generator_failed")
    assert stub.received == []
    assert connected and set(connected) <= {public}, connected


def test_settings_refuse_an_invocation_that_cannot_generate(admin: Api, private_ok: None) -> None:
    bare = admin.create("invocations", name="No endpoint")
    body = assert_error(configure(admin, bare), 422)
    assert body["field"] == "ai_generator.invocation_id" and "endpoint" in body["detail"]
    no_model = admin.create("invocations", name="No model", endpoint="http://127.0.0.1:9/v1")
    assert "model" in assert_error(configure(admin, no_model), 422)["detail"]
    persona = admin.create("personas", name="Not an invocation")
    assert_error(configure(admin, persona), 404)
    assert_error(
        admin.post("/api/v5/settings/update", {"ai_generator": {"invocation_id": bare, "label": "latest"}}), 422
    )


def test_every_generation_is_in_the_audit_trail(api: Api, admin: Api, stub: Stub, generator: str) -> None:
    stub.answer = {"name": "Ada"}
    drafted = api.op("personas", "generate", {"step": "basic", "hint": "a maths tutor"}).json()

    events = admin.post("/api/v5/audit/search", {}).json()["events"]
    [event] = [e for e in events if e["action"] == "generate"]
    assert event["profile_name"] == api_name(admin, api)
    assert event["draft_id"] == drafted["draft_id"]
    assert event["changes"] == {
        "step": "basic",
        "proposal": drafted["idempotency_key"],
        "invocation_id": generator,
        "invocation_version": 1,
        "model": MODEL,
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
    }
    [proposed] = [e for e in events if e["action"] == "propose"]
    assert proposed["profile_name"] == "AI generator" and proposed["via_agent"] is True
    # The generator is an agent profile of its own, sponsored by the admin who set it, and the queue says so.
    [queued] = api.post("/api/v5/proposals/search", {}).json()["proposals"]
    assert queued["proposer"]["name"] == "AI generator" and queued["proposer"]["type"] == "agent"
    agents = admin.post("/api/v5/profiles/search", {"type": "agent"}).json()["profiles"]
    [generator_profile] = [p for p in agents if p["name"] == "AI generator"]
    assert (
        generator_profile["sponsor_profile_id"]
        == admin.post("/api/v5/profiles/search", {"search": "admin"}).json()["profiles"][0]["profile_id"]
    )


def api_name(admin: Api, api: Api) -> str:
    """The editor's profile name, as the get view tells it."""
    return api.ok("personas", "get", {})["actor_name"]


def test_a_generator_runs_the_version_its_label_named_when_an_admin_set_it(
    api: Api, admin: Api, stub: Stub, stub_url: str, private_ok: None
) -> None:
    invocation_id = make_generator(admin, stub_url)
    assert (
        admin.op(
            "invocations", "label", {"invocation_id": invocation_id, "label": "production", "version": 1}
        ).status_code
        == 200
    )
    # Version 2 points somewhere that does not answer; production still runs version 1.
    changed = admin.ok(
        "invocations",
        "update",
        {"invocations": [{"invocation_id": invocation_id, "endpoint": "http://127.0.0.1:9/v1"}]},
    )
    assert changed["results"][0]["version"] == 2
    body = {"ai_generator": {"invocation_id": invocation_id, "label": "production"}}
    assert admin.post("/api/v5/settings/update", body).json()["ai_generator"]["invocation_version"] == 1
    stub.answer = {"name": "Ada"}
    assert api.op("personas", "generate", {"step": "basic"}).status_code == 200
    # Moving production to version 2 changes nothing until an admin sets the generator again.
    assert (
        admin.op(
            "invocations", "label", {"invocation_id": invocation_id, "label": "production", "version": 2}
        ).status_code
        == 200
    )
    assert api.op("personas", "generate", {"step": "basic"}).status_code == 200
    assert len(stub.received) == 2
    assert admin.post("/api/v5/settings/get").json()["ai_generator"]["invocation_version"] == 1
    # Set again, it would run version 2, whose endpoint moved without its key entered again: refused, unchanged.
    assert_error(admin.post("/api/v5/settings/update", body), 409, "key_origin_mismatch")
    assert admin.post("/api/v5/settings/get").json()["ai_generator"]["invocation_version"] == 1
    assert api.op("personas", "generate", {"step": "basic"}).status_code == 200
    assert len(stub.received) == 3
    events = admin.post("/api/v5/audit/search", {}).json()["events"]
    assert [e["changes"]["invocation_version"] for e in events if e["action"] == "generate"] == [1, 1, 1]
    missing = {"ai_generator": {"invocation_id": invocation_id, "label": "staging"}}
    assert assert_error(admin.post("/api/v5/settings/update", missing), 422)["field"] == "ai_generator.label"


def test_an_editor_who_updates_the_generator_invocation_changes_nothing_it_calls(
    api: Api, admin: Api, stub: Stub, generator: str
) -> None:
    """Set with no label, the generator runs the newest version of that moment, not whatever an editor commits."""
    moved = api.ok(
        "invocations",
        "update",
        {"invocations": [{"invocation_id": generator, "endpoint": "http://127.0.0.1:9/v1", "temperature_level": "1"}]},
    )
    assert moved["results"][0]["version"] == 2
    stub.answer = {"name": "Ada"}

    assert api.op("personas", "generate", {"step": "basic"}).status_code == 200

    [call] = stub.received
    assert call["body"]["temperature"] == 0.3
    assert admin.post("/api/v5/settings/get").json()["ai_generator"]["invocation_version"] == 1


def test_a_502_never_repeats_any_part_of_the_key(api: Api, stub: Stub, generator: str) -> None:
    """An endpoint's error text may echo the key in part or encoded; the reason keeps the rest of its words."""
    partial, encoded = SECRET[:14], base64.b64encode(f"Bearer {SECRET}".encode()).decode()
    urlsafe = base64.urlsafe_b64encode(SECRET.encode()).decode()
    stub.status = 401
    stub.error = f"Incorrect API key {partial}... (sent {encoded}; as {urlsafe}; tail {SECRET[-9:]}) rejected"

    body = assert_error(api.op("personas", "generate", {"step": "basic"}), 502, "generator_failed")
    stub.status, stub.answer = 200, {"name": "Ada", f"key_{SECRET[:12]}": "x"}  # a field named after the key
    outside = assert_error(api.op("personas", "generate", {"step": "basic"}), 502, "generator_failed")
    assert "outside the basic step" in outside["detail"] and SECRET[:12] not in outside["detail"]

    assert "HTTP 401" in body["detail"] and "Incorrect API key" in body["detail"] and "rejected" in body["detail"]
    for part in (partial, encoded, urlsafe, SECRET[-9:], SECRET[3:10], encoded[12:24], urlsafe[8:20]):
        assert part not in body["detail"], part


def test_a_generator_set_before_versions_were_pinned_keeps_calling_what_it_called(
    api: Api, admin: Api, db: Database, stub: Stub, stub_url: str, private_ok: None
) -> None:
    """Migration 0019 pins a group's generator at the version its label named, else at the newest one."""
    from alembic import command

    from loomwork.db.migrate import alembic_config, upgrade

    def migrate_down_and_up() -> int:
        config = alembic_config()
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0018")
        upgrade(db.engine)
        return int(admin.post("/api/v5/settings/get").json()["ai_generator"]["invocation_version"])

    def update(invocation_id: str, description: str) -> None:
        admin.ok(
            "invocations", "update", {"invocations": [{"invocation_id": invocation_id, "description": description}]}
        )

    invocation_id = make_generator(admin, stub_url)
    admin.op("invocations", "label", {"invocation_id": invocation_id, "label": "production", "version": 1})
    body = {"ai_generator": {"invocation_id": invocation_id, "label": "production"}}
    assert admin.post("/api/v5/settings/update", body).status_code == 200
    update(invocation_id, "v2")
    assert migrate_down_and_up() == 1
    assert configure(admin, invocation_id).json()["ai_generator"]["invocation_version"] == 2
    update(invocation_id, "v3")
    assert migrate_down_and_up() == 3  # no label: the newest version, as it ran before
    stub.answer = {"name": "Ada"}
    assert api.op("personas", "generate", {"step": "basic"}).status_code == 200


# --- a key goes only to the origin it was entered for (issue 28, finding 1) -----------------------------------------


def elsewhere(url: str) -> str:
    """The same stub under another origin (localhost, not 127.0.0.1): what an editor's own server stands for."""
    return url.replace("127.0.0.1", "localhost")


def move_endpoint(who: Api, invocation_id: str, endpoint: str, **more: Any) -> None:
    moved = who.ok(
        "invocations", "update", {"invocations": [{"invocation_id": invocation_id, "endpoint": endpoint, **more}]}
    )
    assert moved["results"][0]["success"], moved


def test_an_editor_who_moves_the_endpoint_never_receives_the_key(
    api: Api, admin: Api, stub: Stub, stub_url: str, generator: str
) -> None:
    move_endpoint(api, generator, elsewhere(stub_url))
    stub.answer = {"name": "Ada"}

    # Even an admin who sets the generator again, trusting the invocation, does not send the key there.
    body = assert_error(configure(admin, generator), 409, "key_origin_mismatch")
    assert "editor role enters the key again" in body["detail"] and SECRET not in json.dumps(body)
    assert api.op("personas", "generate", {"step": "basic"}).status_code == 200  # still the pinned version
    assert [call["authorization"] for call in stub.received] == [f"Bearer {SECRET}"]
    assert stub.received[0]["host"].startswith("127.0.0.1")


def test_a_person_who_enters_the_key_again_binds_it_to_the_new_origin(
    api: Api, admin: Api, stub: Stub, stub_url: str, generator: str
) -> None:
    move_endpoint(api, generator, elsewhere(stub_url), key={"name": "stub", "secret": SECRET})
    assert configure(admin, generator).status_code == 200
    stub.answer = {"name": "Ada"}
    assert api.op("personas", "generate", {"step": "basic"}).status_code == 200
    [call] = stub.received
    assert call["host"].startswith("localhost") and call["authorization"] == f"Bearer {SECRET}"
    # The form shows where the key goes.
    form = api.ok("invocations", "get", {"invocation_id": generator})
    [key] = [o for o in form["keys"]["options"] if o["selected"]]
    assert key["value"]["origin"] == elsewhere(stub_url).removesuffix("/v1")


def test_a_key_entered_after_the_endpoint_binds_to_the_form_s_endpoint(
    api: Api, admin: Api, stub: Stub, stub_url: str, private_ok: None
) -> None:
    invocation_id = make_generator(admin, stub_url)
    draft = api.op(
        "invocations", "draft", {"invocation_id": invocation_id, "endpoint": elsewhere(stub_url)}, method="PATCH"
    )
    draft_id = draft.json()["draft_id"]
    again = api.op(
        "invocations", "draft", {"draft_id": draft_id, "key": {"name": "new", "secret": SECRET}}, method="PATCH"
    )
    assert again.status_code == 200, again.text
    committed = api.ok(
        "invocations", "update", {"invocations": [{"invocation_id": invocation_id, "draft_id": draft_id}]}
    )
    assert committed["results"][0]["success"], committed
    assert configure(admin, invocation_id).status_code == 200
    stub.answer = {"name": "Ada"}
    assert api.op("personas", "generate", {"step": "basic"}).status_code == 200
    assert stub.received[0]["host"].startswith("localhost")


def test_a_key_given_its_origin_goes_there_only(
    api: Api, admin: Api, stub: Stub, stub_url: str, private_ok: None
) -> None:
    made = admin.post("/api/v5/resources/keys/create", {"keys": [{"name": "k", "secret": SECRET, "origin": stub_url}]})
    assert made.status_code == 200, made.text
    key_id = made.json()["results"][0]["id"]
    invocation_id = make_generator(admin, stub_url)
    move_endpoint(admin, invocation_id, elsewhere(stub_url), key_id=key_id)
    assert_error(configure(admin, invocation_id), 409, "key_origin_mismatch")
    move_endpoint(admin, invocation_id, stub_url)
    assert configure(admin, invocation_id).status_code == 200
    bad = admin.post("/api/v5/resources/keys/create", {"keys": [{"name": "k", "secret": SECRET, "origin": "ftp://x"}]})
    assert "origin must be the http or https URL" in bad.text and SECRET not in bad.text


def test_an_agent_s_proposed_key_is_bound_to_nothing_even_once_accepted(
    api: Api, admin: Api, stub: Stub, stub_url: str, generator: str
) -> None:
    agent = api.as_agent()
    refused = agent.op(
        "invocations",
        "draft",
        {"invocation_id": generator, "key": {"name": "mine", "secret": SECRET, "origin": stub_url}},
        method="PATCH",
    )
    assert assert_error(refused, 422)["field"] == "key.origin"
    proposed = agent.ok(
        "invocations", "draft", {"invocation_id": generator, "key": {"name": "mine", "secret": SECRET}}, method="PATCH"
    )
    proposal_id = proposed["form_state"]["proposals"][-1]["proposal_id"]
    decided = admin.post("/api/v5/proposals/decide", {"proposal_id": proposal_id, "decision": "accept"})
    assert decided.status_code == 200 and decided.json()["committed"]["kind"] == "invocation", decided.text
    body = assert_error(configure(admin, generator), 409, "key_origin_mismatch")
    assert "no origin" in body["detail"]


def test_past_the_worker_s_or_the_group_s_bound_a_generation_is_429_at_once(
    api: Api, make_api: Any, client: Any, stub: Stub, generator: str
) -> None:
    client.app.state.settings = dataclasses.replace(
        client.app.state.settings, generator_timeout_s=30.0, max_generations=2, max_generations_per_group=1
    )
    stub.answer, stub.delay_s = {"name": "Ada"}, 30.0
    other = make_api("editor", group="other")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(api.op, "personas", "generate", {"step": "basic"})
        deadline = time.monotonic() + 10
        while not stub.received and time.monotonic() < deadline:
            time.sleep(0.02)
        try:
            same_group = api.op("personas", "generate", {"step": "basic"})
            client.app.state.settings = dataclasses.replace(client.app.state.settings, max_generations=1)
            other_group = other.op("personas", "generate", {"step": "basic"})
        finally:
            stub.release.set()
        assert first.result().status_code == 200
    for refused, limit in (
        (same_group, "LOOMWORK_MAX_GENERATIONS_PER_GROUP"),
        (other_group, "LOOMWORK_MAX_GENERATIONS"),
    ):
        body = assert_error(refused, 429, "too_many_generations")
        assert limit in body["detail"] and int(refused.headers["Retry-After"]) > 0
    assert len(stub.received) == 1  # the refused ones called nothing
    # The bound is of generations under way: once the first is done, the next one runs.
    assert api.op("personas", "generate", {"step": "basic"}).status_code == 200


@pytest.mark.parametrize("door", ["update", "new edit draft"])
def test_a_key_entered_alone_binds_to_the_endpoint_the_invocation_has(
    api: Api, admin: Api, stub: Stub, stub_url: str, private_ok: None, door: str
) -> None:
    invocation_id = make_generator(admin, stub_url)
    new_key = {"name": "rotated", "secret": SECRET + "-2"}
    if door == "update":
        move = api.ok("invocations", "update", {"invocations": [{"invocation_id": invocation_id, "key": new_key}]})
        assert move["results"][0]["success"], move
    else:
        draft = api.ok("invocations", "draft", {"invocation_id": invocation_id, "key": new_key}, method="PATCH")
        done = api.ok(
            "invocations", "update", {"invocations": [{"invocation_id": invocation_id, "draft_id": draft["draft_id"]}]}
        )
        assert done["results"][0]["success"], done
    assert configure(admin, invocation_id).status_code == 200
    stub.answer = {"name": "Ada"}
    assert api.op("personas", "generate", {"step": "basic"}).status_code == 200
    assert stub.received[0]["authorization"] == f"Bearer {SECRET}-2"
