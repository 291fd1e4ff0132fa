"""Search and refresh (API.md sections 2 and 5, seed 003), through HTTP.

Every test names the rule it checks and runs on SQLite and PostgreSQL (through
the `api` / `make_api` fixtures, which take `dialect`). Search: text words must
each start a word of the name, description or instructions; id filters OR within
one filter and AND across filters; each facet counts the matches under all the
*other* filters (disjunctive facets); pending connections count nowhere. The rules
are the engine's; they run through the persona kind, whose facets (seed 003) are
the richest, so the facet names and their fields here are the persona's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from test_csv_export_import import COLUMNS as IMPORT_COLUMNS

from conftest import assert_error
from loomwork.db.tallies import TallyDelta, TallyTotal
from loomwork.engine.search_models import SearchDocument

KIND = "personas"
SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="{r}" fill="#f00" /></svg>'
FACETS = ("scenario", "field", "department", "color", "icon", "voice", "instruction")
# facet name -> (its request ids field, the get section holding its resources)
FACET_SLOTS = {
    "scenario": ("scenario_ids", "scenarios"),
    "field": ("field_ids", "parameter_fields"),
    "department": ("filter_department_ids", "departments"),
    "color": ("color_ids", "colors"),
    "icon": ("icon_ids", "icons"),
    "voice": ("voice_ids", "voices"),
    "instruction": ("instruction_ids", "instructions"),
}


# --- helpers -----------------------------------------------------------------------------------------------


def search(api, **body: Any) -> dict[str, Any]:
    return api.ok(KIND, "search", body)


def names(answer: dict[str, Any]) -> list[str]:
    """The names of the personas on the page, in the order search gives them."""
    return [p["name"] for p in answer["personas"]]


def found(api, text: str) -> set[str]:
    return set(names(search(api, search=text, page_size=200)))


def facet(answer: dict[str, Any], name: str) -> dict[str, tuple[int, bool]]:
    """label -> (count, selected) of every option a facet section lists."""
    return {o["label"]: (o["count"], o["selected"]) for o in answer[f"{name}_filter"]["options"]}


def create_all(api, items: list[dict[str, Any]]) -> list[str]:
    results = api.ok(KIND, "create", {KIND: items})["results"]
    assert all(r["success"] for r in results), results
    return [r["persona_id"] for r in results]


def resource_ids(api, section: str) -> dict[str, str]:
    """value -> id of the group's resources of one get section (small fixtures: under the cut of 50)."""
    shown = api.ok(KIND, "get", {})[section]
    assert shown["total"] <= 50, "fixture too large for a get section"
    return {o["value"]: o["id"] for o in shown["options"]}


# The disjunctive-facet fixture: (name, departments, scenarios, voices).
FIXTURE = [
    ("Agent One", ["Sales"], ["Refund"], ["Alto"]),
    ("Agent Two", ["Sales"], ["Upgrade"], ["Bass"]),
    ("Agent Three", ["Billing"], ["Refund"], ["Alto"]),
    ("Agent Four", ["Billing"], ["Refund"], ["Bass"]),
    ("Zed Five", ["Ops"], ["Upgrade"], ["Alto"]),
    ("Agent Six", ["Sales", "Billing"], ["Refund"], ["Tenor"]),
]


def create_fixture(api) -> dict[str, dict[str, str]]:
    """The six personas above; returns value -> id for departments, scenarios and voices."""
    create_all(api, [{"name": n, "departments": d, "scenarios": s, "voices": v} for n, d, s, v in FIXTURE])
    return {section: resource_ids(api, section) for section in ("departments", "scenarios", "voices")}


# --- text search -------------------------------------------------------------------------------------------


def test_text_search_requires_every_word_to_match(api):
    create_all(api, [{"name": "Ada Lovelace"}, {"name": "Ada Byron"}, {"name": "Grace Hopper"}])

    assert found(api, "ada") == {"Ada Lovelace", "Ada Byron"}
    assert found(api, "ada lovelace") == {"Ada Lovelace"}
    assert found(api, "lovelace ada") == {"Ada Lovelace"}  # word order does not matter
    assert found(api, "ada hopper") == set()
    assert found(api, "  ada   byron  ") == {"Ada Byron"}


