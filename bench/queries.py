"""The search every benchmark measures: text, two filters and all facet counts, that finds something.

A word of the newest description among the newest personas; then the most frequent department among its matches,
and the most frequent scenario among those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PATH = "/api/v5/artifacts/personas/search"


def search_query(post: Callable[[str, dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """`post(path, body)` answers the JSON of a search."""
    newest = post(PATH, {"page_size": 50})["personas"]
    word = next(p["description"] for p in newest if p.get("description")).split()[0].lower()
    text_only = post(PATH, {"search": word})
    department = text_only["department_filter"]["options"][0]["id"]
    narrowed = post(PATH, {"search": word, "filter_department_ids": [department]})
    scenario = narrowed["scenario_filter"]["options"][0]["id"]
    return {"search": word, "filter_department_ids": [department], "scenario_ids": [scenario], "page_size": 25}
