"""The review queue (API.md section 8) and the rule that nothing from a proposal, or from a private
draft, is visible to anyone else before a person accepts it or a commit makes it live.

Here an "agent" is a person's key sent with X-MCP (`api.as_agent()`): its proposals go into that
person's drafts, and the queue treats such a draft as the agent's (commit by default on accept).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from conftest import Api, assert_error, table_rows
from loomwork.engine import drafts
from loomwork.engine.models import DraftEntry
from loomwork.resources.models import Resource

SECRET = "sk-live-proposal-secret-98765"


def propose(agent: Api, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return agent.ok(kind, "draft", body, method="PATCH")


def queue(api: Api, **filters: Any) -> list[dict[str, Any]]:
    response = api.post("/api/v5/proposals/search", filters)
    assert response.status_code == 200, response.text
    return response.json()["proposals"]


def decide(api: Api, proposal_id: str, decision: str, **more: Any):
    return api.post("/api/v5/proposals/decide", {"proposal_id": proposal_id, "decision": decision, **more})


def proposal_id_of(answer: dict[str, Any]) -> str:
    return answer["form_state"]["proposals"][-1]["proposal_id"]


def change(view: dict[str, Any], field: str) -> dict[str, Any]:
    return next(c for c in view["changes"] if c["field"] == field)


# --- the queue ----------------------------------------------------------------------------------------------------


def test_a_second_editor_decides_an_agents_proposal_from_the_queue_and_it_is_committed(make_api, db):
    owner, reviewer, viewer = make_api("editor", name="Ada"), make_api("editor", name="Grace"), make_api("viewer")
    agent = owner.as_agent()
    answer = propose(agent, "personas", {"name": "Nova", "departments": ["Research"], "color": "#ABC"})
    pid = proposal_id_of(answer)

    (view,) = queue(viewer, status="waiting")  # every person of the group sees it, not only the draft's owner
    assert view["proposal_id"] == pid and view["kind"] == "persona" and view["status"] == "waiting"
    # A person's key with X-MCP: the proposal is an agent's act, the profile a person's.
    assert view["proposer"]["name"] == "Ada" and view["proposer"]["type"] == "person" and view["via_agent"] is True
    assert view["artifact_id"] is None and view["artifact_name"] == "Nova" and view["decided_by"] is None
    assert change(view, "name") == {"field": "name", "now": None, "proposed": "Nova"}
    assert change(view, "departments") == {"field": "departments", "now": [], "proposed": ["Research"]}
    assert change(view, "color")["proposed"] == "#aabbcc"  # normalised

    assert_error(decide(viewer, pid, "accept"), 403)
    decided = decide(reviewer, pid, "accept")
    assert decided.status_code == 200, decided.text
    body = decided.json()
    committed = body["committed"]
    assert committed["kind"] == "persona" and committed["version"] == 1
    assert body["proposal"]["status"] == "accepted" and body["proposal"]["decided_by"]["name"] == "Grace"

    live = reviewer.ok("personas", "get", {"persona_id": committed["artifact_id"]})
    assert [o["value"] for o in live["names"]["options"] if o["selected"]] == ["Nova"]
    assert [o["value"] for o in live["departments"]["options"] if o["selected"]] == ["Research"]
    (after,) = queue(viewer, status="accepted")
    assert after["artifact_id"] == committed["artifact_id"] and after["decided_at"]
    assert change(after, "name")["now"] is None  # decided against an artifact that did not exist yet

    # An edit: `now` is the live value, and the commit is an update checked against the draft's base version.
    edit = propose(agent, "personas", {"persona_id": committed["artifact_id"], "description": "Finds papers"})
    (waiting,) = queue(reviewer, status="waiting", artifact_id=committed["artifact_id"])
    assert waiting["base_version"] == 1 and change(waiting, "description") == {
        "field": "description",
        "now": None,
        "proposed": "Finds papers",
    }
    body = decide(reviewer, proposal_id_of(edit), "accept").json()
    assert body["committed"]["version"] == 2

    admin = make_api("admin")
    events = admin.post("/api/v5/audit/search", {"artifact_id": committed["artifact_id"]}).json()["events"]
    commits = [e for e in events if e["action"] in ("create", "update")]
    assert {e["profile_name"] for e in commits} == {"Ada"} and all(e["via_agent"] for e in commits)
    reviewer_id = body["proposal"]["decided_by"]["profile_id"]
    assert all(e["changes"]["approved_by"] == reviewer_id for e in commits)
    assert {e["action"] for e in events} >= {"accept", "create", "update"}


def test_the_queue_filters_by_status_kind_artifact_and_proposer(make_api):
    ada, bob, reviewer = make_api(name="Ada"), make_api(name="Bob"), make_api()
    propose(ada.as_agent(), "personas", {"name": "One"})
    propose(bob.as_agent(), "tools", {"name": "two_tool"})
    assert [v["kind"] for v in queue(reviewer)] == ["tool", "persona"]  # newest first
    assert [v["artifact_name"] for v in queue(reviewer, kind="persona")] == ["One"]
    bob_id = queue(reviewer, kind="tool")[0]["proposer"]["profile_id"]
    assert [v["artifact_name"] for v in queue(reviewer, proposer_profile_id=bob_id)] == ["two_tool"]
    assert [v["artifact_name"] for v in queue(ada.as_agent(), mine=True)] == ["One"]
    assert queue(reviewer, status="rejected") == []
    assert_error(reviewer.post("/api/v5/proposals/search", {"status": "maybe"}), 422)


def test_agents_cannot_decide_and_other_groups_proposals_are_not_found(make_api):
    owner = make_api()
    pid = proposal_id_of(propose(owner.as_agent(), "personas", {"name": "Solo"}))
    assert_error(decide(owner.as_agent(), pid, "accept"), 403, "agent_refused")
    stranger = make_api(group="elsewhere")
    assert_error(decide(stranger, pid, "accept"), 404, "not_found")
    assert queue(stranger) == []
    assert queue(owner)[0]["status"] == "waiting"


def test_a_person_may_decide_without_committing_and_the_draft_keeps_the_accepted_change(make_api):
    owner, reviewer = make_api(), make_api()
    answer = propose(owner.as_agent(), "personas", {"name": "Kept"})
    body = decide(reviewer, proposal_id_of(answer), "accept", commit=False).json()
    assert body["committed"] is None and body["proposal"]["status"] == "accepted"
    state = owner.ok("personas", "get", {"draft_id": answer["draft_id"]})
    assert state["draft_version"] == 1 and [o["value"] for o in state["names"]["options"] if o["selected"]] == ["Kept"]


# --- a failed commit undoes the accept ----------------------------------------------------------------------------


def test_a_commit_that_fails_undoes_the_accept(make_api, db):
    owner, reviewer = make_api(), make_api()
    agent = owner.as_agent()
    persona_id = reviewer.create("personas", name="Base")
    edit = propose(agent, "personas", {"persona_id": persona_id, "description": "Agent's words"})
    pid = proposal_id_of(edit)
    reviewer.ok("personas", "update", {"personas": [{"persona_id": persona_id, "description": "Moved on"}]})

    conflict = assert_error(decide(reviewer, pid, "accept"), 409, "version_conflict")
    assert conflict["current_version"] == 2
    (view,) = queue(reviewer, status="waiting")
    assert view["proposal_id"] == pid and change(view, "description")["now"] == "Moved on"
    assert owner.ok("personas", "get", {"draft_id": edit["draft_id"]})["draft_version"] == 0  # not applied
    with db.transaction(write=False) as session:  # the value it brought was not created either
        assert session.scalar(select(Resource.id).where(Resource.value == "Agent's words")) is None

    # A new artifact without a name cannot be created: 422 naming the field, and nothing changed.
    nameless = propose(agent, "personas", {"description": "No name yet"})
    invalid = assert_error(decide(reviewer, proposal_id_of(nameless), "accept"), 422)
    assert invalid["field"] == "name"
    assert {v["proposal_id"] for v in queue(reviewer, status="waiting")} == {pid, proposal_id_of(nameless)}
    admin = make_api("admin")
    actions = [e["action"] for e in admin.post("/api/v5/audit/search", {}).json()["events"]]
    assert "accept" not in actions


def test_accepting_with_a_stale_expected_version_is_409_and_changes_nothing(make_api, db):
    """The reviewer's `expected_version` is checked by the commit even where the draft's own base version
    is current: a stale one is 409 version_conflict, the proposal still waits and nothing is written."""
    owner, reviewer = make_api(), make_api()
    persona_id = reviewer.create("personas", name="Base")
    reviewer.ok("personas", "update", {"personas": [{"persona_id": persona_id, "description": "Version two"}]})
    edit = propose(owner.as_agent(), "personas", {"persona_id": persona_id, "description": "Agent's words"})
    pid = proposal_id_of(edit)
    (waiting,) = queue(reviewer, status="waiting")
    assert waiting["base_version"] == 2

    def stored() -> dict[str, Any]:  # every row, but a key's last use (written once a minute by any request)
        return {name: rows for name, rows in table_rows(db).items() if name != "api_keys"}

    before = stored()
    conflict = assert_error(decide(reviewer, pid, "accept", expected_version=1), 409, "version_conflict")
    assert conflict["current_version"] == 2
    assert stored() == before
    assert [v["proposal_id"] for v in queue(reviewer, status="waiting")] == [pid]
    assert reviewer.ok("personas", "get", {"persona_id": persona_id})["version"] == 2
    assert owner.ok("personas", "get", {"draft_id": edit["draft_id"]})["draft_version"] == 0

    accepted = decide(reviewer, pid, "accept", expected_version=2)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["committed"]["version"] == 3


# --- replays, opposite decisions, stale proposals -------------------------------------------------------------------


def test_the_same_decision_replays_and_the_opposite_one_is_already_decided(make_api):
    owner, reviewer, other = make_api(), make_api(), make_api()
    pid = proposal_id_of(propose(owner.as_agent(), "personas", {"name": "Twice"}))
    first = decide(reviewer, pid, "reject", reason="Name clashes with a product")
    assert first.status_code == 200, first.text
    assert first.json()["proposal"]["reason"] == "Name clashes with a product"
    again = decide(other, pid, "reject", reason="whatever")
    assert again.status_code == 200 and again.content == first.content
    assert_error(decide(reviewer, pid, "accept"), 409, "already_decided")
    (view,) = queue(owner.as_agent(), mine=True, status="rejected")
    assert view["reason"] == "Name clashes with a product" and view["decided_by"]["profile_id"]

    accepted = proposal_id_of(propose(owner.as_agent(), "personas", {"name": "Once"}))
    first = decide(reviewer, accepted, "accept")
    assert first.status_code == 200 and decide(reviewer, accepted, "accept").content == first.content
    assert_error(decide(reviewer, accepted, "reject"), 409, "already_decided")


def test_an_ack_and_the_queue_agree_on_one_decision(make_api):
    owner, reviewer = make_api(), make_api()
    answer = propose(owner, "personas", {"name": "Acked", "soft": True})
    key = answer["idempotency_key"]
    owner.ok(
        "personas", "draft", {"draft_id": answer["draft_id"], "idempotency_key": key, "accept": False}, method="PATCH"
    )
    assert decide(reviewer, proposal_id_of(answer), "reject").json()["proposal"]["status"] == "rejected"
    assert_error(decide(reviewer, proposal_id_of(answer), "accept"), 409, "already_decided")


@pytest.mark.parametrize("decision", ["accept", "reject"])
def test_a_person_cannot_decide_what_they_proposed_as_an_agent(make_api, decision):
    """Else the revision would show an agent's change approved by its own author (issue 28, finding 16)."""
    owner, reviewer = make_api(), make_api()
    proposal_id = proposal_id_of(propose(owner.as_agent(), "personas", {"name": "Self approved"}))

    assert_error(decide(owner, proposal_id, decision), 403, "own_proposal")

    (view,) = queue(reviewer)
    assert view["status"] == "waiting"
    assert decide(reviewer, proposal_id, decision).json()["proposal"]["status"] == decision + "ed"


