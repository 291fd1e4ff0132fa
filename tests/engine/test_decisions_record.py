"""Decisions that keep their record (API.md section 14): a decided proposal shows the values it was decided
against, people are named as {profile_id, name, type}, and many proposals are decided in one request."""

from __future__ import annotations

from typing import Any

from conftest import Api, assert_error


def propose(agent: Api, body: dict[str, Any]) -> str:
    answer = agent.ok("personas", "draft", body, method="PATCH")
    return answer["form_state"]["proposals"][-1]["proposal_id"]


def queue(api: Api, **filters: Any) -> list[dict[str, Any]]:
    return api.post("/api/v5/proposals/search", filters).json()["proposals"]


def decide(api: Api, body: dict[str, Any]):
    return api.post("/api/v5/proposals/decide", body)


def description_change(view: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in view["changes"] if c["field"] == "description")


def test_an_accepted_proposal_still_shows_what_it_changed(make_api):
    owner, reviewer = make_api(name="Ada"), make_api(name="Grace")
    persona_id = owner.create("personas", name="Scout", description="Finds documents")
    pid = propose(owner.as_agent(), {"persona_id": persona_id, "description": "Finds and cites documents"})

    accepted = decide(reviewer, {"proposal_id": pid, "decision": "accept"}).json()["proposal"]
    expected = {"field": "description", "now": "Finds documents", "proposed": "Finds and cites documents"}
    assert description_change(accepted) == expected
    owner.ok("personas", "update", {"personas": [{"persona_id": persona_id, "description": "Later words"}]})
    (record,) = queue(reviewer, status="accepted")
    assert description_change(record) == expected  # frozen at the decision, not today's value


def test_a_rejected_proposal_keeps_the_value_it_was_judged_against(make_api):
    owner, reviewer = make_api(name="Ada"), make_api(name="Grace")
    persona_id = owner.create("personas", name="Scout", description="Finds documents")
    pid = propose(owner.as_agent(), {"persona_id": persona_id, "description": "Rewritten"})
    assert decide(reviewer, {"proposal_id": pid, "decision": "reject", "reason": "No"}).status_code == 200
    owner.ok("personas", "update", {"personas": [{"persona_id": persona_id, "description": "Moved on"}]})
    (record,) = queue(reviewer, status="rejected")
    assert description_change(record)["now"] == "Finds documents"
    assert record["decided_by"] == {
        "profile_id": record["decided_by"]["profile_id"],
        "name": "Grace",
        "type": "person",
    }


def test_who_approved_a_revision_is_named_not_an_id(make_api):
    owner, reviewer = make_api(name="Ada"), make_api(name="Grace")
    persona_id = owner.create("personas", name="Scout")
    pid = propose(owner.as_agent(), {"persona_id": persona_id, "description": "Cites"})
    decided = decide(reviewer, {"proposal_id": pid, "decision": "accept"}).json()
    grace = decided["proposal"]["decided_by"]

    newest = owner.ok("personas", "history", {"persona_id": persona_id})["revisions"][0]
    assert newest["approved_by"] == grace and grace["name"] == "Grace" and grace["type"] == "person"
    revision = owner.ok("personas", "revision", {"persona_id": persona_id, "version": newest["version"]})
    assert revision["approved_by"] == grace


def test_many_decisions_in_one_request_each_on_its_own(make_api):
    owner, reviewer = make_api(name="Ada"), make_api(name="Grace")
    agent = owner.as_agent()
    ids = [propose(agent, {"name": f"Idea {i}"}) for i in range(3)]
    assert decide(reviewer, {"proposal_id": ids[0], "decision": "accept"}).status_code == 200

    answer = decide(
        reviewer,
        {
            "decisions": [
                {"proposal_id": ids[0], "decision": "reject"},  # already accepted: fails alone
                {"proposal_id": ids[1], "decision": "reject", "reason": "Not now"},
                {"proposal_id": ids[2], "decision": "reject"},
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    first, second, third = answer.json()["results"]
    assert (first["index"], first["success"], first["code"]) == (0, False, "already_decided")
    assert second["success"] is True and second["proposal"]["status"] == "rejected"
    assert second["proposal"]["reason"] == "Not now" and third["proposal"]["status"] == "rejected"
    assert {v["proposal_id"] for v in queue(reviewer, status="rejected")} == {ids[1], ids[2]}
    assert [v["proposal_id"] for v in queue(reviewer, status="accepted")] == [ids[0]]


def test_many_decisions_are_checked_whole_and_people_only(make_api):
    reviewer = make_api(name="Grace")
    assert_error(decide(reviewer, {"decisions": []}), 422)
    too_many = [{"proposal_id": "00000000-0000-0000-0000-000000000000", "decision": "reject"}] * 101
    assert_error(decide(reviewer, {"decisions": too_many}), 422)
    assert_error(decide(reviewer.as_agent(), {"decisions": too_many[:1]}), 403)
    (missing,) = decide(reviewer, {"decisions": too_many[:1]}).json()["results"]
    assert missing["success"] is False and missing["code"] == "not_found"
