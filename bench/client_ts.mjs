// bench/client.py's label-move latency for the TypeScript client: prints one latency (seconds) per move, from
// the label request's answer to the watching client's onChange. Args: persona id, moves. Env: LOOMWORK_URL,
// LOOMWORK_API_KEY (viewer), LOOMWORK_ADMIN_KEY.
import { performance } from "node:perf_hooks";

import { Client } from "../clients/typescript/dist/index.js";

const [personaId, movesArg] = process.argv.slice(2);
const base = process.env.LOOMWORK_URL;
const arrived = [];
let wake = () => {};
const loomwork = new Client(base, process.env.LOOMWORK_API_KEY, {
  watch: true,
  timeoutMs: 30_000,
  onChange(change) {
    if (change.event === "label.moved") {
      arrived.push(performance.now());
      wake();
    }
  },
});
await loomwork.resolve("personas", personaId, { label: "production" });
while (!loomwork.watching) await new Promise((resolve) => setTimeout(resolve, 10));

// Where production points now (the Python half moved it an even or odd number of times).
let version = (await loomwork.resolve("personas", personaId, { label: "production" })).version;
const latencies = [];
for (let n = 0; n < Number(movesArg); n++) {
  const target = version === 1 ? 2 : 1;
  const before = arrived.length;
  const response = await fetch(`${base}/api/v5/artifacts/personas/label`, {
    method: "POST",
    headers: { "X-Api-Key": process.env.LOOMWORK_ADMIN_KEY, "Content-Type": "application/json" },
    body: JSON.stringify({ persona_id: personaId, label: "production", version: target, expected_version: version }),
  });
  if (response.status !== 200) throw new Error(await response.text());
  await response.arrayBuffer();
  const answered = performance.now();
  const deadline = Date.now() + 30_000;
  while (arrived.length <= before) {
    if (Date.now() > deadline) throw new Error("a label move never reached onChange");
    await new Promise((resolve) => {
      wake = resolve;
      setTimeout(resolve, 1000);
    });
  }
  latencies.push((arrived[before] - answered) / 1000);
  version = target;
}
await loomwork.close();
console.log(latencies.join("\n"));