def test_text_search_is_case_insensitive(api):
    create_all(api, [{"name": "Ada Lovelace"}, {"name": "grace hopper"}])

    for text in ("ada", "ADA", "aDa LoVeLaCe"):
        assert found(api, text) == {"Ada Lovelace"}, text
    assert found(api, "GRACE HOPPER") == {"grace hopper"}


def test_text_search_is_case_insensitive_beyond_ascii(api):
    create_all(api, [{"name": "Équipe Rouge"}, {"name": "équipe bleue"}, {"name": "ÜBER Straße"}])

    for text in ("équipe", "Équipe", "ÉQUIPE"):
        assert found(api, text) == {"Équipe Rouge", "équipe bleue"}, text
    assert found(api, "über straße") == {"ÜBER Straße"}
    assert found(api, "équipe rouge") == {"Équipe Rouge"}


def test_text_search_looks_in_name_description_and_instructions(api):
    create_all(
        api,
        [
            {"name": "Ada", "description": "Counts numbers", "instructions": "Debug compilers"},
            {"name": "Bob", "description": "Sells houses"},
            {"name": "Cy", "instructions": "Counts sheep"},
            {"name": "Dee", "examples": ["Zebra example"], "departments": ["Zebra dept"], "voices": ["Zebra"]},
        ],
    )

    assert found(api, "ada") == {"Ada"}  # name
    assert found(api, "houses") == {"Bob"}  # description
    assert found(api, "compilers") == {"Ada"}  # instructions
    assert found(api, "counts") == {"Ada", "Cy"}  # description of one, instructions of the other
    assert found(api, "ada numbers compilers") == {"Ada"}  # the words may come from different slots
    assert found(api, "zebra") == set()  # examples, departments and voices are not searched


def test_text_search_matches_the_start_of_words_only(api):
    create_all(
        api, [{"name": "Ada Lovelace"}, {"name": "Jean-Luc Picard"}, {"name": "Miles O'Brien"}, {"name": "Lovejoy"}]
    )

    assert found(api, "lov") == {"Ada Lovelace", "Lovejoy"}
    assert found(api, "lovel") == {"Ada Lovelace"}
    assert found(api, "elace") == set()  # inside a word: no match
    assert found(api, "luc") == {"Jean-Luc Picard"}  # words are split on non-alphanumerics
    assert found(api, "brien") == {"Miles O'Brien"}
    assert found(api, "ada lov") == {"Ada Lovelace"}


def test_text_search_without_a_match_is_an_empty_page_with_total_zero(api):
    create_all(api, [{"name": "Ada Lovelace"}, {"name": "Grace Hopper"}])

    answer = search(api, search="nobody")

    assert answer["personas"] == [] and answer["total_count"] == 0
    for name in FACETS:
        assert answer[f"{name}_filter"]["options"] == [], name


# --- id filters --------------------------------------------------------------------------------------------


def test_id_filters_are_or_within_one_filter_and_and_across_filters(api):
    ids = create_fixture(api)
    dept, scen = ids["departments"], ids["scenarios"]

    def matches(**body: Any) -> set[str]:
        answer = search(api, page_size=200, **body)
        assert answer["total_count"] == len(answer["personas"])
        return set(names(answer))

    assert matches(filter_department_ids=[dept["Sales"]]) == {"Agent One", "Agent Two", "Agent Six"}
    assert matches(filter_department_ids=[dept["Sales"], dept["Ops"]]) == {
        "Agent One",
        "Agent Two",
        "Agent Six",
        "Zed Five",
    }
    assert matches(filter_department_ids=[dept["Sales"]], scenario_ids=[scen["Refund"]]) == {"Agent One", "Agent Six"}
    assert matches(filter_department_ids=[dept["Sales"], dept["Ops"]], scenario_ids=[scen["Upgrade"]]) == {
        "Agent Two",
        "Zed Five",
    }
    assert matches(filter_department_ids=[dept["Ops"]], scenario_ids=[scen["Refund"]]) == set()
    assert matches(search="agent", scenario_ids=[scen["Upgrade"]]) == {"Agent Two"}  # text ANDs with filters


