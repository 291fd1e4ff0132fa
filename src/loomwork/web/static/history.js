// An artifact's history: its revisions newest first, the diff of any two versions, rollback after a
// confirmation, and its labels (which version `production` runs), each moved compare-and-set.
import { op } from "./api.js";
import { app, go, showError } from "./app.js";
import { diffView } from "./diff.js";
import { confirmDialog, field, flash, h, relativeTime, render } from "./dom.js";

const PAGE = 50;

// The shared diff component: changed words highlighted, list members as + and −.
function changesTable(changes, from, to) {
  if (!changes.length) return h("p", { class: "muted", id: "diff-result" }, "The two versions are the same.");
  return diffView(changes, `Changes from version ${from} to version ${to}`, { id: "diff-result" });
}

// Moving a label asks first, and shows what the label's users will pick up: the diff from the version it
// points at now to the new one. Compare-and-set against what this page shows: a move made meanwhile
// elsewhere is refused, not overwritten.
async function moveLabel(kind, id, data, label, target) {
  const now = data.labels[label] ?? null;
  if (now === target) return flash(`The label ${label} already points at version ${target}.`);
  let details = null;
  let question = `Remove the label ${label}? It points at version ${now}; agents asking for it will get an error.`;
  if (target !== null && now === null) {
    question = `Point the new label ${label} at version ${target}? Agents asking for ${label} will get version ${target}.`;
  } else if (target !== null) {
    const diff = await op(kind.plural, "diff", { [kind.id_field]: id, from_version: now, to_version: target });
    question = `Point ${label} at version ${target}? It points at version ${now} now; agents asking for ${label} will pick up:`;
    details = diffView(diff.changes, `Changes from version ${now} to version ${target}`, { id: "label-diff" });
  }
  const verb = target === null ? `Remove ${label}` : `Move ${label}`;
  if (!await confirmDialog(question, verb, details)) return;
  await op(kind.plural, "label", { [kind.id_field]: id, label, version: target, expected_version: now });
  go(location.hash, target === null ? `Removed the label ${label}.` : `The label ${label} points at version ${target}.`);
}

function labelsBox(kind, id, data, canEdit) {
  const entries = Object.entries(data.labels);
  const production = data.labels.production;
  const name = h("input", { id: "label-name", required: true, pattern: "[a-z][a-z0-9_\\-]{0,63}", value: "production" });
  const version = h("select", { id: "label-version" },
    data.revisions.map((r) => h("option", { value: r.version, selected: r.version === data.version }, `Version ${r.version}`)));
  const move = h("form", { class: "row", onsubmit: async (event) => {
    event.preventDefault();
    try { await moveLabel(kind, id, data, name.value.trim(), Number(version.value)); } catch (err) { showError(err); }
  } }, field("Label", name), field("Version", version), h("button", { type: "submit", id: "move-label" }, "Move label"));
  const remove = (label) => h("button", { type: "button", class: "danger small", "aria-label": `Remove the label ${label}`,
    onclick: async () => { try { await moveLabel(kind, id, data, label, null); } catch (err) { showError(err); } } }, "Remove");
  return h("section", { class: "card", "aria-labelledby": "labels-title" },
    h("h2", { id: "labels-title" }, "Labels"),
    h("p", { id: "production-version" }, production ? `Production runs version ${production}.` : "No version is labelled production."),
    entries.length ? h("ul", { class: "label-pins" }, entries.map(([label, v]) => h("li", { class: "row" },
      h("span", { class: `pin${label === "production" ? " production" : ""}` }, label), `→ version ${v}`,
      canEdit ? remove(label) : null)))
      : h("p", { class: "muted" }, "No labels yet."),
    canEdit ? move : null);
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== null && value !== undefined) el.setAttribute(name, String(value));
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// The history as a picture: versions on a line (oldest left), label pins above the version they point at,
// and under each version who made it (a filled dot for a person, a ringed one for an AI agent).
function timeline(data) {
  const revisions = [...data.revisions].reverse();
  const step = 100;
  const width = Math.max(320, revisions.length * step + 72);
  const height = 150;
  const y = 78;
  const x = (i) => 56 + i * step;
  const pins = (r, i) => r.labels.map((label) => svg("g", { class: `tl-pin${label === "production" ? " production" : ""}` },
    svg("rect", { x: x(i) - 46, y: 8, width: 92, height: 20, rx: 10 }),
    svg("text", { x: x(i), y: 22, "text-anchor": "middle" }, label.length > 12 ? `${label.slice(0, 11)}…` : label),
    svg("line", { x1: x(i), y1: 28, x2: x(i), y2: y - 12 })));
  const picture = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", class: "timeline",
    "aria-label": `Timeline of ${revisions.length} versions, oldest first: ` + revisions.map((r) =>
      `version ${r.version} by ${r.author.name}${r.via_agent ? " (AI agent)" : ""}${r.labels.length ? `, labelled ${r.labels.join(" and ")}` : ""}`).join("; ") },
    svg("line", { x1: 20, y1: y, x2: width - 20, y2: y, class: "tl-line" }),
    revisions.map((r, i) => svg("g", { class: "tl-version" },
      svg("title", {}, `Version ${r.version} · ${r.author.name}${r.via_agent ? " (AI agent)" : ""} · ${new Date(r.created_at).toLocaleString()}${r.message ? ` · ${r.message}` : ""}`),
      pins(r.labels.length > 1 ? { labels: [r.labels.join(", ")] } : r, i),
      svg("circle", { cx: x(i), cy: y, r: 10, class: r.via_agent ? "tl-dot agent" : "tl-dot person" }),
      svg("text", { x: x(i), y: y + 30, "text-anchor": "middle", class: "tl-v" }, `v${r.version}`),
      svg("text", { x: x(i), y: y + 48, "text-anchor": "middle", class: "tl-who" },
        `${r.via_agent ? "AI · " : ""}${r.author.name.length > 10 ? `${r.author.name.slice(0, 9)}…` : r.author.name}`))));
  return h("div", { class: "timeline-box", tabindex: "0", role: "region", "aria-label": "Timeline" }, picture,
    h("p", { class: "muted legend" }, h("span", { class: "key person" }), " a person’s version ",
      h("span", { class: "key agent" }, ""), " an AI agent’s"));
}

