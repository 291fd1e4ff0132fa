/**
 * Loomwork's runtime read for agent processes (API.md sections 9, 10 and 14), on fetch alone.
 *
 *   const loomwork = new Client("http://127.0.0.1:8000", apiKey, { watch: true, cacheDir: ".loomwork-cache" });
 *   const persona = await loomwork.resolve("persona", "Ada", { label: "production" });
 *   const prompt = persona.render({ customer: "Grace" });
 *   loomwork.close();
 */

import {
  Forbidden,
  KINDS,
  LoomworkClientError,
  MissingVariables,
  NotApplicable,
  NotFound,
  Unavailable,
  UnknownKind,
  kindName,
} from "./errors.js";
import { Resolved, type Config, type ResolvedData, type Source } from "./resolved.js";
import type { CacheStore, Key, StoredEntry } from "./store.js";

export { Forbidden, KINDS, LoomworkClientError, MissingVariables, NotApplicable, NotFound, Resolved, Unavailable, UnknownKind, kindName };
export type { CacheStore, Config, Key, ResolvedData, Source, StoredEntry };

const WATCHED_EVENTS = ["artifact.revision_created", "label.moved", "artifact.deleted"];
const MAX_BATCH = 100;
/** A refresh that does not show its change yet is asked again: 20 ms, doubling (1.3 s in all). */
const RECHECKS = 6;

/** One feed event as onChange gets it: `updated` the cached entries it touched, read again; `removed` those gone. */
export interface Change {
  cursor: number;
  event: string;
  kind: string;
  id: string;
  data: Record<string, any>;
  updated: Resolved[];
  removed: Key[];
}

export interface ClientOptions {
  /** Per request (not the long poll), default 5000. */
  timeoutMs?: number;
  /** Keep every good answer on disk here (a DiskCacheStore), for a start while Loomwork is down. */
  cacheDir?: string;
  /** Or a store of your own (Redis, a KV, ...). */
  cache?: CacheStore;
  /** Follow the change feed in the background and refresh what a change touches. */
  watch?: boolean;
  onChange?: (change: Change) => unknown;
  /** The long poll's wait, default 25 s. */
  waitS?: number;
  /** Your own fetch (a proxy, a test); default globalThis.fetch. */
  fetch?: typeof fetch;
}

export interface ResolveOptions {
  label?: string | null;
  version?: number | null;
  /** The last resort when the server cannot be reached and nothing is cached: served as a stale config. */
  fallback?: Config;
}

/** [kind, idOrName, label?, version?] or {kind, id | name | idOrName, label?, version?} */
export type Item =
  | [string, string, (string | null)?, (number | null)?]
  | { kind: string; id?: string; name?: string; idOrName?: string; label?: string | null; version?: number | null };