def test_every_facet_filters_by_its_own_slot(api):
    """Each `*_ids` filter selects by the slot its facet names, and each facet section counts that slot."""
    p, q = create_all(
        api,
        [
            {
                "name": "P",
                "scenarios": ["Scen P"],
                "parameter_fields": ["field_p"],
                "departments": ["Dept P"],
                "color": "#aa0000",
                "icon": SVG.format(r=1),
                "instructions": "Rule P",
                "voices": ["Voice P"],
            },
            {
                "name": "Q",
                "scenarios": ["Scen Q"],
                "parameter_fields": ["field_q"],
                "departments": ["Dept Q"],
                "color": "#bb0000",
                "icon": SVG.format(r=2),
                "instructions": "Rule Q",
                "voices": ["Voice Q"],
            },
        ],
    )
    shown = {persona: api.ok(KIND, "get", {"persona_id": persona}) for persona in (p, q)}
    answer = search(api)

    for facet_name, (ids_field, section) in FACET_SLOTS.items():
        (p_id,), (q_id,) = shown[p][section]["selected_ids"], shown[q][section]["selected_ids"]
        options = answer[f"{facet_name}_filter"]["options"]
        assert sorted(o["id"] for o in options) == sorted([p_id, q_id]), facet_name
        assert all(o["count"] == 1 and o["selected"] is False for o in options), facet_name
        assert names(search(api, **{ids_field: [p_id]})) == ["P"], facet_name
        assert names(search(api, **{ids_field: [q_id]})) == ["Q"], facet_name
        assert sorted(names(search(api, **{ids_field: [p_id, q_id]}))) == ["P", "Q"], facet_name


# --- disjunctive facets ------------------------------------------------------------------------------------


def test_facet_counts_without_filters_count_every_match(api):
    create_fixture(api)

    answer = search(api)

    assert answer["total_count"] == 6
    assert facet(answer, "department") == {"Sales": (3, False), "Billing": (3, False), "Ops": (1, False)}
    assert facet(answer, "scenario") == {"Refund": (4, False), "Upgrade": (2, False)}
    assert facet(answer, "voice") == {"Alto": (3, False), "Bass": (2, False), "Tenor": (1, False)}


def test_a_facet_ignores_its_own_filter_and_applies_the_others(api):
    ids = create_fixture(api)
    dept, scen = ids["departments"], ids["scenarios"]

    one = search(api, filter_department_ids=[dept["Sales"]])
    assert one["total_count"] == 3
    assert facet(one, "department") == {"Sales": (3, True), "Billing": (3, False), "Ops": (1, False)}
    assert facet(one, "scenario") == {"Refund": (2, False), "Upgrade": (1, False)}
    assert facet(one, "voice") == {"Alto": (1, False), "Bass": (1, False), "Tenor": (1, False)}

    two = search(api, filter_department_ids=[dept["Sales"]], scenario_ids=[scen["Refund"]])
    assert sorted(names(two)) == ["Agent One", "Agent Six"] and two["total_count"] == 2
    # departments counted under scenario=Refund only (One, Three, Four, Six): Ops has none
    assert facet(two, "department") == {"Sales": (2, True), "Billing": (3, False)}
    # scenarios counted under department=Sales only (One, Two, Six)
    assert facet(two, "scenario") == {"Refund": (2, True), "Upgrade": (1, False)}
    # voices counted under both filters (One, Six)
    assert facet(two, "voice") == {"Alto": (1, False), "Tenor": (1, False)}


def test_facets_count_under_the_search_text_too(api):
    ids = create_fixture(api)
    dept = ids["departments"]

    answer = search(api, search="agent", filter_department_ids=[dept["Sales"], dept["Ops"]])

    assert sorted(names(answer)) == ["Agent One", "Agent Six", "Agent Two"]
    # "Zed Five" (the only Ops persona) does not match the text: Ops is selected, so listed, with 0
    assert facet(answer, "department") == {"Sales": (3, True), "Billing": (3, False), "Ops": (0, True)}
    assert facet(answer, "scenario") == {"Refund": (2, False), "Upgrade": (1, False)}


