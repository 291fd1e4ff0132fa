"""`Client`: resolve and resolve many with ETag revalidation, pushed updates from the change feed, an offline
cache on disk, and a per-call fallback."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import httpx2

from loomwork_client.errors import Forbidden, LoomworkClientError, NotFound, Unavailable, kind_name
from loomwork_client.resolved import Resolved
from loomwork_client.store import DiskStore, Key

log = logging.getLogger("loomwork_client")

# The feed's events that change what a resolve answers.
WATCHED_EVENTS = ("artifact.revision_created", "label.moved", "artifact.deleted")
MAX_BATCH = 100
RECHECKS = 6  # a refresh that does not show its change yet is asked again: 20 ms, doubling (1.3 s in all)

# One item of resolve_many: (kind, id_or_name[, label[, version]]) or {kind, id | name | id_or_name, label?, version?}.
Item = Sequence[Any] | Mapping[str, Any]


@dataclass(frozen=True)
class Change:
    """One event of the change feed, as `on_change` gets it: `updated` are the cached entries it touched, as
    they are now (refreshed); `removed` the entries it made answer nothing (a delete, a 404)."""

    cursor: int
    event: str
    kind: str
    id: str
    data: dict[str, Any]
    updated: tuple[Resolved, ...] = ()
    removed: tuple[Key, ...] = ()


@dataclass
class _Entry:
    found: Resolved
    asked_at: int  # the client's change count when the request that produced it was sent


class Client:
    """`Client(base_url, api_key)`; use it as a context manager or call `close()`. Thread-safe.

    - `cache_dir`: every good answer is also written there, so a client that starts while Loomwork is down
      serves the last answers (marked stale, with their age).
    - `watch=True`: a daemon thread follows the change feed (long polls of `wait_s`) and refreshes exactly the
      cached entries a change touches, then calls `on_change(Change)` (on that thread). While it is connected, a
      cached resolve is answered from memory with no request; while it is not, every resolve revalidates.
    - `transport`: for proxies and tests (an httpx2 transport) of resolve and resolve_many; the watcher runs an
      event loop of its own on a thread (so close() cancels its long poll at once) with an httpx2.AsyncClient.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 5.0,
        transport: httpx2.BaseTransport | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        watch: bool = False,
        on_change: Callable[[Change], Any] | None = None,
        wait_s: float = 25.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"X-Api-Key": api_key, "Accept": "application/json"}
        self._http = httpx2.Client(base_url=self.base_url, timeout=timeout, transport=transport, headers=headers)
        self._lock = threading.Lock()
        self._cache: dict[Key, _Entry] = {}
        self._batches: dict[tuple[Key, ...], tuple[str, list[Resolved | LoomworkClientError]]] = {}
        self._changes = 0  # events the watcher has applied
        self._touched: dict[Key, int] = {}  # the change count at which the watcher last touched a key
        self._live = False  # the watcher is connected and up to date: memory answers need no request
        self._store: DiskStore | None = None
        if cache_dir is not None:
            namespace = hashlib.sha256(f"{self.base_url}\n{api_key}".encode()).hexdigest()[:24]
            self._store = DiskStore(cache_dir, namespace)
            for key, answer, stored_at in self._store.load():
                found = Resolved(**{**answer, "stale": False, "fetched_at": stored_at, "source": "disk"})
                self._cache[key] = _Entry(found, asked_at=-1)
        self._on_change = on_change
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._task: tuple[asyncio.AbstractEventLoop, asyncio.Task[None]] | None = None
        self._headers, self._wait_s = headers, wait_s
        if watch:
            # The watcher runs an event loop of its own, so close() can cancel a long poll at once.
            self._watcher = threading.Thread(
                target=asyncio.run, args=(self._watch(),), name="loomwork-client-watch", daemon=True
            )
            self._watcher.start()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops the watcher (its long poll is cancelled) and closes the connections."""
        self._stop.set()
        if self._watcher is not None:
            if self._task is not None:
                loop, task = self._task
                with contextlib.suppress(RuntimeError):  # the loop has already ended
                    loop.call_soon_threadsafe(task.cancel)
            self._watcher.join(timeout=10)
        self._http.close()

    @property
    def watching(self) -> bool:
        """True while the watcher is connected and has applied every change up to now."""
        return self._live

    # --- resolve ------------------------------------------------------------------------------------------

    def resolve(
        self,
        kind: str,
        id_or_name: str | uuid.UUID,
        label: str | None = "latest",
        version: int | None = None,
        *,
        fallback: Mapping[str, Any] | None = None,
    ) -> Resolved:
        """The live config of the artifact of `kind` ("persona" or "personas", ...) with this id or exact current
        name, at `label` (default latest) or at `version` (which wins over the label). When the server cannot
        be reached: the last answer (memory, then `cache_dir`), marked stale; else `fallback` (a config dict) as
        a stale Resolved with source "fallback"; else Unavailable."""
        key = _key(kind, id_or_name, label, version)
        what = _what(key)
        with self._lock:
            entry = self._cache.get(key)
            asked_at = self._changes
            if entry is not None and self._trusted(key, entry):
                return _copy(entry.found, source="memory")
        params: dict[str, Any] = {"label": key[2]} if key[2] is not None else {}
        if version is not None:
            params["version"] = version
        headers = {"If-None-Match": f'"{entry.found.etag}"'} if entry else {}
        path = f"/api/v5/resolve/{key[0]}s/{quote(key[1], safe='')}"
        try:
            response = self._http.get(path, params=params, headers=headers)
        except httpx2.TransportError as exc:  # connect errors, timeouts, dropped connections
            return self._stale(key, entry, what, f"{type(exc).__name__}: {exc}", exc, fallback)
        if response.status_code == 304 and entry is not None:
            confirmed = replace(entry.found, fetched_at=time.time(), source="server", stale=False)
            self._remember(key, confirmed, asked_at, write=False)
            return _copy(confirmed)
        if response.status_code >= 500:
            return self._stale(key, entry, what, f"HTTP {response.status_code}", None, fallback)
        if response.status_code != 200:
            if response.status_code == 404:
                self._forget(key)  # gone (or relabelled away): never serve it again as stale
            raise _error(response.status_code, _body(response), what)
        found = _resolved(response.json(), time.time())
        self._remember(key, found, asked_at)
        return _copy(found)

    def resolve_many(
        self, items: Iterable[Item], *, fallbacks: Mapping[int, Mapping[str, Any]] | None = None
    ) -> list[Resolved | LoomworkClientError]:
        """Many artifacts of any kinds in one round trip (`POST /api/v5/resolve`, up to 100 items), in order: each
        a Resolved or, for an item the server refused, its error (NotFound, ...), not raised. The whole set is
        revalidated by its ETag (304: nothing changed). When the server cannot be reached each item is served as
        `resolve` would (stale memory or disk, then `fallbacks[index]`), or is Unavailable; only when no item
        can be served at all is Unavailable raised."""
        keys = [_item_key(item) for item in items]
        if not 1 <= len(keys) <= MAX_BATCH:
            raise ValueError(f"resolve_many takes 1 to {MAX_BATCH} items, not {len(keys)}.")
        batch = tuple(keys)
        with self._lock:
            asked_at = self._changes
            entries = [self._cache.get(key) for key in keys]
            if all(e is not None and self._trusted(k, e) for k, e in zip(keys, entries)):
                return [_copy(e.found, source="memory") for e in entries if e is not None]
            held = self._batches.get(batch)
        body = {"items": [_wire_item(key) for key in keys]}
        headers = {"If-None-Match": f'"{held[0]}"'} if held else {}
        try:
            response = self._http.post("/api/v5/resolve", json=body, headers=headers)
        except httpx2.TransportError as exc:
            return self._stale_many(keys, f"{type(exc).__name__}: {exc}", exc, fallbacks or {})
        if response.status_code == 304 and held is not None:
            now = time.time()
            return [
                replace(_copy(r), fetched_at=now, source="server") if isinstance(r, Resolved) else r for r in held[1]
            ]
        if response.status_code >= 500:
            return self._stale_many(keys, f"HTTP {response.status_code}", None, fallbacks or {})
        if response.status_code != 200:
            raise _error(response.status_code, _body(response), f"{len(keys)} items")
        answer = response.json()
        now = time.time()
        results: list[Resolved | LoomworkClientError] = []
        for key, result in zip(keys, answer["results"]):
            if result["success"]:
                found = _resolved(result, now)
                self._remember(key, found, asked_at)
                results.append(found)
            else:
                if result["status"] == 404:
                    self._forget(key)
                results.append(_error(result["status"], result, _what(key)))
        with self._lock:
            self._batches[batch] = (answer["etag"], results)
        return [_copy(r) if isinstance(r, Resolved) else r for r in results]

    # --- the cache ----------------------------------------------------------------------------------------

    def _trusted(self, key: Key, entry: _Entry) -> bool:
        # Memory answers without a request only while the watcher is live, and only if no change touched the key
        # after the request that produced it was sent (else that answer may predate the change).
        return self._live and entry.asked_at >= self._touched.get(key, 0) and entry.found.source != "disk"

    def _remember(self, key: Key, found: Resolved, asked_at: int, *, write: bool = True) -> None:
        with self._lock:
            # A change applied while the request was under way may have found nothing of this key to touch yet:
            # the answer may predate it, so it is revalidated on its next use rather than trusted.
            self._cache[key] = _Entry(found, asked_at if asked_at == self._changes else -1)
        if write and self._store is not None:
            fields = {f: getattr(found, f) for f in ("id", "kind", "version", "label", "etag", "config")}
            self._store.put(key, fields, found.fetched_at)

    def _forget(self, key: Key) -> None:
        with self._lock:
            self._cache.pop(key, None)
        if self._store is not None:
            self._store.delete(key)

    def _stale(
        self,
        key: Key,
        entry: _Entry | None,
        what: str,
        reason: str,
        cause: Exception | None,
        fallback: Mapping[str, Any] | None,
    ) -> Resolved:
        if entry is None:
            if fallback is not None:
                log.warning(
                    "Loomwork at %s could not be reached (%s); using the fallback for %s", self.base_url, reason, what
                )
                return Resolved(
                    id="",
                    kind=key[0],
                    version=0,
                    label=key[2],
                    etag="",
                    config=copy.deepcopy(dict(fallback)),
                    stale=True,
                    source="fallback",
                )
            raise Unavailable(
                f"Loomwork at {self.base_url} could not be reached ({reason}), nothing is cached for {what} "
                "and no fallback was given."
            ) from cause
        found = entry.found
        log.warning(
            "Loomwork at %s could not be reached (%s); using the cached %s version %s (%.0f s old)",
            self.base_url,
            reason,
            what,
            found.version,
            found.age,
        )
        return replace(_copy(found), stale=True)

    def _stale_many(
        self, keys: list[Key], reason: str, cause: Exception | None, fallbacks: Mapping[int, Mapping[str, Any]]
    ) -> list[Resolved | LoomworkClientError]:
        results: list[Resolved | LoomworkClientError] = []
        for index, key in enumerate(keys):
            with self._lock:
                entry = self._cache.get(key)
            try:
                results.append(self._stale(key, entry, _what(key), reason, cause, fallbacks.get(index)))
            except Unavailable as missing:
                results.append(missing)
        if all(isinstance(r, Unavailable) for r in results):
            raise Unavailable(
                f"Loomwork at {self.base_url} could not be reached ({reason}) and none of the {len(keys)} items is "
                "cached or has a fallback."
            ) from cause
        return results

    # --- pushed updates -----------------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Follow the change feed until close(): find the end of the feed, revalidate what is cached, then long
        poll; on any error back off (0.5 s doubling to 15 s, with jitter) and continue from the same cursor."""
        task = asyncio.current_task()
        assert task is not None
        self._task = (asyncio.get_running_loop(), task)
        http = httpx2.AsyncClient(base_url=self.base_url, timeout=self._wait_s + 15, headers=self._headers)
        cursor: int | None = None
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    if cursor is None:
                        cursor = await self._feed_end(http)
                        await self._refresh(http, list(self._snapshot()))
                        self._live = True
                    page = await self._poll(http, cursor, self._wait_s if self._live else 0)
                    for change in page["changes"]:
                        await self._apply(http, change)
                    cursor = page["next_cursor"]
                    self._live, failures = True, 0
                except Exception as exc:  # noqa: BLE001 - the watcher outlives anything: a restart, a proxy's HTML, a bug
                    self._live = False
                    failures += 1
                    delay = min(15.0, 0.5 * 2 ** min(failures - 1, 6)) * random.uniform(0.5, 1.0)
                    log.warning("Watching Loomwork's changes failed (%s); retrying in %.1f s", _reason(exc), delay)
                    await asyncio.sleep(delay)
        except asyncio.CancelledError:
            pass  # close()
        finally:
            self._live = False
            await http.aclose()

    async def _poll(self, http: httpx2.AsyncClient, after: int, wait_s: float, limit: int = 1000) -> dict[str, Any]:
        body = {"after": after, "events": list(WATCHED_EVENTS), "limit": limit, "wait_s": wait_s}
        response = await http.post("/api/v5/changes", json=body)
        if response.status_code != 200:
            raise _error(response.status_code, _body(response), "the change feed")
        page: dict[str, Any] = response.json()
        return page

    async def _feed_end(self, http: httpx2.AsyncClient) -> int:
        cursor = 0
        while True:
            page = await self._poll(http, cursor, 0)
            cursor = int(page["next_cursor"])
            if not page["changes"]:
                return cursor

    def _snapshot(self) -> dict[Key, _Entry]:
        with self._lock:
            return dict(self._cache)

    async def _apply(self, http: httpx2.AsyncClient, change: dict[str, Any]) -> None:
        data = change.get("data") or {}
        kind = str(data.get("kind") or "")
        artifact_id = str(data.get(f"{kind}_id") or "")
        event = change["event"]
        touched: list[Key] = []
        removed: list[Key] = []
        for key, entry in self._snapshot().items():
            effect = _effect(event, kind, artifact_id, data.get("label"), key, entry.found)
            if effect == "remove":
                removed.append(key)
            elif effect == "refresh":
                touched.append(key)
        with self._lock:
            self._changes += 1
            for key in touched + removed:
                self._touched[key] = self._changes
            self._batches.clear()
        for key in removed:
            self._forget(key)
        updated, gone = await self._refresh(http, touched, change)
        if self._on_change is not None:
            try:
                self._on_change(
                    Change(
                        cursor=change["cursor"],
                        event=event,
                        kind=kind,
                        id=artifact_id,
                        data=data,
                        updated=tuple(updated),
                        removed=tuple(removed + gone),
                    )
                )
            except Exception:
                log.exception("on_change raised; the watcher goes on")

    async def _refresh(
        self, http: httpx2.AsyncClient, keys: list[Key], change: Mapping[str, Any] | None = None
    ) -> tuple[list[Resolved], list[Key]]:
        """Read `keys` again in batches of 100; an answer that is now 404 is forgotten.

        With the `change` that touched them: an answer that does not show it yet (on PostgreSQL the server's
        resolve cache learns of a commit just after it, while the feed can carry the event at once) is asked
        again after 20 ms, doubling, up to RECHECKS times; one still behind is kept but not trusted, so the next
        resolve revalidates it."""
        updated: list[Resolved] = []
        gone: list[Key] = []
        pending = list(keys)
        for attempt in range(RECHECKS + 1):
            behind: list[Key] = []
            for start in range(0, len(pending), MAX_BATCH):
                chunk = pending[start : start + MAX_BATCH]
                with self._lock:
                    asked_at = self._changes
                response = await http.post("/api/v5/resolve", json={"items": [_wire_item(k) for k in chunk]})
                if response.status_code != 200:
                    raise _error(response.status_code, _body(response), "a refresh")
                now = time.time()
                for key, result in zip(chunk, response.json()["results"]):
                    shows_it = change is None or _shows(change, key, result)
                    if not shows_it and attempt < RECHECKS:
                        behind.append(key)
                    elif result["success"]:
                        found = _resolved(result, now)
                        with self._lock:
                            old = self._cache.get(key)
                        write = old is None or old.found.etag != found.etag
                        self._remember(key, found, asked_at if shows_it else -1, write=write)
                        updated.append(_copy(found))
                    elif result["status"] == 404:
                        self._forget(key)
                        gone.append(key)
            if not behind:
                break
            pending = behind
            await asyncio.sleep(0.02 * 2**attempt)
        return updated, gone