def test_a_proposal_whose_draft_was_committed_meanwhile_is_stale(make_api):
    person, reviewer = make_api(), make_api()
    answer = person.ok("personas", "draft", {"name": "Mine"}, method="PATCH")
    soft = person.ok(
        "personas", "draft", {"draft_id": answer["draft_id"], "description": "Later", "soft": True}, method="PATCH"
    )
    person.ok("personas", "create", {"personas": [{"draft_id": answer["draft_id"]}]})
    (view,) = queue(reviewer, status="stale")
    assert view["proposal_id"] == proposal_id_of(soft)
    assert_error(decide(reviewer, view["proposal_id"], "accept"), 409, "draft_committed")
    assert_error(decide(reviewer, view["proposal_id"], "reject"), 409, "draft_committed")
    assert queue(reviewer, status="waiting") == []


# --- limits and bounded stored replies --------------------------------------------------------------------------------


def test_waiting_proposals_are_limited_per_draft_and_per_proposer(make_api, monkeypatch):
    monkeypatch.setattr(drafts, "MAX_WAITING_PER_DRAFT", 3)
    monkeypatch.setattr(drafts, "MAX_WAITING_PER_PROPOSER", 5)
    owner, reviewer = make_api(), make_api()
    agent = owner.as_agent()
    first = propose(agent, "personas", {"name": "Limit"})
    draft_id = first["draft_id"]
    for i in range(2):
        propose(agent, "personas", {"draft_id": draft_id, "description": f"d{i}"})
    too_many = agent.op("personas", "draft", {"draft_id": draft_id, "description": "d3"}, method="PATCH")
    assert "3 waiting" in assert_error(too_many, 429, "too_many_proposals")["detail"]
    decide(reviewer, proposal_id_of(first), "reject")  # a decided one makes room
    propose(agent, "personas", {"draft_id": draft_id, "description": "d3"})

    propose(agent, "tools", {"name": "t_one"})
    propose(agent, "tools", {"name": "t_two"})
    assert_error(agent.op("tools", "draft", {"name": "t_three"}, method="PATCH"), 429, "too_many_proposals")