def test_selected_options_are_listed_even_with_no_match(api):
    ids = create_fixture(api)
    dept, scen = ids["departments"], ids["scenarios"]

    answer = search(api, filter_department_ids=[dept["Ops"]], scenario_ids=[scen["Refund"]])

    assert answer["personas"] == [] and answer["total_count"] == 0
    assert facet(answer, "department") == {"Sales": (2, False), "Billing": (3, False), "Ops": (0, True)}
    assert facet(answer, "scenario") == {"Refund": (0, True), "Upgrade": (1, False)}
    assert facet(answer, "voice") == {}


def test_facet_search_narrows_only_that_facets_options(api):
    create_fixture(api)
    plain = search(api)

    for needle in ("bil", "BIL", "Bil"):
        narrowed = search(api, department_search=needle)
        assert facet(narrowed, "department") == {"Billing": (3, False)}, needle
        assert narrowed["department_filter"]["total"] == 1, needle
        assert narrowed["total_count"] == 6 and narrowed["personas"] == plain["personas"], needle
        assert facet(narrowed, "scenario") == facet(plain, "scenario"), needle
        assert facet(narrowed, "voice") == facet(plain, "voice"), needle

    voices = search(api, voice_search="ALT", scenario_search="grade")
    assert facet(voices, "voice") == {"Alto": (3, False)}
    assert facet(voices, "scenario") == {"Upgrade": (2, False)}
    assert facet(voices, "department") == facet(plain, "department")
    assert facet(search(api, department_search="nothing like it"), "department") == {}


# --- pending connections -----------------------------------------------------------------------------------


def test_pending_connections_count_nowhere(api):
    p, _q = create_all(
        api,
        [
            {"name": "Pat", "departments": ["Sales", "Hidden"], "description": "Secretword"},
            {"name": "Quinn", "departments": ["Hidden"]},
        ],
    )
    departments = resource_ids(api, "departments")
    description_id = resource_ids(api, "descriptions")["Secretword"]
    result = api.ok(
        KIND, "update", {KIND: [{"persona_id": p, "pending_ids": [departments["Hidden"], description_id]}]}
    )["results"][0]
    assert result["success"], result

    answer = search(api)
    assert facet(answer, "department") == {"Sales": (1, False), "Hidden": (1, False)}  # Quinn's only
    assert names(search(api, filter_department_ids=[departments["Hidden"]])) == ["Quinn"]
    assert found(api, "secretword") == set()
    assert found(api, "pat") == {"Pat"}


def test_a_pending_name_does_not_match_text_search(api):
    (persona_id,) = create_all(api, [{"name": "Ghostname", "description": "Visible words"}])
    name_id = resource_ids(api, "names")["Ghostname"]
    assert api.ok(KIND, "update", {KIND: [{"persona_id": persona_id, "pending_ids": [name_id]}]})["results"][0][
        "success"
    ]

    assert found(api, "ghostname") == set()
    by_description = search(api, search="visible")["personas"]
    assert [p["persona_id"] for p in by_description] == [persona_id]  # still found by its live description


# --- paging and order --------------------------------------------------------------------------------------


def test_pages_split_the_matches_and_total_count_counts_them_all(api):
    create_all(api, [{"name": f"Pager {i}"} for i in range(7)] + [{"name": "Other"}])
    everything = search(api, search="pager", page_size=200)
    assert everything["total_count"] == 7 and len(everything["personas"]) == 7

    pages = [search(api, search="pager", page_size=3, page_offset=offset) for offset in (0, 3, 6)]

    assert [len(p["personas"]) for p in pages] == [3, 3, 1]
    assert all(p["total_count"] == 7 for p in pages)
    assert [p["persona_id"] for page in pages for p in page["personas"]] == [
        p["persona_id"] for p in everything["personas"]
    ]