def _shows(change: Mapping[str, Any], key: Key, result: Mapping[str, Any]) -> bool:
    """Whether a refreshed answer already shows the change that asked for it (see _refresh)."""
    data = change.get("data") or {}
    artifact_id = str(data.get(f"{data.get('kind')}_id") or "")
    if artifact_id not in (str(result.get("id")), key[1]):
        return True  # another artifact's change (an entry by name): nothing to compare
    if change["event"] == "label.moved" and key[2] == data.get("label"):
        if data.get("to_version") is None:
            return not result["success"]
        return bool(result["success"] and result["version"] == data["to_version"])
    if change["event"] == "artifact.revision_created" and key[2] == "latest":
        return bool(result["success"] and result["version"] >= data.get("version", 0))
    return True


def _effect(event: str, kind: str, artifact_id: str, label: Any, key: Key, found: Resolved) -> str | None:
    """What a change does to one cached entry: "remove" it (its artifact was deleted), "refresh" it, or nothing.
    A pinned version never changes; a label entry changes when that label moves, a latest entry with a new
    revision; an entry by name also with any revision or delete of its kind (a rename may move the name)."""
    if key[0] != kind:
        return None
    this_one = artifact_id in (found.id, key[1])
    if event == "artifact.deleted" and this_one:
        return "remove"
    if key[3] is not None:
        return None
    if event == "label.moved":
        return "refresh" if this_one and key[2] == label else None
    if this_one and key[2] == "latest":
        return "refresh"
    return "refresh" if not _is_uuid(key[1]) else None