def test_sixty_proposals_in_one_draft_store_replies_of_bounded_size(api, db):
    agent = api.as_agent()
    big = "x" * 5000
    answers, keys = [], []
    draft_id = None
    for i in range(60):
        body = {"description": f"{big} {i}", "idempotency_key": f"p{i}"}
        if draft_id:
            body["draft_id"] = draft_id
        else:
            body["name"] = "Bounded"
        response = agent.op("personas", "draft", body, method="PATCH")
        assert response.status_code == 200, response.text
        draft_id = response.json()["draft_id"]
        answers.append(response.content)
        keys.append(body)
    assert len(answers[-1]) > 60 * 5000  # the answer itself lists every waiting proposal
    with db.transaction(write=False) as session:
        sizes = [
            len(text)
            for text in session.scalars(
                select(DraftEntry.response).where(DraftEntry.draft_id == uuid.UUID(draft_id)).order_by(DraftEntry.seq)
            )
        ]
    assert max(sizes) < 3000, sizes  # what is stored does not grow with the proposals before it
    assert max(sizes) - min(sizes) < 200, sizes
    for index in (0, 29, 59):  # and a replay still answers byte for byte as the first time
        replay = agent.op(
            "personas", "draft", {**keys[index], "draft_id": draft_id} if index else keys[index], method="PATCH"
        )
        assert replay.status_code == 200 and replay.content == answers[index]


