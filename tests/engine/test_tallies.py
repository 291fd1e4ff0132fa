"""Counts kept with each write (db/tallies.py): the unfiltered search's total and facets, get's option
totals and the resource lists' totals must be exactly what counting the rows would say, after creates,
bulk creates, updates, pending changes, deletes, folds and refresh, and never another group's.

The truth here is computed independently: facet counts from the listed personas themselves (the page
shows each one's active values), totals with count(*) on the base tables.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from loomwork.db import tallies
from loomwork.db.tallies import TallyDelta, TallyTotal
from loomwork.kinds.persona import PERSONA
from loomwork.resources.models import Resource

KIND = "personas"


@pytest.fixture(params=["deltas", "folded"])
def fold_mode(request, monkeypatch):
    """Reads sum totals and deltas: check them with deltas left alone and with a fold after every write."""
    monkeypatch.setattr(tallies, "FOLD_ONE_IN", 0 if request.param == "deltas" else 1)
    return request.param


def _every_persona(api) -> list[dict[str, Any]]:
    """All of the group's personas through a text-free search, 200 a page."""
    items, offset = [], 0
    while True:
        page = api.ok(KIND, "search", {"page_size": 200, "page_offset": offset})[KIND]
        items += page
        if len(page) < 200:
            return items
        offset += 200


def _expected_facets(items: list[dict[str, Any]]) -> dict[str, Counter]:
    """Per facet: label -> how many personas hold it live, from the items' own active values."""
    expected = {}
    for facet in PERSONA.facets:
        slot = PERSONA.slot_by_key[facet.slot]
        counter: Counter = Counter()
        for item in items:
            held = item[slot.section] if slot.many else ([item[slot.key]] if item[slot.key] is not None else [])
            counter.update(str(value) for value in held)
        expected[facet.name] = counter
    return expected


def _facets_of(answer: dict[str, Any]) -> dict[str, Counter]:
    return {
        f.name: Counter({o["label"]: o["count"] for o in answer[f.filter_field]["options"]}) for f in PERSONA.facets
    }


def _assert_unfiltered_search_is_exact(api) -> dict[str, Any]:
    items = _every_persona(api)
    answer = api.ok(KIND, "search", {})
    assert answer["total_count"] == len(items)
    expected = _expected_facets(items)
    for facet in PERSONA.facets:
        section = answer[facet.filter_field]
        assert section["total"] == len(expected[facet.name]), facet.name  # options with a count, before the cut
    assert _facets_of(answer) == expected
    return answer


def _scene(api, other) -> dict[str, str]:
    """Creates (one by one and in bulk), an update, a pending change, a delete; another group writes too."""
    ids = {}
    for name, departments, voice in [
        ("Ada", ["Sales", "Ops"], "Alto"),
        ("Bea", ["Sales"], "Bass"),
        ("Cy", ["Ops", "Legal"], "Alto"),
        ("Dee", [], None),
    ]:
        ids[name] = api.create(
            KIND,
            name=name,
            departments=departments,
            voices=[voice] if voice else [],
            color="#112233",
            scenarios=["Onboarding"],
        )
    bulk = api.ok(
        KIND,
        "create",
        {KIND: [{"name": f"Bulk {i}", "departments": ["Sales", f"Team {i}"], "voices": ["Tenor"]} for i in range(3)]},
    )["results"]
    assert all(r["success"] for r in bulk), bulk
    other.create(KIND, name="Elsewhere", departments=["Sales", "Secret"], voices=["Alto"])
    departments = {o["value"]: o["id"] for o in api.ok(KIND, "get", {})["departments"]["options"]}
    changes = [
        {"persona_id": ids["Ada"], "department_ids": [departments["Legal"]], "color": "#445566"},
        {"persona_id": ids["Cy"], "pending_ids": [departments["Ops"]]},
    ]
    assert all(r["success"] for r in api.ok(KIND, "update", {KIND: changes})["results"])
    assert api.ok(KIND, "delete", {"persona_ids": [ids["Bea"]]})["results"][0]["success"]
    return ids


