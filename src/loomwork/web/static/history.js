// An artifact's history: its revisions newest first, the diff of any two versions, rollback after a
// confirmation, and its labels (which version `production` runs), each moved compare-and-set.
import { op } from "./api.js";
import { app, go, showError } from "./app.js";
import { diffView } from "./diff.js";
import { confirmDialog, field, h, render } from "./dom.js";

const PAGE = 50;

// The shared diff component: changed words highlighted, list members as + and −.
function changesTable(changes, from, to) {
  if (!changes.length) return h("p", { class: "muted", id: "diff-result" }, "The two versions are the same.");
  return diffView(changes, `Changes from version ${from} to version ${to}`, { id: "diff-result" });
}

function labelsBox(kind, id, data, canEdit) {
  const entries = Object.entries(data.labels);
  const production = data.labels.production;
  const name = h("input", { id: "label-name", required: true, pattern: "[a-z][a-z0-9_-]{0,63}", value: "production" });
  const version = h("select", { id: "label-version" },
    h("option", { value: "" }, "(remove the label)"),
    data.revisions.map((r) => h("option", { value: r.version, selected: r.version === data.version }, `Version ${r.version}`)));
  const move = h("form", { class: "row", onsubmit: async (event) => {
    event.preventDefault();
    const label = name.value.trim();
    const target = version.value ? Number(version.value) : null;
    // Compare-and-set against what this page shows: a move made meanwhile elsewhere is refused, not overwritten.
    const shown = data.labels[label] ?? null;
    try {
      await op(kind.plural, "label", { [kind.id_field]: id, label, version: target, expected_version: shown });
      go(location.hash, target === null ? `Removed the label ${label}.` : `The label ${label} points at version ${target}.`);
    } catch (err) { showError(err); }
  } }, field("Label", name), field("Version", version), h("button", { type: "submit", id: "move-label" }, "Move label"));
  return h("section", { class: "card", "aria-labelledby": "labels-title" },
    h("h2", { id: "labels-title" }, "Labels"),
    h("p", { id: "production-version" }, production ? `Production runs version ${production}.` : "No version is labelled production."),
    entries.length ? h("ul", {}, entries.map(([label, v]) => h("li", {}, `${label}: version ${v}`)))
      : h("p", { class: "muted" }, "No labels yet."),
    canEdit ? move : null);
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

  const rollbackButton = (r) => h("button", { type: "button", class: "danger", id: `rollback-${r.version}`,
    onclick: async () => {
      if (!await confirmDialog(`Roll back to version ${r.version}? This writes version ${data.version + 1} with the values of version ${r.version}.`, "Roll back")) return;
      try {
        const result = await op(kind.plural, "rollback", { [kind.id_field]: id, to_version: r.version, expected_version: data.version });
        go(location.hash, result.message);
      } catch (err) { showError(err); }
    } }, `Roll back to ${r.version}`);

  render(
    h("h1", {}, `History of ${kind.name}: ${current.config.name ?? id}`),
    h("p", { class: "muted" }, `Latest version ${data.version} · ${data.total_count} revisions`),
    labelsBox(kind, id, data, canEdit),
    h("section", { class: "card", "aria-labelledby": "diff-title" }, h("h2", { id: "diff-title" }, "Compare two versions"),
      compare, diffBox),
    h("div", { class: "table-wrap" }, h("table", { id: "revisions" },
      h("thead", {}, h("tr", {}, ["Version", "When", "Author", "Operation", "Message", "Labels", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, data.revisions.map((r) => h("tr", {},
        h("td", {}, r.version), h("td", {}, new Date(r.created_at).toLocaleString()),
        h("td", {}, r.author.name, r.via_agent ? h("span", { class: "badge agent" }, " agent") : null),
        h("td", {}, r.operation), h("td", {}, r.message ?? ""), h("td", {}, r.labels.join(", ")),
        h("td", {}, canEdit && r.version !== data.version ? rollbackButton(r) : null)))))),
    h("nav", { class: "row", "aria-label": "Pages" },
      offset > 0 ? h("a", { class: "button", href: `#/k/${kind.plural}/history/${id}?offset=${Math.max(0, offset - PAGE)}` }, "Newer") : null,
      offset + PAGE < data.total_count ? h("a", { class: "button", href: `#/k/${kind.plural}/history/${id}?offset=${offset + PAGE}` }, "Older") : null,
      h("a", { class: "button", href: `#/k/${kind.plural}` }, "Back to list")));
}
