"""Search latency: text, two filters and every facet count over the demo data set.

    .venv/bin/python bench/search.py [--database-url URL] [--personas 100000] [--runs 200]

Target (issue 4): median under 50 ms with 100,000 personas, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from common import arguments, measure, prepared

PATH = "/api/v5/artifacts/personas/search"


def main() -> None:
    args = arguments(__doc__.splitlines()[0], runs=200)
    db, client, headers = prepared(args)
    first = client.post(PATH, json={"page_size": 1}, headers=headers).json()
    print(f"unfiltered: {first['total_count']:,} matches")
    # A word of the newest persona's description; then the most frequent department among its
    # matches, and the most frequent scenario among those: a query that finds something.
    word = first["personas"][0]["description"].split()[0].lower()
    text_only = client.post(PATH, json={"search": word}, headers=headers).json()
    department = text_only["department_filter"]["options"][0]["id"]
    narrowed = client.post(PATH, json={"search": word, "filter_department_ids": [department]}, headers=headers).json()
    scenario = narrowed["scenario_filter"]["options"][0]["id"]
    query = {"search": word, "filter_department_ids": [department], "scenario_ids": [scenario]}
    text_only = text_only["total_count"]
    total = client.post(PATH, json=query, headers=headers).json()["total_count"]
    print(f"query: text {word!r} ({text_only:,} matches) + department + scenario filters -> {total:,} matches")

    def run() -> None:
        response = client.post(PATH, json=query, headers=headers)
        assert response.status_code == 200, response.text

    measure("search (text + 2 filters + 7 facets)", args.runs, run)
    measure(
        "search (text only + 7 facets)",
        args.runs // 2,
        lambda: client.post(PATH, json={"search": word}, headers=headers),
    )
    measure(
        "search (no text, no filters + 7 facets)",
        max(args.runs // 10, 5),
        lambda: client.post(PATH, json={}, headers=headers),
    )
    db.dispose()


if __name__ == "__main__":
    main()
