"""README.md's examples, run as a reader pastes them, against a live server (docs/testing.md).

Every fenced sh/bash block a `<!-- test -->` comment marks runs, in order, in one bash (so a variable one block
sets, such as KEY or PERSONA, is there for the next), in an empty directory where `make run` would have
left `.loomwork/` (its admin key) and `.venv` (the project's). The port is the test server's; `curl` fails
on an HTTP error and the script runs with `set -euo pipefail`, so a broken example fails here. SQLite only:
the examples are about what a reader types, not about the database.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import serve_process

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MARK = "<!-- test -->"
# The sections whose examples must keep running: each needs at least one marked block.
SECTIONS = (
    "## Quick start",
    "### A first persona with curl",
    "### The audit trail (admins)",
    "### The review queue: agents propose, people decide",
    "## Revisions, labels and resolve",
    "## Connecting an AI agent (MCP)",
)
# What every pasted curl does here: fail on an HTTP error, with the answer's body on the output.
PRELUDE = """set -euo pipefail
curl() { command curl --fail-with-body "$@"; }
"""


def runnable_blocks(text: str) -> list[tuple[int, str, str]]:
    """(line, section heading, code) of every marked sh/bash block, in document order."""
    blocks: list[tuple[int, str, str]] = []
    lines = text.splitlines()
    heading, in_fence, marked = "", False, False
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("```"):
            in_fence = not in_fence
            if in_fence and marked:
                assert line.strip() in ("```sh", "```bash"), f"README.md:{index + 1}: a marked block must be sh"
                end = lines.index("```", index + 1)
                blocks.append((index + 1, heading, "\n".join(lines[index + 1 : end])))
                index, in_fence = end, False
            marked = False
        elif not in_fence and line.strip() == MARK:
            marked = True
        elif not in_fence and re.match(r"#{1,3} ", line):
            heading = line.strip()
        index += 1
    return blocks


def script(blocks: list[tuple[int, str, str]], port: int) -> str:
    parts = [PRELUDE]
    for line, _heading, code in blocks:
        code = code.replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace("localhost:8000", f"localhost:{port}")
        parts.append(f"echo '>>> README.md line {line}' >&2\n{code}\n")
    return "\n".join(parts)


def test_the_sections_a_reader_follows_have_runnable_examples() -> None:
    blocks = runnable_blocks(README.read_text())
    covered = {heading for _line, heading, _code in blocks}
    missing = [section for section in SECTIONS if section not in covered]
    assert not missing, f"no <!-- test --> block under {missing}"
    assert "8000" in blocks[1][2], "the examples use the port make run serves on, which the test replaces"


def test_every_marked_readme_example_runs_against_a_live_server(dialect: str, tmp_path: Path) -> None:
    if dialect != "sqlite":
        pytest.skip("the README's examples run once, on SQLite")
    for tool in ("bash", "curl", "jq"):  # what the README asks of a reader's machine
        assert shutil.which(tool), f"the README's examples need {tool}: install it (apt-get install {tool})"
    home = tmp_path / "clone"
    home.mkdir()
    (home / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the project's venv, as make run builds it
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOOMWORK_")}
    env["LOOMWORK_DELIVERY_WORKER"] = "0"
    blocks = runnable_blocks(README.read_text())
    with serve_process([], env, cwd=home) as (url, _server):
        port = int(url.rsplit(":", 1)[1])
        done = subprocess.run(
            ["bash", "-c", script(blocks, port)],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    where = [line for line in done.stderr.splitlines() if line.startswith(">>> ")]
    assert done.returncode == 0, (
        f"the README example at {where[-1][4:] if where else '?'} failed (exit {done.returncode}):\n"
        f"{done.stderr[-3000:]}\n--- output ---\n{done.stdout[-3000:]}"
    )
    assert len(where) == len(blocks)
