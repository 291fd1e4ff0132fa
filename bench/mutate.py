"""`make mutate`: mutation testing of the modules that hold Loomwork's invariants (issue 29).

mutmut (the `mutate` extra) changes one small thing at a time in a module (a comparison turned round, a
constant moved, a call dropped) and runs the tests that reach the changed function, on SQLite; a mutant
they fail on is killed, one they pass on survived: an invariant no test holds. Writes bench/MUTATION.md
(killed and survived per module, and each survivor's diff). Not part of `make test`: a full run takes hours
on a small machine, so it can be narrowed:

    make mutate MUTATE_MODULES="engine/resolve.py identity/sessions.py"   # some modules, each with its tests
    make mutate MUTATE_TESTS="tests/engine/test_revisions.py"             # other tests than the table's

mutmut keeps its work in mutants/ (gitignored): a run again goes on where the last one stopped.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "bench" / "MUTATION.md"
CONFIG = ROOT / "setup.cfg"  # mutmut reads its settings here when pyproject.toml has no [tool.mutmut]
MUTMUT = Path(sys.executable).parent / "mutmut"

# Each module under src/loomwork/ and the tests that hold its invariants (in process, on SQLite).
MODULES: dict[str, list[str]] = {
    "engine/drafts.py": [
        "tests/engine/test_draft_patches.py",
        "tests/engine/test_draft_concurrency.py",
        "tests/engine/test_form_rules.py",
    ],
    "engine/proposals.py": ["tests/engine/test_review_queue.py"],
    "engine/revisions.py": ["tests/engine/test_revisions.py", "tests/reliability/test_label_race.py"],
    "engine/resolve.py": ["tests/engine/test_revisions.py", "tests/reliability/test_resolve_cache.py"],
    "identity/service.py": ["tests/identity/test_auth.py", "tests/identity/test_keys_and_agents.py"],
    "identity/sessions.py": ["tests/web/test_sessions.py", "tests/identity/test_keys_and_agents.py"],
    "events/outbox.py": ["tests/events/test_change_feed.py", "tests/events/test_webhooks.py"],
    "ops/backup.py": ["tests/ops/test_backup.py"],
}
# Tests that serve from a process of their own run the original code, never the mutant: left out.
DESELECTED = [
    "tests/reliability/test_resolve_cache.py::test_a_label_moved_through_one_worker_is_seen_at_once_through_the_other",
]
RESULT_LINE = re.compile(r"^\s+(loomwork\.\S+): (.+)$")


def write_config(modules: list[str], tests: list[str]) -> None:
    def listed(values: list[str]) -> str:
        return "".join(f"\n    {value}" for value in values)

    selection = [*tests, *(arg for test in DESELECTED for arg in ("--deselect", test))]
    CONFIG.write_text(
        "# Written by bench/mutate.py for one `make mutate` run, and removed after it.\n"
        "[mutmut]\n"
        "source_paths=src\n"
        f"only_mutate={listed([f'src/loomwork/{m}' for m in modules])}\n"
        f"pytest_add_cli_args_test_selection={listed(selection)}\n"
        f"pytest_add_cli_args={listed(['-n', '0', '-p', 'no:randomly'])}\n"
        # Each mutant's tests in a process forked from one that has only collected them: a fork of the
        # process that ran them would inherit the shared test app without the thread that serves it.
        "process_isolation=forkserver\n"
        # That process builds the test app and database afresh (seconds on a busy machine): a fast test's
        # 15-fold time alone would call every mutant a timeout.
        "timeout_constant=30\n"
    )


def results() -> dict[str, str]:
    """Every mutant's name and status, as `mutmut results --all true` prints them."""
    shown = subprocess.run([MUTMUT, "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True, check=True)
    return {m.group(1): m.group(2).strip() for line in shown.stdout.splitlines() if (m := RESULT_LINE.match(line))}


def module_of(mutant: str, modules: list[str]) -> str | None:
    for module in modules:
        if mutant.startswith("loomwork." + module.removesuffix(".py").replace("/", ".") + "."):
            return module
    return None


def diff_of(mutant: str) -> str:
    shown = subprocess.run([MUTMUT, "show", mutant], cwd=ROOT, capture_output=True, text=True)
    return shown.stdout.strip() or shown.stderr.strip()


def write_report(modules: list[str], tests: list[str], statuses: dict[str, str], seconds: float) -> None:
    counts: dict[str, Counter[str]] = {m: Counter() for m in modules}
    survivors: dict[str, list[str]] = defaultdict(list)
    for mutant, status in sorted(statuses.items()):
        module = module_of(mutant, modules)
        if module is None:
            continue
        counts[module][status] += 1
        if status == "survived":
            survivors[module].append(mutant)
    others = sorted(set(MODULES) - set(modules))
    lines = [
        "# Mutation testing",
        "",
        f"Written by `make mutate` (bench/mutate.py, mutmut {version('mutmut')}) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {seconds / 60:.0f} minutes, the tests on SQLite.",
        "",
        "A mutant is one small change to a module. **killed**: a test failed on it. **survived**: every test",
        "that reaches the changed function passed: an invariant no test holds (or a change that makes no",
        "difference). **no tests**: no selected test reaches the function. **timeout**: the tests took more",
        "than 15 times as long as unchanged, plus 30 s (counted as caught).",
        "",
        f"Modules run: {', '.join(f'`{m}`' for m in modules)}.",
        f"Tests: {', '.join(f'`{t}`' for t in tests)}.",
        f"Not yet run: {', '.join(f'`{m}`' for m in others) or 'none'}.",
        "",
        "| module | mutants | killed | survived | no tests | timeout | other |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for module in modules:
        c = counts[module]
        other = sum(n for status, n in c.items() if status not in ("killed", "survived", "no tests", "timeout"))
        lines.append(
            f"| `{module}` | {sum(c.values())} | {c['killed']} | {c['survived']} | {c['no tests']} | "
            f"{c['timeout']} | {other} |"
        )
    for module in modules:
        lines += ["", f"## Survivors in `{module}`", ""]
        if not survivors[module]:
            lines.append("None.")
        for mutant in survivors[module]:
            lines += [f"### {mutant}", "", "```diff", diff_of(mutant), "```", ""]
    REPORT.write_text("\n".join(lines).rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"under src/loomwork/ (default: all of {', '.join(MODULES)})")
    parser.add_argument("--tests", nargs="*", help="test files or node ids instead of the modules' own")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once")
    args = parser.parse_args()
    modules = args.modules or list(MODULES)
    unknown = [m for m in modules if not (ROOT / "src" / "loomwork" / m).is_file()]
    if unknown:
        parser.error(f"no such module under src/loomwork/: {', '.join(unknown)}")
    tests = args.tests or list(dict.fromkeys(t for m in modules for t in MODULES.get(m, [])))
    if not tests:
        parser.error("no tests for these modules: name them with --tests")
    if CONFIG.exists():
        parser.error(f"{CONFIG} exists: mutmut would read it; move it away first")
    # SQLite only: a PostgreSQL half would be skipped without its URL, and CI=1 would make that a failure.
    env = {k: v for k, v in os.environ.items() if k not in ("LOOMWORK_TEST_POSTGRES_URL", "CI")}
    started = datetime.now(UTC)
    write_config(modules, tests)
    try:
        subprocess.run([MUTMUT, "run", "--max-children", str(args.children)], cwd=ROOT, env=env, check=True)
        write_report(modules, tests, results(), (datetime.now(UTC) - started).total_seconds())
    finally:
        CONFIG.unlink(missing_ok=True)
    print(f"wrote {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
