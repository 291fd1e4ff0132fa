"""The directory where `serve --workers N` has its workers write their figures (prometheus-client's
multiprocess mode). Nothing here imports prometheus_client: the variable must be set, and the directory
exist, before it is imported anywhere."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir() -> tuple[str, bool]:
    """The directory the workers write their figures into, emptied; set in the environment they inherit.

    Returns it and whether it was made here (and so is removed at exit)."""
    given = os.environ.get(MULTIPROC_VARIABLE)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):  # figures of an earlier run would be summed in
            stale.unlink()
        return given, False
    made = tempfile.mkdtemp(prefix="loomwork-metrics-")
    os.environ[MULTIPROC_VARIABLE] = made
    return made, True


def remove_multiprocess_dir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