# --- nothing from a proposal is visible before it is accepted ---------------------------------------------------------


@pytest.fixture(autouse=True)
def many_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    """`every_read` exports twice per reader and word: past the default per-group upload quota."""
    from loomwork import uploads

    monkeypatch.setattr(uploads, "limits", uploads.Limits(quota_count=10_000))


def every_read(api: Api, word: str) -> list[str]:
    """Every read that could show a value, as text, for `api`'s profile."""
    texts = []
    for plural in ("names", "departments", "keys", "icons", "descriptions"):
        texts.append(api.post(f"/api/v5/resources/{plural}/search", {"search": word}).text)
        texts.append(api.post(f"/api/v5/resources/{plural}/search", {"page_size": 200}).text)
    for kind in ("personas", "invocations"):
        texts.append(api.op(kind, "get", {}).text)
        texts.append(api.op(kind, "search", {}).text)
        texts.append(api.op(kind, "search", {"search": word}).text)
        texts.append(api.op(kind, "drafts", {}).text)
        export = api.op(kind, "export", {}).json()
        texts.append(api.client.get(f"/api/v5/uploads/{export['upload_id']}", headers=api.headers).text)
    return texts


def test_a_proposals_values_are_in_no_read_before_acceptance_and_a_rejected_one_leaves_nothing(make_api, db):
    owner, reviewer, viewer = make_api(), make_api(), make_api("viewer")
    agent = owner.as_agent()
    live = reviewer.create("personas", name="Existing one", departments=["Sales"])
    icon = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><circle r="4" onclick="x()"/></svg>'
    persona = propose(agent, "personas", {"name": "Zorblax", "departments": ["Quuxdept"], "icon": icon})
    invocation = propose(agent, "invocations", {"name": "Zorblax call", "key": {"name": "zorbkey", "secret": SECRET}})

    for who in (owner, reviewer, viewer, agent):
        for text in every_read(who, "zorb") + every_read(who, "quux"):
            assert "Zorblax" not in text and "Quuxdept" not in text and "zorbkey" not in text, text[:300]
            assert SECRET not in text
    with db.transaction(write=False) as session:
        assert session.scalar(select(Resource.id).where(Resource.value.like("%Quuxdept%"))) is None
        assert session.scalar(select(Resource.id).where(Resource.value.like("%zorbkey%"))) is None
        stored = " ".join(str(e.patch) + e.response for e in session.scalars(select(DraftEntry)))
        assert SECRET not in stored and "zorbkey" in stored  # masked in its own proposal

    views = {v["kind"]: v for v in queue(viewer)}
    assert change(views["invocation"], "key")["proposed"] == "zorbkey (****8765)"
    shown_icon = change(views["persona"], "icon")["proposed"]
    assert "<svg" in shown_icon and "script" not in shown_icon and "onclick" not in shown_icon

    for answer in (persona, invocation):
        assert decide(reviewer, proposal_id_of(answer), "reject", reason="no").status_code == 200
    for who in (owner, reviewer, viewer, agent):
        for text in every_read(who, "zorb") + every_read(who, "quux"):
            assert "Zorblax" not in text and "Quuxdept" not in text and "zorbkey" not in text
    with db.transaction(write=False) as session:
        for word in ("Zorblax", "Quuxdept", "zorbkey", "circle"):
            assert session.scalar(select(Resource.id).where(Resource.value.like(f"%{word}%"))) is None, word
        assert all(e.sealed is None for e in session.scalars(select(DraftEntry)))
    assert reviewer.ok("personas", "get", {"persona_id": live})["persona_exists"] is True