export async function showHistory(kind, id, params) {
  const offset = Number(params.get("offset") || 0);
  const data = await op(kind.plural, "history", { [kind.id_field]: id, page_size: PAGE, page_offset: offset });
  const current = await op(kind.plural, "revision", { [kind.id_field]: id, version: data.version });
  const canEdit = ["editor", "admin"].includes(app.who.role);
  const versions = data.revisions.map((r) => r.version);
  const pick = (idName, selected) => h("select", { id: idName },
    versions.map((v) => h("option", { value: v, selected: v === selected }, `Version ${v}`)));
  const from = pick("diff-from", versions[1] ?? versions[0]);
  const to = pick("diff-to", versions[0]);
  const diffBox = h("div", {});
  const compare = h("form", { class: "row", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const diff = await op(kind.plural, "diff", { [kind.id_field]: id, from_version: Number(from.value), to_version: Number(to.value) });
      diffBox.replaceChildren(changesTable(diff.changes, from.value, to.value));
    } catch (err) { showError(err); }
  } }, field("From", from), field("To", to), h("button", { type: "submit", id: "compare" }, "Compare"));

  const rollbackButton = (r) => h("button", { type: "button", class: "danger small", id: `rollback-${r.version}`,
    onclick: async () => {
      if (!await confirmDialog(`Roll back to version ${r.version}? This writes version ${data.version + 1} with the values of version ${r.version}.`, "Roll back")) return;
      try {
        const result = await op(kind.plural, "rollback", { [kind.id_field]: id, to_version: r.version, expected_version: data.version });
        go(location.hash, result.message);
      } catch (err) { showError(err); }
    } }, `Roll back to ${r.version}`);

  // Per version: compare with the one before it, point a label here (the label form, then its confirmation).
  const versionActions = (r) => h("div", { class: "row actions" },
    versions.includes(r.version - 1) ? h("button", { type: "button", class: "small", id: `compare-prev-${r.version}`,
      "aria-label": `Compare version ${r.version} with version ${r.version - 1}`, onclick: () => {
        from.value = String(r.version - 1);
        to.value = String(r.version);
        compare.requestSubmit();
        document.getElementById("diff-title").scrollIntoView({ block: "start" });
      } }, "Compare with previous") : null,
    canEdit ? h("button", { type: "button", class: "small", "aria-label": `Point a label at version ${r.version}`, onclick: () => {
      const select = document.getElementById("label-version");
      select.value = String(r.version);
      document.getElementById("label-name").focus();
    } }, "Point a label here") : null,
    canEdit && r.version !== data.version ? rollbackButton(r) : null);

  render(
    h("h1", {}, `History of ${kind.name}: ${current.config.name ?? id}`),
    h("p", { class: "muted" }, `Latest version ${data.version} · ${data.total_count} revisions`),
    timeline(data),
    labelsBox(kind, id, data, canEdit),
    h("section", { class: "card", "aria-labelledby": "diff-title" }, h("h2", { id: "diff-title" }, "Compare two versions"),
      compare, diffBox),
    // On a phone each revision becomes a card, as the lists' rows do (table.results in app.css).
    h("div", { class: "table-wrap" }, h("table", { id: "revisions", class: "results" },
      h("thead", {}, h("tr", {}, ["Version", "When", "Author", "Operation", "Message", "Labels", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, data.revisions.map((r) => h("tr", {},
        h("td", { "data-label": "Version" }, r.version), h("td", { "data-label": "When" }, relativeTime(r.created_at)),
        h("td", { "data-label": "Author" }, r.author.name, r.via_agent ? [" ", h("span", { class: "badge agent" }, "AI agent")] : null,
          r.approved_by ? h("div", { class: "muted" }, `approved by ${r.approved_by.name}`) : null),
        h("td", { "data-label": "Operation" }, r.operation), h("td", { "data-label": "Message" }, r.message ?? ""),
        h("td", { "data-label": "Labels" }, r.labels.join(", ")),
        h("td", { class: "actions-cell" }, versionActions(r))))))),
    h("nav", { class: "row", "aria-label": "Pages" },
      offset > 0 ? h("a", { class: "button", href: `#/k/${kind.plural}/history/${id}?offset=${Math.max(0, offset - PAGE)}` }, "Newer") : null,
      offset + PAGE < data.total_count ? h("a", { class: "button", href: `#/k/${kind.plural}/history/${id}?offset=${offset + PAGE}` }, "Older") : null,
      h("a", { class: "button", href: `#/k/${kind.plural}` }, "Back to list")));
}
