"""The TypeScript client (clients/typescript) against a live server, on SQLite and PostgreSQL: this test starts
the server, makes a viewer's and an admin's key, and runs the client's own tests with Node's test runner
(`node --test`), which must pass. They cover what the Python client's tests cover: ETag revalidation,
resolveMany with a missing item, a watch that sees a label move and survives a restart, an offline start from
cacheDir, the fallback, render with a missing variable, and the tool and call formats.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import LiveServer

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "typescript"


@pytest.fixture(scope="session")
def built_client() -> Path:
    """npm ci (from the committed package-lock.json) when node_modules is missing, then tsc: dist matches src."""
    npm = shutil.which("npm")
    assert npm and shutil.which("node"), "node and npm are needed for the TypeScript client (make test installs them)"
    if not (PACKAGE / "node_modules" / ".bin" / "tsc").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=PACKAGE, check=True, capture_output=True, timeout=600
        )
    build = subprocess.run([npm, "run", "build"], cwd=PACKAGE, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    return PACKAGE


def test_the_typescript_client_passes_its_tests_against_a_live_server(
    built_client: Path, make_api, live_server: LiveServer, dialect
):
    env = {
        **os.environ,
        "LOOMWORK_URL": live_server.url,
        "LOOMWORK_API_KEY": make_api("viewer").key,
        "LOOMWORK_ADMIN_KEY": make_api("admin").key,
    }
    run = subprocess.run(
        ["node", "--test", "--test-reporter=spec", "test/"],
        cwd=built_client,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "# fail 0" in run.stdout or "ℹ fail 0" in run.stdout, run.stdout[-3000:]
    assert "pass 5" in run.stdout, run.stdout[-3000:]