def test_order_is_most_recently_updated_first_ties_by_id(api):
    create_all(api, [{"name": f"Tie {i}"} for i in range(6)])  # one request: times may tie
    listed = search(api, page_size=200)["personas"]

    keys = [(datetime.fromisoformat(p["updated_at"]), p["persona_id"]) for p in listed]
    newest_first = sorted(keys, key=lambda k: k[1])
    newest_first.sort(key=lambda k: k[0], reverse=True)
    assert keys == newest_first


def test_an_updated_artifact_moves_to_the_top(api):
    first = api.create(KIND, name="First")
    second = api.create(KIND, name="Second")
    third = api.create(KIND, name="Third")
    assert [p["persona_id"] for p in search(api)["personas"]] == [third, second, first]

    assert api.ok(KIND, "update", {KIND: [{"persona_id": first, "description": "Touched"}]})["results"][0]["success"]

    assert [p["persona_id"] for p in search(api)["personas"]] == [first, third, second]


def test_page_size_defaults_to_25(api):
    create_all(api, [{"name": f"Many {i}"} for i in range(26)])

    answer = search(api)

    assert len(answer["personas"]) == 25 and answer["total_count"] == 26
    assert len(search(api, page_size=200)["personas"]) == 26


def test_page_size_and_offset_out_of_range_are_422(api):
    create_all(api, [{"name": "Ada"}])
    for body, field in (
        ({"page_size": 0}, "page_size"),
        ({"page_size": 201}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"page_offset": -1}, "page_offset"),
    ):
        error = assert_error(api.op(KIND, "search", body), 422)
        assert field in error["detail"], (body, error)
    assert len(search(api, page_size=200)["personas"]) == 1
    assert len(search(api, page_size=1)["personas"]) == 1


def test_an_offset_past_the_end_is_an_empty_page_with_the_true_total(api):
    create_all(api, [{"name": f"Ada {i}"} for i in range(4)] + [{"name": "Bob"}])

    for body, total in (({}, 5), ({"search": "ada"}, 4)):
        answer = search(api, page_offset=10, **body)
        assert answer["personas"] == [] and answer["total_count"] == total, body
        edge = search(api, page_offset=total, **body)
        assert edge["personas"] == [] and edge["total_count"] == total, body


# --- results follow every committed write ------------------------------------------------------------------


def test_search_reflects_create_rename_and_delete_at_once(api):
    assert found(api, "ada") == set()
    persona_id = api.create(KIND, name="Ada Lovelace", departments=["Sales"])
    other = api.create(KIND, name="Bob", departments=["Sales"])
    assert found(api, "ada") == {"Ada Lovelace"}
    assert facet(search(api), "department") == {"Sales": (2, False)}

    renamed = api.ok(KIND, "update", {KIND: [{"persona_id": persona_id, "name": "Grace Hopper"}]})["results"][0]
    assert renamed["success"], renamed
    assert found(api, "ada") == set()
    assert found(api, "lovelace") == set()
    assert found(api, "grace hopper") == {"Grace Hopper"}

    deleted = api.ok(KIND, "delete", {"persona_ids": [persona_id]})["results"][0]
    assert deleted["success"], deleted
    after = search(api)
    assert found(api, "grace") == set()
    assert [p["persona_id"] for p in after["personas"]] == [other] and after["total_count"] == 1
    assert facet(after, "department") == {"Sales": (1, False)}


def test_search_reflects_slot_changes_in_facets_and_filters(api):
    persona_id = api.create(KIND, name="Ada", departments=["Sales"])
    api.ok(KIND, "update", {KIND: [{"persona_id": persona_id, "department_ids": [], "departments": ["Ops"]}]})
    departments = resource_ids(api, "departments")

    assert facet(search(api), "department") == {"Ops": (1, False)}
    assert search(api, filter_department_ids=[departments["Sales"]])["total_count"] == 0
    assert names(search(api, filter_department_ids=[departments["Ops"]])) == ["Ada"]


def test_import_fields_list_the_csv_columns(api):
    answer = search(api)

    assert [f["name"] for f in answer["import_fields"]] == IMPORT_COLUMNS
    required = {f["name"] for f in answer["import_fields"] if f["required"]}
    multiple = {f["name"] for f in answer["import_fields"] if f["multiple"]}
    assert required == {"name"}
    assert multiple == {"flags", "examples", "departments", "parameter_fields", "voices", "scenarios", "labels"}


