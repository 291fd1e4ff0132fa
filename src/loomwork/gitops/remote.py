"""The server, through its public HTTP API only (httpx2), as any client from CI would reach it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2

from loomwork.gitops.format import SINGULAR

BATCH = 100  # POST /api/v5/resolve takes at most 100 items


class RemoteError(Exception):
    """The server refused a request: its status, code and detail."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{detail} ({status} {code})")
        self.status, self.code, self.detail = status, code, detail


@dataclass(frozen=True)
class Current:
    """One artifact as the server has it now: id, version, resolve config, labels {name: version}."""

    kind: str
    id: str
    version: int
    config: dict[str, Any]
    labels: dict[str, int]


class Remote:
    """`Remote(url, key)`: the key names the group and who acts (a person commits, an agent proposes)."""

    def __init__(self, url: str, key: str, *, timeout: float = 60.0) -> None:
        self.http = httpx2.Client(base_url=url.rstrip("/"), headers={"X-Api-Key": key}, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.send("POST", path, body)

    def send(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.http.request(method, path, json=body)
        except httpx2.HTTPError as error:
            raise RemoteError(0, "unreachable", f"{self.http.base_url} cannot be reached: {error}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code >= 400:
            raise RemoteError(
                response.status_code, str(answer.get("code") or "error"), str(answer.get("detail") or response.text)
            )
        if not isinstance(answer, dict):
            raise RemoteError(response.status_code, "bad_answer", "the server's answer is not a JSON object")
        return answer

    def op(self, kind: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.post(f"/api/v5/artifacts/{kind}/{operation}", body)

    # --- reading --------------------------------------------------------------------------------------------

    def ids(self, kind: str, search: str | None = None) -> list[tuple[str, str]]:
        """(id, name) of every artifact of the kind (matching `search`), 200 at a time."""
        found: list[tuple[str, str]] = []
        offset = 0
        while True:
            body: dict[str, Any] = {"page_size": 200, "page_offset": offset}
            if search:
                body["search"] = search
            page = self.op(kind, "search", body)
            rows = page[kind]
            found += [(row[f"{SINGULAR[kind]}_id"], row["name"]) for row in rows]
            offset += len(rows)
            if not rows or offset >= page["total_count"]:
                return found

    def current(
        self, kind: str, ids: list[str], progress: Any = None, labels_for: set[str] | None = None
    ) -> dict[str, Current]:
        """Each artifact's latest config (batch resolve, 100 at a time) and, for those in `labels_for` (all
        when None), its labels (history: one request each)."""
        configs: dict[str, tuple[int, dict[str, Any]]] = {}
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            answer = self.post("/api/v5/resolve", {"items": [{"kind": SINGULAR[kind], "id": i} for i in chunk]})
            for result in answer["results"]:
                if result["success"]:
                    configs[result["id"]] = (result["version"], result["config"])
        found: dict[str, Current] = {}
        for artifact_id, (version, config) in configs.items():
            labels: dict[str, int] = {}
            if labels_for is None or artifact_id in labels_for:
                history = self.op(kind, "history", {f"{SINGULAR[kind]}_id": artifact_id, "page_size": 1})
                labels = dict(history["labels"])
            found[artifact_id] = Current(kind, artifact_id, version, config, labels)
            if progress is not None:
                progress()
        return found

    def key_ids(self) -> dict[str, str]:
        """The group's provider keys by name (a file names its invocation's key; secrets never travel)."""
        found: dict[str, str] = {}
        offset = 0
        while True:
            page = self.post("/api/v5/resources/keys/search", {"page_size": 200, "page_offset": offset})
            for row in page["keys"]:
                found.setdefault(row["value"]["name"], row["id"])
            offset += len(page["keys"])
            if not page["keys"] or offset >= page["total_count"]:
                return found