def test_unfiltered_search_counts_exactly_after_every_kind_of_write(make_api, fold_mode):
    api, other = make_api("editor"), make_api("editor", group="other")
    _scene(api, other)
    answer = _assert_unfiltered_search_is_exact(api)
    department = _facets_of(answer)["department"]
    # Ada moved to Legal, Bea is gone, Cy's Ops is only pending, another group's Sales counts nowhere.
    assert department["Sales"] == 3 and department["Legal"] == 2 and "Ops" not in department
    assert "Secret" not in department
    assert answer["total_count"] == 6

    # The last write undone: the pending connection becomes live, and it counts again.
    cy = next(p for p in _every_persona(api) if p["name"] == "Cy")
    assert api.ok(KIND, "update", {KIND: [{"persona_id": cy["persona_id"], "pending_ids": []}]})["results"][0][
        "success"
    ]
    assert _facets_of(_assert_unfiltered_search_is_exact(api))["department"]["Ops"] == 1


def test_unfiltered_search_agrees_with_the_counted_path(make_api, fold_mode):
    """A text that every persona matches takes the counting path: both must say the same."""
    api, other = make_api("editor"), make_api("editor", group="other")
    _scene(api, other)
    for persona in _every_persona(api):  # a word every name holds, so the text matches all
        api.ok(KIND, "update", {KIND: [{"persona_id": persona["persona_id"], "description": "common"}]})
    fast, counted = api.ok(KIND, "search", {}), api.ok(KIND, "search", {"search": "common"})
    assert fast["total_count"] == counted["total_count"]
    for facet in PERSONA.facets:
        assert fast[facet.filter_field] == counted[facet.filter_field], facet.name
    assert fast[KIND] == counted[KIND]


def test_a_facet_narrowed_by_its_search_text_is_still_exact(api):
    api.create(KIND, name="Ada", departments=["Sales East", "Ops"])
    api.create(KIND, name="Bea", departments=["Sales West", "Sales East"])
    answer = api.ok(KIND, "search", {"department_search": "sales"})
    assert _facets_of(answer)["department"] == {"Sales East": 2, "Sales West": 1}
    assert answer["total_count"] == 2


def test_refresh_rebuilds_wrong_or_missing_tallies(make_api, db):
    api, admin, other = make_api("editor"), make_api("admin"), make_api("editor", group="other")
    _scene(api, other)
    before = _assert_unfiltered_search_is_exact(api)
    with db.transaction(write=True) as session:
        session.execute(delete(TallyTotal))
        session.execute(delete(TallyDelta))
    assert api.ok(KIND, "search", {})["total_count"] == 0  # the derived counts are wrong now

    answer = admin.ok(KIND, "refresh")
    assert "tally_totals" in answer["refreshed_views"]
    assert api.ok(KIND, "search", {}) == before
    assert admin.ok(KIND, "refresh") and api.ok(KIND, "search", {}) == before  # a rebuild changes nothing


def _resource_count(db, group_id: str, kind: str) -> int:
    with db.transaction(write=False) as session:
        return session.scalar(
            select(func.count())
            .select_from(Resource)
            .where(Resource.group_id == uuid.UUID(group_id), Resource.kind == kind)
        )