def test_an_accepted_key_becomes_a_resource_and_is_shown_masked(make_api):
    owner, reviewer = make_api(), make_api()
    answer = propose(owner.as_agent(), "invocations", {"name": "Keyed", "key": {"name": "prov", "secret": SECRET}})
    body = decide(reviewer, proposal_id_of(answer), "accept").json()
    keys = reviewer.post("/api/v5/resources/keys/search", {}).json()["keys"]
    assert [k["value"] for k in keys] == [{"name": "prov", "secret": "****8765"}]
    assert keys[0]["used_by"]["invocation"]["active"] == 1
    assert body["committed"]["kind"] == "invocation"


# --- a private draft's values are its owner's until a commit makes them live -------------------------------------------


def test_a_value_only_a_private_draft_holds_is_seen_by_its_owner_alone(make_api):
    owner, other, viewer = make_api(), make_api(), make_api("viewer")
    answer = owner.ok("personas", "draft", {"name": "Secret project", "departments": ["Hushdept"]}, method="PATCH")
    for who in (other, viewer):
        assert who.post("/api/v5/resources/departments/search", {"search": "hush"}).json()["total_count"] == 0
        assert who.post("/api/v5/resources/names/search", {"search": "secret"}).json()["total_count"] == 0
        section = who.op("personas", "get", {"departments_search": "hush"}).json()["departments"]
        assert section["options"] == [] and section["total"] == 0
    mine = owner.post("/api/v5/resources/departments/search", {"search": "hush"}).json()
    assert [d["value"] for d in mine["departments"]] == ["Hushdept"]
    hush_id = mine["departments"][0]["id"]
    assert_error(other.post("/api/v5/resources/departments/get", {"id": hush_id}), 404)
    (deleted,) = other.post("/api/v5/resources/departments/delete", {"ids": [hush_id]}).json()["results"]
    assert deleted["success"] is False and deleted["code"] == "not_found"

    person_id = owner.ok("personas", "create", {"personas": [{"draft_id": answer["draft_id"]}]})["results"][0][
        "persona_id"
    ]
    assert [
        d["value"]
        for d in viewer.post("/api/v5/resources/departments/search", {"search": "hush"}).json()["departments"]
    ] == ["Hushdept"]
    assert viewer.post("/api/v5/resources/departments/get", {"id": hush_id}).json()["users"][0]["id"] == person_id