# --- helpers --------------------------------------------------------------------------------------------------


def _key(kind: str, id_or_name: str | uuid.UUID, label: str | None, version: int | None) -> Key:
    target = str(id_or_name)
    if not target:
        raise ValueError("Give the artifact's id or its exact name.")
    return (kind_name(kind), target, label or ("latest" if version is None else None), version)


def _item_key(item: Item) -> Key:
    if isinstance(item, Mapping):
        target = item.get("id") or item.get("name") or item.get("id_or_name")
        return _key(str(item.get("kind", "")), target or "", item.get("label"), item.get("version"))
    kind, target, *rest = item
    label = rest[0] if rest else "latest"
    version = rest[1] if len(rest) > 1 else None
    return _key(kind, target, label, version)


def _wire_item(key: Key) -> dict[str, Any]:
    item: dict[str, Any] = {"kind": key[0], ("id" if _is_uuid(key[1]) else "name"): key[1]}
    if key[2] is not None:
        item["label"] = key[2]
    if key[3] is not None:
        item["version"] = key[3]
    return item


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _what(key: Key) -> str:
    return f"{key[0]} {key[1]!r}" + (f" version {key[3]}" if key[3] is not None else f" at {key[2]}")


def _resolved(answer: Mapping[str, Any], now: float) -> Resolved:
    kind = answer["kind"]
    return Resolved(
        id=str(answer.get("id") or answer[f"{kind}_id"]),
        kind=kind,
        version=answer["version"],
        label=answer.get("label"),
        etag=answer["etag"],
        config=answer["config"],
        fetched_at=now,
    )


def _copy(found: Resolved, **changes: Any) -> Resolved:
    # The caller may fill in or change its config; the cached answer must stay as the server sent it.
    return replace(found, config=copy.deepcopy(found.config), **changes)


def _body(response: httpx2.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(status: int, body: Mapping[str, Any], what: str) -> LoomworkClientError:
    detail = str(body.get("detail") or f"HTTP {status} resolving {what}")
    code = body.get("code")
    if status == 404:
        return NotFound(detail, status=status, code=code)
    if status in (401, 403):
        return Forbidden(detail, status=status, code=code)
    return LoomworkClientError(detail, status=status, code=code)


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"