def test_get_totals_are_exact(make_api, db, fold_mode):
    api, other = make_api("editor"), make_api("editor", group="other")
    ids = _scene(api, other)
    for extra in range(60):  # more departments than a section shows, so the total cannot come from the page
        assert api.post("/api/v5/resources/departments/create", {"departments": [f"Extra {extra}"]}).status_code == 200
    view = api.ok(KIND, "get", {"persona_id": ids["Ada"]})
    group = view["group_id"]
    for slot in PERSONA.slots:
        if slot.resource == "flag":
            continue  # the flag section hides other kinds' catalog flags: counted, not tallied
        section = view[slot.section]
        selected = len(set(section["selected_ids"]))
        assert section["total"] == _resource_count(db, group, slot.resource), slot.key
        assert len(section["options"]) == min(50, section["total"]), slot.key
        assert selected <= section["total"]
    # The resource list's total is the same count.
    listed = api.post("/api/v5/resources/departments/search", {}).json()
    assert listed["total_count"] == _resource_count(db, group, "department") > 60
    # A deleted resource stops counting.
    unused = next(d for d in listed["departments"] if d["value"].startswith("Extra"))
    assert api.post("/api/v5/resources/departments/delete", {"ids": [unused["id"]]}).json()["results"][0]["success"]
    assert api.post("/api/v5/resources/departments/search", {}).json()["total_count"] == listed["total_count"] - 1
    assert api.ok(KIND, "get", {})["departments"]["total"] == listed["total_count"] - 1
    # A searched section counts its matches.
    assert unused["value"] == "Extra 59"  # the newest
    searched = api.ok(KIND, "get", {"persona_id": ids["Ada"], "department_search": "extra 1"})["departments"]
    assert searched["total"] == 11  # Extra 1 and Extra 10 to 19


def test_the_migration_fills_tallies_from_the_data_already_there(make_api, db):
    """A database migrated with data in it (0013 after 0007) counts as if every write had kept the tallies."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from loomwork.db.migrate import alembic_config, upgrade

    api, other = make_api("editor"), make_api("editor", group="other")
    _scene(api, other)
    before = _assert_unfiltered_search_is_exact(api)
    departments = api.post("/api/v5/resources/departments/search", {}).json()["total_count"]
    config = alembic_config()
    below = ScriptDirectory.from_config(config).get_revision("0013").down_revision  # whatever the chain becomes
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, below)
    upgrade(db.engine)
    assert api.ok(KIND, "search", {}) == before
    assert api.post("/api/v5/resources/departments/search", {}).json()["total_count"] == departments


def test_read_top_ranks_totals_and_deltas_as_a_full_count_would(db):
    """read_top reads only the top of each scope's totals plus the items deltas touch: at the cut, with ties,
    items that only deltas hold, and items that deltas take to zero or below, it must agree with summing and
    ranking every item (count descending, then id)."""
    import random

    group, other = uuid.uuid4(), uuid.uuid4()
    rng = random.Random(7)
    items = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(120)]
    totals = {("a", item): rng.choice([1, 1, 2, 2, 3, 5, 8]) for item in items[:100]}
    totals |= {("a", item): 20 for item in items[:10]}  # the top of the totals, which the deltas take away
    totals |= {("b", item): 4 for item in items[:60]}  # one long tie
    deltas = (
        [("a", item, -totals[("a", item)]) for item in items[:10]]  # counted, then no longer
        + [("a", item, rng.choice([1, 2])) for item in items[100:115]]  # only deltas hold them
        + [("a", item, rng.choice([-1, 1])) for item in items[20:40]]
        + [("b", items[5], 1), ("b", items[6], -4), ("b", items[70], 4)]
    )
    with db.transaction(write=True) as session:
        session.execute(
            tallies.totals.insert(),
            [{"group_id": group, "scope": s, "item": i, "n": n} for (s, i), n in totals.items()]
            + [{"group_id": other, "scope": "a", "item": items[0], "n": 99}],
        )
        session.execute(
            tallies.deltas.insert(), [{"group_id": group, "scope": s, "item": i, "delta": d} for s, i, d in deltas]
        )
    expected: dict[str, Counter] = {"a": Counter(), "b": Counter(), "c": Counter()}
    for (scope, item), n in totals.items():
        expected[scope][item] += n
    for scope, item, delta in deltas:
        expected[scope][item] += delta
    for limit in (1, 5, 50, 200):
        with db.transaction(write=False) as session:
            found = tallies.read_top(session, group, ["a", "b", "c"], limit)
        for scope, counter in expected.items():
            positive = {item: n for item, n in counter.items() if n > 0}
            ranked = sorted(positive.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]
            assert found[scope] == (dict(ranked), len(positive)), (scope, limit)
            assert list(found[scope][0]) == [item for item, _n in ranked]  # in rank order