def test_someone_elses_draft_neither_shows_in_users_nor_holds_back_a_delete(make_api):
    owner, other = make_api(), make_api()
    (created,) = other.post("/api/v5/resources/departments/create", {"departments": ["Shared dept"]}).json()["results"]
    answer = owner.ok("personas", "draft", {"name": "Holder", "department_ids": [created["id"]]}, method="PATCH")
    own_users = owner.post("/api/v5/resources/departments/get", {"id": created["id"]}).json()["users"]
    assert [u["id"] for u in own_users] == [answer["draft_id"]]  # the owner sees their own draft
    assert other.post("/api/v5/resources/departments/get", {"id": created["id"]}).json()["users"] == []
    (deleted,) = other.post("/api/v5/resources/departments/delete", {"ids": [created["id"]]}).json()["results"]
    assert deleted["success"], deleted
    result = owner.ok("personas", "create", {"personas": [{"draft_id": answer["draft_id"]}]})["results"][0]
    assert result["success"], result  # the commit leaves out the value deleted meanwhile
    got = owner.ok("personas", "get", {"persona_id": result["persona_id"]})
    assert [o for o in got["departments"]["options"] if o["selected"]] == []


def test_creating_a_value_someone_staged_publishes_it_without_telling_it_existed(make_api):
    owner, other = make_api(), make_api()
    owner.ok("personas", "draft", {"name": "Drafted", "departments": ["Quietdept"]}, method="PATCH")
    (created,) = other.post("/api/v5/resources/departments/create", {"departments": ["Quietdept"]}).json()["results"]
    assert created["success"] and created["created"] is True
    assert other.post("/api/v5/resources/departments/search", {"search": "quiet"}).json()["total_count"] == 1


def test_reading_the_queue_sends_as_many_statements_for_many_proposals_as_for_one(make_api, count_statements):
    counts = {}
    for n in (1, 20):
        owner, reviewer = make_api(group=f"g{n}"), make_api(group=f"g{n}")
        for i in range(n):
            answer = propose(owner.as_agent(), "personas", {"name": f"P{i}", "departments": [f"D{i}"]})
            if i % 2 == 0:
                decide(reviewer, proposal_id_of(answer), "accept")
        with count_statements() as counter:
            assert len(queue(reviewer)) == n
        counts[n] = counter.count
    assert counts[1] == counts[20], counts


# --- a staged value is selected by id only by whoever staged it (issue 28, finding 11) ---------------------------


def staged(owner: Api) -> dict[str, str]:
    """Values only `owner`'s private drafts hold, by what they are: a department, a name, a model, an argument, a key."""
    persona = owner.ok("personas", "draft", {"name": "Hush project", "departments": ["Hushdept"]}, method="PATCH")[
        "form_state"
    ]
    evaluation = owner.ok("evals", "draft", {"name": "Hush eval", "models": ["Hushmodel"]}, method="PATCH")
    tool = owner.ok(
        "tools", "draft", {"name": "hush_tool", "args_drafts": [{"name": "hushed", "type": "string"}]}, method="PATCH"
    )
    invocation = owner.ok(
        "invocations", "draft", {"name": "Hush call", "key": {"name": "hushkey", "secret": SECRET}}, method="PATCH"
    )
    return {
        "department": persona["department_ids"][0],
        "name": persona["name_id"],
        "model": evaluation["form_state"]["model_ids"][0],
        "arg": tool["form_state"]["arg_ids"][0],
        "key": invocation["form_state"]["key_id"],
    }


def judge_flag(api: Api) -> str:
    options = api.ok("evals", "get", {})["flags"]["options"]
    return next(o["id"] for o in options if o["value"] == {"type": "eval_role", "value": "judge"})


