"""Export throughput: every persona of the demo data set to CSV, through the API.

    .venv/bin/python bench/export.py [--database-url URL] [--personas 100000] [--runs 3]

Target (issue 4): 100,000 personas in under 10 s. Also prints the process's peak memory (RSS).
"""

from __future__ import annotations

import resource

from common import arguments, measure, prepared


def main() -> None:
    args = arguments(__doc__.splitlines()[0], runs=3)
    db, client, headers = prepared(args)
    rows = []

    def run() -> None:
        response = client.post("/api/v5/artifacts/personas/export", json={}, headers=headers)
        assert response.status_code == 200, response.text
        rows.append(response.json()["row_count"])

    measure("export (all personas)", args.runs, run, warmup=0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows per export: {rows[-1]:,}; peak RSS of this process (server and client): {peak:.0f} MiB")
    db.dispose()


if __name__ == "__main__":
    main()