interface Entry {
  key: Key;
  found: Resolved;
  /** the client's change count when the request that produced it was sent */
  askedAt: number;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export class Client {
  readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly cache = new Map<string, Entry>();
  private readonly batches = new Map<string, { etag: string; results: (Resolved | LoomworkClientError)[] }>();
  private readonly touched = new Map<string, number>();
  private changes = 0;
  private live = false;
  private store: CacheStore | null = null;
  private readonly loaded: Promise<void>;
  private readonly stop = new AbortController();
  private readonly onChange?: (change: Change) => unknown;
  private readonly waitS: number;
  private watcher: Promise<void> | null = null;

  constructor(baseUrl: string, apiKey: string, options: ClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.headers = { "X-Api-Key": apiKey, Accept: "application/json" };
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.onChange = options.onChange;
    this.waitS = options.waitS ?? 25;
    this.loaded = this.load(apiKey, options);
    if (options.watch) this.watcher = this.watch();
  }

  /** True while the watcher is connected and has applied every change up to now (cached answers cost nothing). */
  get watching(): boolean {
    return this.live;
  }

  /** Stops the watcher (its long poll is aborted) and waits for it to end. */
  async close(): Promise<void> {
    this.stop.abort();
    await this.watcher;
  }

  private async load(apiKey: string, options: ClientOptions): Promise<void> {
    if (options.cache) this.store = options.cache;
    else if (options.cacheDir) {
      const { DiskCacheStore } = await import("./disk.js");
      const { createHash } = await import("node:crypto");
      const namespace = createHash("sha256").update(`${this.baseUrl}\n${apiKey}`).digest("hex").slice(0, 24);
      this.store = new DiskCacheStore(options.cacheDir, namespace);
    }
    if (!this.store) return;
    for (const { key, answer, storedAt } of await this.store.load()) {
      this.cache.set(JSON.stringify(key), { key, found: new Resolved(answer, { fetchedAt: storedAt, source: "disk" }), askedAt: -1 });
    }
  }

  /** The live config of the artifact of `kind` ("persona" or "personas", ...) with this id or exact name, at
   * `label` (default latest) or `version`. Unreachable: the last answer (memory, then the cache store) marked
   * stale, else `fallback`, else Unavailable. */
  async resolve(kind: string, idOrName: string, options: ResolveOptions = {}): Promise<Resolved> {
    await this.loaded;
    const key = makeKey(kind, idOrName, options.label === undefined ? "latest" : options.label, options.version ?? null);
    const id = JSON.stringify(key);
    const entry = this.cache.get(id);
    const askedAt = this.changes;
    if (entry && this.trusted(id, entry)) return entry.found.with({ source: "memory" });
    const params = new URLSearchParams();
    if (key[2] !== null) params.set("label", key[2]);
    if (key[3] !== null) params.set("version", String(key[3]));
    const headers: Record<string, string> = { ...this.headers };
    if (entry) headers["If-None-Match"] = `"${entry.found.etag}"`;
    let response: Response;
    try {
      response = await this.request(`/api/v5/resolve/${key[0]}s/${encodeURIComponent(key[1])}?${params}`, { headers });
    } catch (error) {
      return this.stale(key, entry, reason(error), error, options.fallback);
    }
    if (response.status === 304 && entry) {
      const confirmed = entry.found.with({ fetchedAt: Date.now(), source: "server", stale: false });
      await this.remember(key, confirmed, askedAt, false);
      return confirmed.with({});
    }
    if (response.status >= 500) return this.stale(key, entry, `HTTP ${response.status}`, null, options.fallback);
    const body = await response.json().catch(() => ({}));
    if (response.status !== 200) {
      if (response.status === 404) await this.forget(key);
      throw toError(response.status, body, what(key));
    }
    const found = toResolved(body, Date.now());
    await this.remember(key, found, askedAt);
    return found.with({});
  }

  /** Many artifacts of any kinds in one round trip (up to 100), in order: each a Resolved or that item's error
   * (not thrown). The whole set is revalidated by its ETag. Unreachable: each item as resolve would serve it
   * (with `fallbacks[index]`), or Unavailable; thrown only when no item can be served. */
  async resolveMany(items: Item[], options: { fallbacks?: Record<number, Config> } = {}): Promise<(Resolved | LoomworkClientError)[]> {
    await this.loaded;
    const keys = items.map(itemKey);
    if (keys.length < 1 || keys.length > MAX_BATCH) throw new RangeError(`resolveMany takes 1 to ${MAX_BATCH} items, not ${keys.length}.`);
    const ids = keys.map((k) => JSON.stringify(k));
    const batchId = JSON.stringify(keys);
    const askedAt = this.changes;
    const entries = ids.map((id) => this.cache.get(id));
    if (entries.every((e, i) => e && this.trusted(ids[i] as string, e))) {
      return entries.map((e) => (e as Entry).found.with({ source: "memory" }));
    }
    const held = this.batches.get(batchId);
    const headers: Record<string, string> = { ...this.headers, "Content-Type": "application/json" };
    if (held) headers["If-None-Match"] = `"${held.etag}"`;
    let response: Response;
    try {
      response = await this.request("/api/v5/resolve", { method: "POST", headers, body: JSON.stringify({ items: keys.map(wireItem) }) });
    } catch (error) {
      return this.staleMany(keys, reason(error), error, options.fallbacks ?? {});
    }
    if (response.status === 304 && held) {
      const now = Date.now();
      return held.results.map((r) => (r instanceof Resolved ? r.with({ fetchedAt: now, source: "server" }) : r));
    }
    if (response.status >= 500) return this.staleMany(keys, `HTTP ${response.status}`, null, options.fallbacks ?? {});
    const body = await response.json().catch(() => ({}));
    if (response.status !== 200) throw toError(response.status, body, `${keys.length} items`);
    const now = Date.now();
    const results: (Resolved | LoomworkClientError)[] = [];
    for (const [index, result] of (body.results as any[]).entries()) {
      const key = keys[index] as Key;
      if (result.success) {
        const found = toResolved(result, now);
        await this.remember(key, found, askedAt);
        results.push(found);
      } else {
        if (result.status === 404) await this.forget(key);
        results.push(toError(result.status, result, what(key)));
      }
    }
    this.batches.set(batchId, { etag: body.etag, results });
    return results.map((r) => (r instanceof Resolved ? r.with({}) : r));
  }

  // --- the cache -------------------------------------------------------------------------------------------

  private trusted(id: string, entry: Entry): boolean {
    return this.live && entry.found.source !== "disk" && entry.askedAt >= (this.touched.get(id) ?? 0);
  }

  private async remember(key: Key, found: Resolved, askedAt: number, write = true): Promise<void> {
    // A change applied while the request was under way may have found nothing of this key to touch yet: the
    // answer may predate it, so it is revalidated on its next use rather than trusted.
    this.cache.set(JSON.stringify(key), { key, found, askedAt: askedAt === this.changes ? askedAt : -1 });
    if (write && this.store) {
      try {
        await this.store.put({ key, answer: found.data(), storedAt: found.fetchedAt });
      } catch {
        // a failing store costs the offline copy, never the answer
      }
    }
  }

  private async forget(key: Key): Promise<void> {
    this.cache.delete(JSON.stringify(key));
    if (this.store) {
      try {
        await this.store.delete(key);
      } catch {
        // already gone
      }
    }
  }

  private stale(key: Key, entry: Entry | undefined, why: string, cause: unknown, fallback: Config | undefined): Resolved {
    if (entry) return entry.found.with({ stale: true });
    if (fallback !== undefined) {
      return new Resolved(
        { id: "", kind: key[0], version: 0, label: key[2], etag: "", config: structuredClone(fallback) },
        { stale: true, source: "fallback" },
      );
    }
    throw new Unavailable(
      `Loomwork at ${this.baseUrl} could not be reached (${why}), nothing is cached for ${what(key)} and no fallback was given.`,
      { cause },
    );
  }

  private staleMany(keys: Key[], why: string, cause: unknown, fallbacks: Record<number, Config>): (Resolved | LoomworkClientError)[] {
    const results = keys.map((key, index) => {
      try {
        return this.stale(key, this.cache.get(JSON.stringify(key)), why, cause, fallbacks[index]);
      } catch (error) {
        return error as Unavailable;
      }
    });
    if (results.every((r) => r instanceof Unavailable)) {
      throw new Unavailable(
        `Loomwork at ${this.baseUrl} could not be reached (${why}) and none of the ${keys.length} items is cached or has a fallback.`,
        { cause },
      );
    }
    return results;
  }

  private async request(path: string, init: RequestInit, timeoutMs = this.timeoutMs): Promise<Response> {
    const signal = AbortSignal.any([this.stop.signal, AbortSignal.timeout(timeoutMs)]);
    return this.fetchImpl(this.baseUrl + path, { ...init, signal });
  }

  // --- pushed updates ----------------------------------------------------------------------------------------

  /** Follow the feed until close(): find its end, revalidate what is cached, then long poll; on any error back off
   * (0.5 s doubling to 15 s, with jitter) and go on from the same cursor. */
  private async watch(): Promise<void> {
    await this.loaded;
    let cursor: number | null = null;
    let failures = 0;
    while (!this.stop.signal.aborted) {
      try {
        if (cursor === null) {
          let end = 0;
          for (;;) {
            const page = await this.poll(end, 0);
            end = page.next_cursor;
            if (!page.changes.length) break;
          }
          cursor = end;
          await this.refresh([...this.cache.values()].map((e) => e.key));
          this.live = true;
        }
        const page = await this.poll(cursor, this.live ? this.waitS : 0);
        for (const change of page.changes) await this.apply(change);
        cursor = page.next_cursor;
        this.live = true;
        failures = 0;
      } catch {
        this.live = false;
        if (this.stop.signal.aborted) break;
        failures += 1;
        const delay = Math.min(15_000, 500 * 2 ** Math.min(failures - 1, 6)) * (0.5 + Math.random() / 2);
        await sleep(delay, this.stop.signal);
      }
    }
    this.live = false;
  }

  private async poll(after: number, waitS: number): Promise<{ changes: any[]; next_cursor: number }> {
    const response = await this.request(
      "/api/v5/changes",
      {
        method: "POST",
        headers: { ...this.headers, "Content-Type": "application/json" },
        body: JSON.stringify({ after, events: WATCHED_EVENTS, limit: 1000, wait_s: waitS }),
      },
      (waitS + 15) * 1000,
    );
    const body = await response.json().catch(() => ({}));
    if (response.status !== 200) throw toError(response.status, body, "the change feed");
    return body;
  }

  private async apply(change: any): Promise<void> {
    const data = change.data ?? {};
    const kind = String(data.kind ?? "");
    const artifactId = String(data[`${kind}_id`] ?? "");
    const touched: Key[] = [];
    const removed: Key[] = [];
    for (const { key, found } of [...this.cache.values()]) {
      const effect = effectOf(change.event, kind, artifactId, data.label, key, found);
      if (effect === "remove") removed.push(key);
      else if (effect === "refresh") touched.push(key);
    }
    this.changes += 1;
    for (const key of [...touched, ...removed]) this.touched.set(JSON.stringify(key), this.changes);
    this.batches.clear();
    for (const key of removed) await this.forget(key);
    const { updated, gone } = await this.refresh(touched, change);
    if (this.onChange) {
      try {
        await this.onChange({ cursor: change.cursor, event: change.event, kind, id: artifactId, data, updated, removed: [...removed, ...gone] });
      } catch (error) {
        console.error("loomwork-client: onChange threw; the watcher goes on", error);
      }
    }
  }

  /** Read `keys` again in batches of 100; an answer now 404 is forgotten. With the `change` that touched them, an
   * answer that does not show it yet (on PostgreSQL the server's resolve cache learns of a commit just after it,
   * while the feed can carry the event at once) is asked again after 20 ms, doubling, up to RECHECKS times; one
   * still behind is kept but not trusted, so the next resolve revalidates it. */
  private async refresh(keys: Key[], change?: any): Promise<{ updated: Resolved[]; gone: Key[] }> {
    const updated: Resolved[] = [];
    const gone: Key[] = [];
    let pending = keys;
    for (let attempt = 0; attempt <= RECHECKS && pending.length; attempt++) {
      const behind: Key[] = [];
      for (let start = 0; start < pending.length; start += MAX_BATCH) {
        const chunk = pending.slice(start, start + MAX_BATCH);
        const askedAt = this.changes;
        const response = await this.request("/api/v5/resolve", {
          method: "POST",
          headers: { ...this.headers, "Content-Type": "application/json" },
          body: JSON.stringify({ items: chunk.map(wireItem) }),
        });
        const body = await response.json().catch(() => ({}));
        if (response.status !== 200) throw toError(response.status, body, "a refresh");
        const now = Date.now();
        for (const [index, result] of (body.results as any[]).entries()) {
          const key = chunk[index] as Key;
          const showsIt = change === undefined || shows(change, key, result);
          if (!showsIt && attempt < RECHECKS) behind.push(key);
          else if (result.success) {
            const found = toResolved(result, now);
            const old = this.cache.get(JSON.stringify(key));
            await this.remember(key, found, showsIt ? askedAt : -1, !old || old.found.etag !== found.etag);
            updated.push(found.with({}));
          } else if (result.status === 404) {
            await this.forget(key);
            gone.push(key);
          }
        }
      }
      pending = behind;
      if (behind.length) await sleep(20 * 2 ** attempt, this.stop.signal);
    }
    return { updated, gone };
  }
}

/** Whether a refreshed answer already shows the change that asked for it (see refresh). */
function shows(change: any, key: Key, result: any): boolean {
  const data = change.data ?? {};
  const artifactId = String(data[`${data.kind}_id`] ?? "");
  if (artifactId !== String(result.id) && artifactId !== key[1]) return true;
  if (change.event === "label.moved" && key[2] === data.label) {
    if (data.to_version === null || data.to_version === undefined) return !result.success;
    return Boolean(result.success && result.version === data.to_version);
  }
  if (change.event === "artifact.revision_created" && key[2] === "latest") {
    return Boolean(result.success && result.version >= (data.version ?? 0));
  }
  return true;
}

// --- helpers -------------------------------------------------------------------------------------------------

/** What a change does to one cached entry (the same rules as the Python client's `_effect`). */
function effectOf(event: string, kind: string, artifactId: string, label: unknown, key: Key, found: Resolved): "remove" | "refresh" | null {
  if (key[0] !== kind) return null;
  const thisOne = artifactId === found.id || artifactId === key[1];
  if (event === "artifact.deleted" && thisOne) return "remove";
  if (key[3] !== null) return null;
  if (event === "label.moved") return thisOne && key[2] === label ? "refresh" : null;
  if (thisOne && key[2] === "latest") return "refresh";
  return UUID.test(key[1]) ? null : "refresh";
}

function makeKey(kind: string, idOrName: string, label: string | null, version: number | null): Key {
  const target = String(idOrName ?? "");
  if (!target) throw new TypeError("Give the artifact's id or its exact name.");
  return [kindName(kind), target, label ?? (version === null ? "latest" : null), version];
}

function itemKey(item: Item): Key {
  if (Array.isArray(item)) return makeKey(item[0], item[1], item[2] === undefined ? "latest" : item[2], item[3] ?? null);
  const target = item.id ?? item.name ?? item.idOrName ?? "";
  return makeKey(item.kind, target, item.label === undefined ? "latest" : item.label, item.version ?? null);
}

function wireItem(key: Key): Record<string, unknown> {
  const item: Record<string, unknown> = { kind: key[0], [UUID.test(key[1]) ? "id" : "name"]: key[1] };
  if (key[2] !== null) item.label = key[2];
  if (key[3] !== null) item.version = key[3];
  return item;
}

function what(key: Key): string {
  return `${key[0]} ${JSON.stringify(key[1])}` + (key[3] !== null ? ` version ${key[3]}` : ` at ${key[2]}`);
}

function toResolved(answer: any, now: number): Resolved {
  const kind = answer.kind;
  return new Resolved(
    { id: String(answer.id ?? answer[`${kind}_id`]), kind, version: answer.version, label: answer.label ?? null, etag: answer.etag, config: answer.config },
    { fetchedAt: now },
  );
}

function toError(status: number, body: any, about: string): LoomworkClientError {
  const detail = String(body?.detail || `HTTP ${status} resolving ${about}`);
  const options = { status, code: body?.code ?? null };
  if (status === 404) return new NotFound(detail, options);
  if (status === 401 || status === 403) return new Forbidden(detail, options);
  return new LoomworkClientError(detail, options);
}

function reason(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return `${error.name}: ${error.message}` + (cause instanceof Error ? ` (${cause.message})` : "");
  }
  return String(error);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