def selections(api: Api, flag: str) -> dict[str, Any]:
    """Each way a request selects a resource by id: (what, a call naming `rid`), for the kind of value named."""
    persona = api.create("personas", name="Live one")

    def draft(kind: str, body: dict[str, Any]):
        return lambda: api.op(kind, "draft", body, method="PATCH")

    def csv_import(rid: str):
        cell = '"{""id"": ""' + rid + '""}"'
        file = ("rows.csv", f"name,key\r\nImported,{cell}\r\n".encode(), "text/csv")
        return api.client.post("/api/v5/artifacts/invocations/import", headers=api.headers, files={"file": file})

    return {
        "department": lambda rid: [
            draft("personas", {"department_ids": [rid]})(),
            draft("personas", {"name": "Mine", "department_ids": [rid], "pending_ids": [rid]})(),
            api.op("personas", "create", {"personas": [{"name": "Made", "department_ids": [rid]}]}),
            api.op("personas", "update", {"personas": [{"persona_id": persona, "department_ids": [rid]}]}),
            api.as_agent().op("personas", "draft", {"department_ids": [rid]}, method="PATCH"),
        ],
        "name": lambda rid: [
            draft("personas", {"name_id": rid})(),
            api.as_agent().op("personas", "draft", {"name_id": rid}, method="PATCH"),
        ],
        "model": lambda rid: [
            draft("evals", {"name": "E", "model_ids": [rid]})(),
            draft(
                "evals", {"name": "E", "model_flag_values": [{"model_id": rid, "type": "eval_role", "value": "judge"}]}
            )(),
            draft("evals", {"name": "E", "model_flags": [{"model_id": rid, "flag_id": flag}]})(),
            api.post("/api/v5/resources/model_flags/create", {"model_flags": [{"model_id": rid, "flag_id": flag}]}),
        ],
        "arg": lambda rid: [
            draft("tools", {"name": "t", "args_drafts": [{"arg_id": rid}]})(),
            draft("tools", {"name": "t", "arg_positions": [{"arg_id": rid, "position": 0}]})(),
            draft("tools", {"name": "t", "arg_ids": [rid]})(),
        ],
        "key": lambda rid: [draft("invocations", {"name": "I", "key_id": rid})(), csv_import(rid)],
    }


def test_someone_elses_staged_value_selected_by_id_answers_like_an_unknown_id(make_api, db):
    owner, other = make_api(), make_api()
    hidden = staged(owner)
    calls = selections(other, judge_flag(other))
    for what, call in calls.items():
        unknown = str(uuid.uuid4())
        for n, (seen, expected) in enumerate(zip(call(hidden[what]), call(unknown), strict=True)):
            assert seen.status_code == expected.status_code, (what, n, seen.text[:200])
            assert seen.text.replace(hidden[what], "<id>") == expected.text.replace(unknown, "<id>"), (what, seen.text)
    for text in every_read(other, "hush"):
        assert "Hush" not in text and "hushed" not in text and "hushkey" not in text, text[:300]
    assert queue(owner) == []
    with db.transaction(write=False) as session:  # nothing of the owner's was published either
        assert (
            session.scalar(select(Resource.id).where(Resource.value.like("%Hush%"), Resource.staged_by.is_(None)))
            is None
        )


def test_the_owner_selects_their_staged_values_by_id_and_a_draft_keeps_what_it_holds(make_api):
    owner, other = make_api(), make_api()
    hidden = staged(owner)
    again = owner.ok("personas", "draft", {"name": "Second", "department_ids": [hidden["department"]]}, method="PATCH")
    assert again["form_state"]["departments"] == ["Hushdept"]
    proposal = propose(owner.as_agent(), "personas", {"name": "Proposed", "department_ids": [hidden["department"]]})
    assert proposal["form_state"]["proposals"][0]["changes"]["department_ids"] == [hidden["department"]]
    # Typed by value, the same department is found: that draft then holds it and may name it again.
    typed = other.ok("personas", "draft", {"name": "Theirs", "departments": ["Hushdept"]}, method="PATCH")
    held = typed["form_state"]["department_ids"]
    body = {"draft_id": typed["draft_id"], "department_ids": held, "pending_ids": held}
    assert other.ok("personas", "draft", body, method="PATCH")["form_state"]["pending_ids"] == held
