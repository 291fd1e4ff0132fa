"""Configuration as code (issue 35): pull, plan and apply a folder of YAML files against a live server, through
its public HTTP API only, on SQLite and PostgreSQL. The group holds the sample project `seed-demo` loads."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from conftest import TEST_SECRET, make_key
from loomwork import groups, sample
from loomwork.cli import app as cli
from loomwork.gitops.apply import apply_plan
from loomwork.gitops.format import FolderError, read_folder
from loomwork.gitops.plan import make_plan, word_diff
from loomwork.gitops.pull import pull
from loomwork.gitops.remote import Remote
from loomwork.identity import service as identity
from loomwork.principal import Role

GROUP = "shop"


@pytest.fixture
def shop(db, live_server) -> dict[str, Any]:
    """The sample project in group `shop`, served live; a person's admin key, an agent's key."""
    sample.load(db, GROUP)
    with db.transaction(write=True) as session:
        group = groups.ensure_group(session, GROUP)
        bot = identity.ensure_agent(session, group, "ci-bot", Role.EDITOR, sample.LEAD)
        agent_key = identity.create_key(session, TEST_SECRET, bot, "ci")
    return {"url": live_server.url, "key": make_key(db, GROUP, "release-manager", "admin"), "agent_key": agent_key}


def remote(shop: dict[str, Any], *, agent: bool = False) -> Remote:
    return Remote(shop["url"], shop["agent_key"] if agent else shop["key"])


def resolve(shop: dict[str, Any], kind: str, name: str, key: str | None = None) -> dict[str, Any]:
    response = httpx.get(f"{shop['url']}/api/v5/resolve/{kind}/{name}", headers={"X-Api-Key": key or shop["key"]})
    assert response.status_code == 200, response.text
    return response.json()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_sample_round_trips_and_three_edited_files_change_exactly_their_fields(shop, tmp_path):
    with remote(shop) as server:
        pull(server, tmp_path)
        assert make_plan(server, tmp_path).empty
        first = files(tmp_path)
        pull(server, tmp_path)
        assert files(tmp_path) == first, "the same state writes the same bytes"

        edit(tmp_path / "personas/front-desk.yaml", "Greet {{customer_name}} by name", "Greet {{customer_name}} warmly")
        edit(tmp_path / "personas/front-desk.yaml", "  - Warm\n  - Concise\n", "  - Concise\n  - Cheerful\n")
        edit(tmp_path / "tools/track-a-parcel.yaml", "dhl, ups or colissimo.", "dhl, ups, dpd or colissimo.")
        edit(tmp_path / "evals/tone-of-voice.yaml", "Same prompt and tone guide as answer A", "Same prompt, same guide")
        plan = make_plan(server, tmp_path)
        changed = {(c.kind, c.name, field) for c in plan.changes for field in c.fields}
        assert changed == {
            ("personas", "Front desk", "instructions"),
            ("personas", "Front desk", "voices"),
            ("tools", "Track a parcel", "args"),
            ("evals", "Tone of voice", "models"),
        }
        outcomes = apply_plan(server, plan, message="PR 7")
        assert [o.status for o in outcomes] == ["done"] * 3, [o.detail for o in outcomes]
        assert make_plan(server, tmp_path).empty

    front_desk = resolve(shop, "personas", "Front desk")["config"]
    assert "Greet {{customer_name}} warmly" in front_desk["instructions"]
    assert front_desk["voices"] == ["Concise", "Cheerful"], "a list in the file replaces the list, in its order"
    carrier = resolve(shop, "tools", "Track a parcel")["config"]["function"]["parameters"]["properties"]["carrier"]
    assert carrier["description"] == "dhl, ups, dpd or colissimo."
    models = resolve(shop, "evals", "Tone of voice")["config"]["models"]
    assert [m["rubric"] for m in models][1] == "Same prompt, same guide"
    assert [m["model"] for m in models] == ["gpt-4o-mini", "claude-haiku-4", "gpt-4o"]


def test_applying_an_unchanged_folder_writes_no_version(shop, tmp_path):
    with remote(shop) as server:
        pull(server, tmp_path)
        before = {
            a: c.version
            for kind in ("personas", "tools")
            for a, c in server.current(kind, [i for i, _ in server.ids(kind)]).items()
        }
        assert apply_plan(server, make_plan(server, tmp_path)) == []
        after = {
            a: c.version
            for kind in ("personas", "tools")
            for a, c in server.current(kind, [i for i, _ in server.ids(kind)]).items()
        }
    assert after == before


def test_a_change_made_meanwhile_in_the_pages_is_a_conflict_and_is_kept(shop, tmp_path):
    with remote(shop) as server:
        pull(server, tmp_path)
        edit(tmp_path / "personas/quality-coach.yaml", "Praise one thing", "Praise two things")
        plan = make_plan(server, tmp_path)
        persona_id = plan.changes[0].id
        meanwhile = server.op(
            "personas", "update", {"personas": [{"persona_id": persona_id, "description": "Changed in the pages"}]}
        )
        assert meanwhile["results"][0]["success"]
        (outcome,) = apply_plan(server, plan)
    assert outcome.status == "conflict", outcome
    config = resolve(shop, "personas", "Quality coach")["config"]
    assert config["description"] == "Changed in the pages"
    assert "Praise one thing" in config["instructions"]


def test_an_agents_apply_lands_as_proposals_and_nothing_goes_live(shop, tmp_path):
    with remote(shop, agent=True) as bot:
        pull(bot, tmp_path)
        edit(tmp_path / "personas/quality-coach.yaml", "Praise one thing", "Praise two things")
        (tmp_path / "personas/made-in-git.yaml").write_text("name: Made in git\ninstructions: Hello {{who}}\n")
        plan = make_plan(bot, tmp_path)
        assert plan.agent
        outcomes = apply_plan(bot, plan, message="https://git.example/shop/pull/8")
        assert sorted(o.status for o in outcomes) == ["proposed", "proposed"], [o.detail for o in outcomes]
        waiting = bot.post("/api/v5/proposals/search", {"status": "waiting"})["proposals"]
    by_bot = {p["artifact_name"] for p in waiting if p["proposer"]["name"] == "ci-bot"}
    assert by_bot == {"Quality coach", "Made in git"}
    assert {str(p["proposal_id"]) for o in outcomes for p in [{"proposal_id": x} for x in o.proposals]} <= {
        p["proposal_id"] for p in waiting
    }
    assert "Praise one thing" in resolve(shop, "personas", "Quality coach")["config"]["instructions"]
    missing = httpx.get(f"{shop['url']}/api/v5/resolve/personas/Made in git", headers={"X-Api-Key": shop["key"]})
    assert missing.status_code == 404


def test_deletions_need_prune(shop, tmp_path):
    with remote(shop) as server:
        pull(server, tmp_path)
        (tmp_path / "personas/quality-coach.yaml").unlink()
        assert make_plan(server, tmp_path).empty
        plan = make_plan(server, tmp_path, prune=True)
        assert [(c.action, c.name) for c in plan.changes] == [("delete", "Quality coach")]
        assert [o.status for o in apply_plan(server, plan)] == ["done"]
        assert "Quality coach" not in {name for _, name in server.ids("personas")}
        assert make_plan(server, tmp_path, prune=True).empty


def test_a_broken_file_names_its_line_and_field_and_nothing_is_applied(shop, tmp_path):
    with remote(shop) as server:
        pull(server, tmp_path)
        edit(tmp_path / "personas/front-desk.yaml", "Greet {{customer_name}} by name", "Greet by name")
        edit(tmp_path / "tools/book-a-callback.yaml", "    required: true\n", "    required: maybe\n")
        edit(tmp_path / "personas/order-tracker.yaml", "voices:\n", "voices: [unclosed\n")
        with pytest.raises(FolderError) as raised:
            make_plan(server, tmp_path)
    problems = {(e.path, e.field) for e in raised.value.errors}
    assert problems == {("personas/order-tracker.yaml", None), ("tools/book-a-callback.yaml", "args")}
    lines = {e.path: e.line for e in raised.value.errors}
    text = (tmp_path / "tools/book-a-callback.yaml").read_text().splitlines()
    assert text[lines["tools/book-a-callback.yaml"] - 1].startswith("args:")
    assert lines["personas/order-tracker.yaml"] is not None
    assert "Greet {{customer_name}} by name" in resolve(shop, "personas", "Front desk")["config"]["instructions"]


def test_a_folder_pulled_from_one_group_reproduces_its_resolve_answers_in_another(shop, db, tmp_path):
    other_key = make_key(db, "staging", "promoter", "admin")
    with remote(shop) as source, Remote(shop["url"], other_key) as target:
        pull(source, tmp_path)
        for name in ("OpenAI (support team)", "Anthropic (quality)", "OpenAI (voice line)", "Ollama (no key needed)"):
            target.post("/api/v5/resources/keys/create", {"keys": [{"name": name, "secret": "sk-other-0000"}]})
        outcomes = apply_plan(target, make_plan(target, tmp_path))
        assert {o.status for o in outcomes} == {"done"}, [o.detail for o in outcomes if o.status != "done"]
        assert make_plan(target, tmp_path).empty
    for kind, name in [("personas", "Returns specialist"), ("tools", "Open a ticket"), ("evals", "Spanish replies")]:
        here, there = resolve(shop, kind, name), resolve(shop, kind, name, other_key)
        assert _without_ids(there["config"]) == _without_ids(here["config"])
    line = resolve(shop, "invocations", "Voice line", other_key)["config"]
    assert line["key"] == {"name": "OpenAI (voice line)", "secret": "****0000"}, "the key the group holds, by name"
    assert line["models"][0]["model"] == "gpt-4o"


def _without_ids(config: dict[str, Any]) -> dict[str, Any]:
    return {**config, "models": [{k: v for k, v in m.items() if k != "id"} for m in config.get("models", [])]}


def test_plan_exit_code_says_whether_anything_would_change(shop, tmp_path):
    runner = CliRunner()
    env = {"LOOMWORK_URL": shop["url"], "LOOMWORK_API_KEY": shop["key"]}
    assert runner.invoke(cli, ["pull", str(tmp_path)], env=env).exit_code == 0
    assert runner.invoke(cli, ["plan", str(tmp_path), "--exit-code"], env=env).exit_code == 0
    edit(tmp_path / "personas/front-desk.yaml", "Greet {{customer_name}} by", "Greet {{customer_name}} warmly by")
    changed = runner.invoke(cli, ["plan", str(tmp_path), "--exit-code"], env=env)
    assert changed.exit_code == 2 and "{+ warmly+}" in changed.output, changed.output
    (tmp_path / "personas/bad.yaml").write_text("name: [\n")
    assert runner.invoke(cli, ["plan", str(tmp_path), "--exit-code"], env=env).exit_code == 1


def test_word_diff_marks_only_the_changed_words():
    assert (
        word_diff("Praise one thing.", "Praise two things.", colour=False)
        == "Praise [-one-]{+two+} [-thing.-]{+things.+}"
    )


def test_read_folder_refuses_an_unknown_field(tmp_path):
    (tmp_path / "personas").mkdir()
    (tmp_path / "personas/a.yaml").write_text(f"id: {uuid.uuid4()}\nname: A\ncolour: '#fff'\n")
    with pytest.raises(FolderError) as raised:
        read_folder(tmp_path)
    assert (raised.value.errors[0].line, raised.value.errors[0].field) == (3, "colour")


def test_the_file_schema_is_served_and_written_by_pull(shop, tmp_path):
    runner = CliRunner()
    env = {"LOOMWORK_URL": shop["url"], "LOOMWORK_API_KEY": shop["key"]}
    assert runner.invoke(cli, ["pull", str(tmp_path), "--kind", "tools"], env=env).exit_code == 0
    served = httpx.get(f"{shop['url']}/api/v5/gitops/schemas/tools", headers={"X-Api-Key": shop["key"]})
    assert served.status_code == 200
    assert json.loads((tmp_path / ".schemas/tools.json").read_text()) == served.json()
    pulled = yaml.safe_load((tmp_path / "tools/open-a-ticket.yaml").read_text())
    assert set(pulled) <= set(served.json()["properties"])
    assert served.json()["properties"]["args"]["items"]["properties"]["type"]["enum"][0] == "string"
    assert httpx.get(f"{shop['url']}/api/v5/gitops/schemas/tools").status_code == 401


def test_pull_by_label_writes_only_the_labelled_artifacts_and_their_labels(shop, tmp_path):
    with remote(shop) as server:
        pull(server, tmp_path, kinds=("personas",), label="staging")
    (only,) = (tmp_path / "personas").iterdir()
    assert only.name == "order-tracker.yaml"
    assert yaml.safe_load(only.read_text())["labels"] == {"production": 1, "staging": "current"}


def test_an_agents_change_to_an_artifact_changed_meanwhile_is_a_conflict_and_leaves_no_proposal(shop, tmp_path):
    with remote(shop, agent=True) as bot, remote(shop) as person:
        pull(bot, tmp_path)
        edit(tmp_path / "personas/quality-coach.yaml", "Praise one thing", "Praise two things")
        plan = make_plan(bot, tmp_path)
        meanwhile = person.op(
            "personas", "update", {"personas": [{"persona_id": plan.changes[0].id, "description": "From the pages"}]}
        )
        assert meanwhile["results"][0]["success"]
        (outcome,) = apply_plan(bot, plan)
        waiting = person.post("/api/v5/proposals/search", {"status": "waiting"})["proposals"]
    assert outcome.status == "conflict", outcome
    assert not [p for p in waiting if p["proposer"]["name"] == "ci-bot"]