# --- metacharacters ----------------------------------------------------------------------------------------


METACHARACTERS = ["%", "_", "\\", "'", '"']


def test_sql_and_like_metacharacters_in_search_text_are_literal(api):
    create_all(
        api,
        [
            {"name": "Rate 100% sure"},
            {"name": "snake_case name"},
            {"name": "back\\slash"},
            {"name": "Miles O'Brien"},
            {"name": 'Say "hi"'},
            {"name": "Plain 100 sure"},
            {"name": "snake case"},
            {"name": "back slash"},
        ],
    )

    assert found(api, "%") == {"Rate 100% sure"}
    assert found(api, "_") == {"snake_case name"}
    assert found(api, "\\") == {"back\\slash"}
    assert found(api, "'") == {"Miles O'Brien"}
    assert found(api, '"') == {'Say "hi"'}
    assert found(api, "%%") == set()
    assert found(api, "' OR 1=1 --") == set()
    assert found(api, "'; DROP TABLE search_documents; --") == set()
    for text in (
        '"unbalanced',
        "ada*",
        "NEAR(a b)",
        "a:b",
        "^x",
        "(x",
        "x)",
        "a AND",
        "NOT",
        "-x",
        "a|b",
        "a & b",
        "!x",
        "x:*",
        "\\%",
        "%_%",
        "*",
    ):
        assert search(api, search=text)["total_count"] >= 0, text  # 200, never an error
    assert "Rate 100% sure" in found(api, "100%")
    assert len(found(api, "")) == 8  # and the table is still there


def test_sql_and_like_metacharacters_in_facet_searches_are_literal(api):
    create_all(
        api,
        [
            {
                "name": f"Meta {i}",
                "scenarios": [f"s{m}x"],
                "parameter_fields": [f"f{m}x"],
                "departments": [f"d{m}x"],
                "voices": [f"v{m}x"],
                "instructions": f"i{m}x",
            }
            for i, m in enumerate(METACHARACTERS)
        ]
        + [
            {
                "name": "Plain",
                "scenarios": ["sAx"],
                "parameter_fields": ["fAx"],
                "departments": ["dAx"],
                "voices": ["vAx"],
                "instructions": "iAx",
                "color": "#abcdef",
                "icon": SVG.format(r=3),
            }
        ],
    )
    text_facets = {"scenario": "s", "field": "f", "department": "d", "voice": "v", "instruction": "i"}

    for m in METACHARACTERS:
        answer = search(api, **{f"{name}_search": m for name in FACETS})
        for name, prefix in text_facets.items():
            assert facet(answer, name) == {f"{prefix}{m}x": (1, False)}, (name, m)
        for name in ("color", "icon"):
            assert all(m in label for label in facet(answer, name)), (name, m)
        assert answer["total_count"] == 6, m  # facet searches never narrow the results
    for needle in ("%%", "' OR 1=1 --", "x%"):
        answer = search(api, **{f"{name}_search": needle for name in FACETS})
        for name in FACETS:
            assert facet(answer, name) == {}, (name, needle)


# --- groups ------------------------------------------------------------------------------------------------


def test_another_groups_artifacts_and_resources_never_show(api, make_api):
    other = make_api("editor", "other")
    create_all(
        other,
        [
            {
                "name": "Ada Other",
                "departments": ["Sales", "Foreign"],
                "voices": ["Alto"],
                "color": "#123456",
                "instructions": "Ada rules",
            }
        ],
    )
    create_all(api, [{"name": "Ada Home", "departments": ["Sales"]}, {"name": "Bob Home"}])
    foreign = resource_ids(other, "departments")

    answer = search(api, search="ada")
    assert names(answer) == ["Ada Home"] and answer["total_count"] == 1
    everything = search(api)
    assert everything["total_count"] == 2
    assert facet(everything, "department") == {"Sales": (1, False)}
    for name in ("voice", "color", "instruction"):
        assert facet(everything, name) == {}, name
    assert facet(search(api, department_search="for"), "department") == {}

    by_foreign = search(api, filter_department_ids=[foreign["Foreign"], foreign["Sales"]])
    assert by_foreign["personas"] == [] and by_foreign["total_count"] == 0
    listed = {o["id"] for o in by_foreign["department_filter"]["options"]}
    assert not listed & set(foreign.values())  # another group's ids are never echoed with a label

    assert names(search(other, search="ada")) == ["Ada Other"]


