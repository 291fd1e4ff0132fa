"""The offline cache: one JSON file per resolved entry under `cache_dir`, written atomically (a temp file in the
same directory, then os.replace), so a reader never sees half a file and a crash leaves the old one."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("loomwork_client")

# (kind, id or name, label, version)
Key = tuple[str, str, str | None, int | None]


class DiskStore:
    """Entries of one server and key (`namespace`: a hash of both, so groups never share answers)."""

    def __init__(self, cache_dir: str | os.PathLike[str], namespace: str) -> None:
        self.dir = Path(cache_dir).expanduser() / namespace
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, key: Key) -> Path:
        return self.dir / (hashlib.sha256(json.dumps(list(key)).encode()).hexdigest()[:40] + ".json")

    def put(self, key: Key, answer: dict[str, Any], stored_at: float) -> None:
        body = json.dumps({"key": list(key), "answer": answer, "stored_at": stored_at}, separators=(",", ":"))
        try:
            handle, temp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as file:
                    file.write(body)
                os.replace(temp, self._path(key))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:  # a full or read-only disk costs the offline copy, never the answer
            log.warning("Could not write the offline cache in %s: %s", self.dir, exc)

    def delete(self, key: Key) -> None:
        with contextlib.suppress(OSError):
            self._path(key).unlink()

    def load(self) -> list[tuple[Key, dict[str, Any], float]]:
        entries: list[tuple[Key, dict[str, Any], float]] = []
        for path in self.dir.glob("*.json"):
            if path.name.startswith(".tmp-"):
                continue
            try:
                body = json.loads(path.read_text(encoding="utf-8"))
                kind, target, label, version = body["key"]
                entries.append(((kind, target, label, version), body["answer"], float(body["stored_at"])))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("Skipping an unreadable offline cache file %s: %s", path, exc)
        return entries
