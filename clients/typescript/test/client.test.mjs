// The TypeScript client against a live Loomwork (LOOMWORK_URL, with a viewer's LOOMWORK_API_KEY and an admin's
// LOOMWORK_ADMIN_KEY to make changes). tests/client/test_typescript_client.py starts the server and runs this.
// "The server is down" is a loopback proxy in front of it that the test closes (and opens again on the same port).
// Waits are on promises bounded by a generous limit; nothing asserts how long something took.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";

import { Client, MissingVariables, NotApplicable, NotFound, Resolved, Unavailable, UnknownKind } from "../dist/index.js";

const URL_ = process.env.LOOMWORK_URL;
const VIEWER = process.env.LOOMWORK_API_KEY;
const ADMIN = process.env.LOOMWORK_ADMIN_KEY;
if (!URL_ || !VIEWER || !ADMIN) throw new Error("Set LOOMWORK_URL, LOOMWORK_API_KEY and LOOMWORK_ADMIN_KEY.");
const WAIT_MS = 60_000;
const run = Math.random().toString(36).slice(2, 8); // names unique to this run

async function api(path_, body) {
  const response = await fetch(URL_ + path_, {
    method: "POST",
    headers: { "X-Api-Key": ADMIN, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  assert.equal(response.status, 200, JSON.stringify(answer));
  return answer;
}

async function create(kind, item) {
  const { results } = await api(`/api/v5/artifacts/${kind}/create`, { [kind]: [item] });
  assert.ok(results[0].success, JSON.stringify(results[0]));
  return results[0][`${kind.slice(0, -1)}_id`];
}

const update = (id, fields) => api("/api/v5/artifacts/personas/update", { personas: [{ persona_id: id, ...fields }] });
const label = (id, name, version, expected) =>
  api("/api/v5/artifacts/personas/label", { persona_id: id, label: name, version, expected_version: expected });

/** fetch, recording [method, path, If-None-Match, status] of every request but the change feed's. */
function counting() {
  const seen = [];
  const wrapped = async (url, init = {}) => {
    const response = await fetch(url, init);
    const path_ = new URL(url).pathname;
    if (path_ !== "/api/v5/changes") seen.push([init.method ?? "GET", path_, init.headers?.["If-None-Match"] ?? null, response.status]);
    return response;
  };
  return { seen, fetch: wrapped };
}

/** A loopback proxy to Loomwork that can be stopped and started again on the same port. */
class Proxy {
  async start(port = 0) {
    this.server = http.createServer((req, res) => {
      const upstream = http.request(URL_ + req.url, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      });
      upstream.on("error", () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise((resolve) => this.server.listen(port, "127.0.0.1", resolve));
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }
  async stop() {
    const closed = new Promise((resolve) => this.server.close(resolve));
    this.server.closeAllConnections();
    await closed;
  }
}

function changes() {
  const seen = [];
  const waiters = [];
  return {
    seen,
    onChange(change) {
      seen.push(change);
      for (const waiter of waiters.splice(0)) waiter();
    },
    async next(event) {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const found = seen.findIndex((c) => c.event === event);
        if (found >= 0) return seen.splice(found, 1)[0];
        assert.ok(Date.now() < deadline, `no ${event} reached onChange`);
        await new Promise((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    },
  };
}

async function until(condition, what) {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "loomwork-ts-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("resolve revalidates by ETag and follows a label move", async () => {
  const id = await create("personas", { name: `Archivist ${run}`, description: "Finds documents" });
  await update(id, { description: "Finds and cites" });
  await label(id, "production", 1);
  const { seen, fetch } = counting();
  const loomwork = new Client(URL_, VIEWER, { fetch, timeoutMs: 30_000 });
  const first = await loomwork.resolve("personas", id);
  assert.deepEqual([first.id, first.kind, first.version, first.label, first.stale], [id, "persona", 2, "latest", false]);
  const again = await loomwork.resolve("persona", id);
  assert.equal(again.etag, first.etag);
  again.config.description = "changed by the caller";
  assert.deepEqual(seen, [
    ["GET", `/api/v5/resolve/personas/${id}`, null, 200],
    ["GET", `/api/v5/resolve/personas/${id}`, `"${first.etag}"`, 304],
  ]);
  assert.equal((await loomwork.resolve("persona", id)).config.description, "Finds and cites");
  const production = await loomwork.resolve("persona", `Archivist ${run}`, { label: "production" });
  assert.equal(production.version, 1);
  await label(id, "production", 2, 1);
  const moved = await loomwork.resolve("persona", `Archivist ${run}`, { label: "production" });
  assert.equal(moved.version, 2);
  assert.deepEqual(seen.at(-1).slice(2), [`"${production.etag}"`, 200]);
  await loomwork.close();
});

test("resolveMany answers each item in one round trip and revalidates the set", async () => {
  const id = await create("personas", { name: `Many ${run}` });
  await create("tools", { name: `lookup_${run}`, description: "Looks it up" });
  const { seen, fetch } = counting();
  const loomwork = new Client(URL_, VIEWER, { fetch, timeoutMs: 30_000 });
  const items = [["personas", id], { kind: "tool", name: `lookup_${run}` }, ["persona", `Nobody ${run}`]];
  const [persona, tool, missing] = await loomwork.resolveMany(items);
  assert.ok(persona instanceof Resolved && persona.id === id && persona.version === 1);
  assert.ok(tool instanceof Resolved && tool.kind === "tool");
  assert.ok(missing instanceof NotFound && missing.status === 404 && missing.detail.includes("Nobody"));
  assert.deepEqual(seen, [["POST", "/api/v5/resolve", null, 200]]);
  const again = await loomwork.resolveMany(items);
  assert.equal(seen.length, 2);
  assert.equal(seen[1][3], 304);
  assert.ok(seen[1][2]);
  assert.deepEqual(again[0].data(), persona.data());
  assert.ok(again[2] instanceof NotFound);
  await update(id, { description: "Now described" });
  const changed = await loomwork.resolveMany(items);
  assert.deepEqual([seen.at(-1)[3], changed[0].version, changed[0].config.description], [200, 2, "Now described"]);
  await loomwork.close();
});

test("a watching client refreshes exactly what a change touches, and survives a restart", async () => {
  const id = await create("personas", { name: `Watched ${run}`, description: "One" });
  await update(id, { description: "Two" });
  await label(id, "production", 1);
  const proxy = await new Proxy().start();
  const feed = changes();
  const { seen, fetch } = counting();
  const loomwork = new Client(proxy.url, VIEWER, { fetch, watch: true, onChange: feed.onChange, waitS: 2, timeoutMs: 30_000 });
  try {
    assert.equal((await loomwork.resolve("persona", id, { label: "production" })).version, 1);
    const pinned = await loomwork.resolve("persona", id, { version: 1 });
    await loomwork.resolve("persona", id);
    await until(() => loomwork.watching, "the watcher to connect");
    seen.length = 0;
    assert.equal((await loomwork.resolve("persona", id, { label: "production" })).source, "memory");
    assert.deepEqual(seen, []); // no request while the watcher is connected

    await label(id, "production", 2, 1);
    const moved = await feed.next("label.moved");
    assert.deepEqual([moved.kind, moved.id], ["persona", id]);
    assert.deepEqual(moved.updated.map((r) => [r.label, r.version]), [["production", 2]]);
    const now = await loomwork.resolve("persona", id, { label: "production" });
    assert.deepEqual([now.version, now.config.description, now.stale], [2, "Two", false]);
    // The watcher's one refresh (a batch of the touched entry); the resolve after it was served from memory.
    assert.deepEqual(seen, [["POST", "/api/v5/resolve", null, 200]]);

    // Down: the watcher notices; a change made meanwhile arrives once the server is back (the cursor is kept).
    await proxy.stop();
    await until(() => !loomwork.watching, "the watcher to notice the server is gone");
    await update(id, { description: "Three" });
    assert.ok((await loomwork.resolve("persona", id)).stale);
    await proxy.start(proxy.port);
    const created = await feed.next("artifact.revision_created");
    assert.deepEqual(created.updated.map((r) => [r.label, r.version]), [["latest", 3]]);
    assert.equal((await loomwork.resolve("persona", id)).config.description, "Three");
    assert.deepEqual((await loomwork.resolve("persona", id, { version: 1 })).data(), pinned.data());

    await api("/api/v5/artifacts/personas/delete", { persona_ids: [id] });
    const deleted = await feed.next("artifact.deleted");
    assert.equal(deleted.removed.length, 3);
    await assert.rejects(loomwork.resolve("persona", id), NotFound);
  } finally {
    await loomwork.close();
    await proxy.stop().catch(() => {});
  }
});

test("an offline start serves the last answers from cacheDir; a fallback is the last resort", async () => {
  const id = await create("personas", { name: `Offline ${run}`, description: "Kept on disk" });
  const cacheDir = path.join(tmp, "cache");
  const proxy = await new Proxy().start();
  const online = new Client(proxy.url, VIEWER, { cacheDir });
  const fresh = await online.resolve("personas", `Offline ${run}`);
  await online.close();
  await proxy.stop();
  const files = fs.readdirSync(cacheDir, { recursive: true }).filter((name) => name.endsWith(".json"));
  assert.equal(files.length, 1);
  assert.ok(!files.some((name) => path.basename(name).startsWith(".tmp-")));

  const restarted = new Client(proxy.url, VIEWER, { cacheDir, timeoutMs: 2000 });
  const served = await restarted.resolve("persona", `Offline ${run}`);
  assert.deepEqual([served.stale, served.source, served.id, served.version], [true, "disk", id, 1]);
  assert.deepEqual(served.config, fresh.config);
  assert.equal(served.fetchedAt, fresh.fetchedAt);
  assert.ok(served.age >= 0);

  const fallback = { instructions: "You are careful." };
  const last = await restarted.resolve("persona", `Never ${run}`, { label: "production", fallback });
  assert.deepEqual([last.stale, last.source, last.kind, last.label, last.config], [true, "fallback", "persona", "production", fallback]);
  await assert.rejects(restarted.resolve("persona", `Never ${run}`), (error) => error instanceof Unavailable && /no fallback/.test(error.message));
  const [one, two] = await restarted.resolveMany([["persona", `Offline ${run}`], ["tool", `Never ${run}`]]);
  assert.ok(one instanceof Resolved && one.stale && two instanceof Unavailable);
  await restarted.close();
});

test("render, the tool formats, the call options and the kind names", async () => {
  await create("personas", { name: `Ada ${run}`, instructions: "Help {{customer}} with {{ topic }}.", parameter_fields: ["customer", "topic"] });
  const arg = { name: "query", type: "string", description: "What to find", required: true };
  await create("tools", { name: `find_${run}`, description: "Finds documents", args: [arg] });
  const models = await api("/api/v5/resources/models/create", { models: ["gpt-4o-mini"] });
  await create("invocations", {
    name: `Main ${run}`,
    endpoint: "http://127.0.0.1:11434/v1",
    key: { name: "prod", secret: "sk-live-very-secret-1234" },
    temperature_level: "0.3",
    reasoning_level: "Low",
    model_flag_values: [{ model_id: models.results[0].id, type: "invocation_role", value: "primary" }],
  });
  const loomwork = new Client(URL_, VIEWER);
  const [persona, tool, invocation] = await loomwork.resolveMany([
    ["persona", `Ada ${run}`],
    ["tools", `find_${run}`],
    ["invocation", `Main ${run}`],
  ]);
  assert.equal(persona.render({ customer: "Grace", topic: "billing" }), "Help Grace with billing.");
  assert.throws(() => persona.render({ customer: "Grace" }), (error) => error instanceof MissingVariables && error.message.includes("no value for topic") && error.missing.join() === "topic");
  assert.throws(() => persona.openaiTool(), NotApplicable);
  const parameters = { type: "object", properties: { query: { type: "string", description: "What to find" } }, required: ["query"], additionalProperties: false };
  assert.deepEqual(tool.openaiTool(), { type: "function", function: { name: `find_${run}`, description: "Finds documents", parameters } });
  assert.deepEqual(tool.anthropicTool(), { name: `find_${run}`, description: "Finds documents", input_schema: parameters });
  assert.deepEqual(invocation.openaiOptions(), { model: "gpt-4o-mini", temperature: 0.3, reasoning_effort: "low" });
  assert.deepEqual(invocation.openaiClientOptions(), { baseURL: "http://127.0.0.1:11434/v1" });
  assert.ok(!JSON.stringify(invocation.config).includes("very-secret"));
  await assert.rejects(loomwork.resolve("personnas", "x"), (error) => error instanceof UnknownKind && error.message.includes("the kinds are persona, tool, eval, invocation"));
  await loomwork.close();
});