# --- cost --------------------------------------------------------------------------------------------------


def test_a_search_sends_the_same_number_of_statements_for_one_match_and_for_fifty(api, count_statements):
    def persona(i: int) -> dict[str, Any]:
        return {
            "name": f"Agent {i}",
            "description": f"Helper {i}",
            "instructions": f"Help {{{{customer}}}} {i}",
            "departments": ["Sales", f"Team {i}"],
            "scenarios": ["Refund", f"Case {i}"],
            "voices": [f"Voice {i}"],
            "parameter_fields": ["customer"],
            "examples": [f"Example {i}"],
            "color": f"#{i:06x}",
            "active": True,
        }

    create_all(api, [persona(0), {"name": "Agent elsewhere", "departments": ["Ops"]}])
    departments, scenarios = resource_ids(api, "departments"), resource_ids(api, "scenarios")
    body = {
        "search": "agent",
        "filter_department_ids": [departments["Sales"]],
        "scenario_ids": [scenarios["Refund"]],
        "voice_search": "voice",
        "color_search": "#",
        "page_size": 200,
    }

    def statements() -> tuple[int, int]:
        search(api, **body)  # warm: connections and caches are the same for both counts
        with count_statements() as counter:
            answer = search(api, **body)
        return counter.count, len(answer["personas"])

    one, matched = statements()
    assert matched == 1
    create_all(api, [persona(i) for i in range(1, 50)])
    fifty, matched = statements()
    assert matched == 50
    assert fifty == one, (one, fifty)
    assert one > 0


# --- refresh -----------------------------------------------------------------------------------------------


REFRESH_QUERIES: list[dict[str, Any]] = [{}, {"search": "agent"}, {"search": "agent one"}]


def test_refresh_is_admin_only(make_api):
    for role in ("viewer", "editor"):
        error = assert_error(make_api(role).op(KIND, "refresh"), 403)
        assert "admin" in error["detail"], role
    assert_error(make_api("admin").as_agent().op(KIND, "refresh"), 403)


def test_refresh_rebuilds_deleted_search_documents(make_api, db):
    api, admin = make_api("editor"), make_api("admin")
    ids = create_fixture(api)
    queries = REFRESH_QUERIES + [{"filter_department_ids": [ids["departments"]["Sales"]]}]
    before = [search(api, **q) for q in queries]

    answer = admin.ok(KIND, "refresh")
    assert answer["success"] is True
    assert answer["refreshed_views"] and all(isinstance(v, str) for v in answer["refreshed_views"])
    assert isinstance(answer["invalidated_tags"], list)
    assert [search(api, **q) for q in queries] == before  # a rebuild of true data changes nothing

    with db.transaction(write=True) as session:
        session.execute(delete(SearchDocument))
        session.execute(delete(TallyTotal))  # the counts kept with each write are derived data too
        session.execute(delete(TallyDelta))
    assert search(api)["total_count"] == 0  # the derived data is wrong now

    assert admin.ok(KIND, "refresh")["success"] is True
    assert [search(api, **q) for q in queries] == before


def test_refresh_rebuilds_garbled_search_documents(make_api, db):
    api, admin = make_api("editor"), make_api("admin")
    create_fixture(api)
    before = [search(api, **q) for q in REFRESH_QUERIES]

    with db.transaction(write=True) as session:
        session.execute(update(SearchDocument).values(document="garbage zzz"))
    assert search(api, search="agent")["total_count"] == 0
    assert search(api, search="garbage")["total_count"] == 6

    assert admin.ok(KIND, "refresh")["success"] is True
    assert [search(api, **q) for q in REFRESH_QUERIES] == before
    assert search(api, search="garbage")["total_count"] == 0
