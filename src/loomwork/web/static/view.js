// An artifact's own page, read only: its values as a person reads them (the color as a swatch, the icon as
// an image, the {{variables}} of its texts marked), the proposals waiting on it, its recent changes, and its
// history and labels. Sections whose API is not on this server yet (a 404 or 405 for the route) stay hidden,
// so they appear once the server has them.
import { ApiError, call, op } from "./api.js";
import { app, go, showError } from "./app.js";
import { diffView } from "./diff.js";
import { field, flagBadge, h, humanize, iconImage, markVariables, relativeTime, render, slotTitle, swatch, tableBox,
  valueText } from "./dom.js";

const TEMPLATE_TEXT = new Set(["instruction", "example", "description", "scenario"]);
const ACTIONS = { create: "Created", update: "Updated", duplicate: "Created as a copy", delete: "Deleted",
                  import_create: "Imported", import_update: "Updated by import", propose: "Proposed a change",
                  accept: "Accepted a proposal", reject: "Rejected a proposal" };
const LABEL_NAME = "^[a-z][a-z0-9_\\-]{0,63}$";

const canEdit = () => ["editor", "admin"].includes(app.who.role);
const when = (at) => relativeTime(at);

// A route another branch is adding answers 404 or 405 until it is merged: that section is left out.
async function ifServed(request) {
  try {
    return await request;
  } catch (err) {
    if (err instanceof ApiError && [404, 405].includes(err.status)) return null;
    throw err;
  }
}

function optionView(slot, option, name) {
  if (slot.resource === "color") return h("span", {}, swatch(option.value), " ", option.label);
  if (slot.resource === "icon") return iconImage(option.value, `Icon of ${name}`);
  if (slot.resource === "flag") return flagBadge(option.value);
  if (TEMPLATE_TEXT.has(slot.resource)) return h("p", { class: "text" }, markVariables(option.label));
  return h("span", {}, option.label);
}

function valueList(slot, options, name) {
  const items = options.map((o) => h(slot.resource === "flag" ? "span" : "div", { class: "value" },
    optionView(slot, o, name), o.pending ? [" ", h("span", { class: "badge pending" }, "pending")] : null));
  return slot.resource === "flag" ? h("div", { class: "row" }, items) : items;
}

function valuesSection(kind, view, name) {
  const filled = kind.slots.filter((s) => view[s.section].options.some((o) => o.selected));
  const empty = kind.slots.filter((s) => !filled.includes(s));
  const rows = filled.map((s) => [h("dt", {}, slotTitle(s)),
    h("dd", {}, valueList(s, view[s.section].options.filter((o) => o.selected), name))]);
  const parameters = view.parameters?.parameters || [];
  return h("section", { class: "card", "aria-labelledby": "values-title" },
    h("h2", { id: "values-title" }, "What it is made of"),
    h("dl", { class: "values" }, rows,
      parameters.length ? [h("dt", {}, "Template variables"), h("dd", {}, h("div", { class: "row" },
        parameters.map((p) => h("span", {}, h("mark", { class: "var" }, `{{${p.name}}}`), " ",
          p.mapped ? h("span", { class: "badge ok" }, "mapped") : h("span", { class: "badge pending" }, "missing")))))]
        : null,
      view.arguments_schema && Object.keys(view.arguments_schema.properties).length
        ? [h("dt", {}, "Function schema"), h("dd", {}, h("pre", {}, JSON.stringify(view.arguments_schema, null, 2)))]
        : null),
    empty.length ? h("p", { class: "muted" }, `Not set: ${empty.map((s) => slotTitle(s)).join(", ")}.`) : null);
}

// The shared review queue (API.md section 8) when the server has it; before that, the proposals in your own
// drafts of this artifact, which is what the Proposals page shows too.
async function waitingProposals(kind, id) {
  const queue = await ifServed(call("POST", "/api/v5/proposals/search",
                                    { artifact_id: id, status: "waiting", page_size: 50 }));
  if (queue) {
    return (queue.proposals || []).map((p) => ({ who: p.proposer?.name, agent: p.via_agent, at: p.created_at,
                                                   changes: p.changes || [], draftId: p.draft_id }));
  }
  const { entries } = await op(kind.plural, "drafts", { page_size: 200 });
  const drafts = entries.filter((d) => d[kind.id_field] === id && d.status === "open" && d.waiting_proposals > 0);
  const states = await Promise.all(drafts.map((d) => call("GET", `/web/drafts/${kind.plural}/${d.draft_id}`)));
  return states.flatMap((state, i) => state.proposals.map((p) => ({
    who: p.actor_name, agent: p.via_agent, at: p.created_at, draftId: drafts[i].draft_id,
    fields: Object.keys(p.changes || {}) })));
}

function proposalsSection(kind, id, proposals) {
  return h("section", { class: "card", "aria-labelledby": "proposals-title" },
    h("h2", { id: "proposals-title" }, `Proposals waiting (${proposals.length})`),
    proposals.length ? h("ul", {}, proposals.map((p) => h("li", {},
      h("strong", {}, p.who || "someone"), p.agent ? [" ", h("span", { class: "badge agent" }, "AI agent")] : null,
      " · ", when(p.at),
      p.fields ? ` · changes ${p.fields.map(humanize).join(", ")}` : null,
      p.changes?.length ? diffView(p.changes, `Changes proposed by ${p.who || "someone"}`) : null)))
      : h("p", { class: "muted" }, `No proposals wait on this ${kind.name}.`),
    proposals.length ? h("p", {}, h("a", { href: `#/proposals?${new URLSearchParams({ status: "waiting", artifact: id })}` },
                                     "Review them in the queue")) : null);
}

function changesSection(kind, events) {
  return h("section", { class: "card", "aria-labelledby": "changes-title" },
    h("h2", { id: "changes-title" }, "Recent changes"),
    events.events.length ? h("ul", {}, events.events.map((e) => h("li", {},
      h("strong", {}, ACTIONS[e.action] || humanize(e.action)), ` by ${e.profile_name}`,
      e.via_agent ? [" ", h("span", { class: "badge agent" }, "AI agent")] : null,
      " · ", when(e.at), e.fields.length ? h("span", { class: "muted" }, ` · ${e.fields.map(humanize).join(", ")}`)
        : null)))
      : h("p", { class: "muted" }, "No changes recorded."),
    events.total_count > events.events.length
      ? h("p", { class: "muted" }, `The last ${events.events.length} of ${events.total_count} changes.`) : null);
}

function labelForm(kind, id, revisions) {
  const name = h("input", { type: "text", required: true, pattern: LABEL_NAME, autocomplete: "off",
                             placeholder: "production" });
  const version = h("select", {}, revisions.map((r) => h("option", { value: r.version }, `version ${r.version}`)));
  return h("form", { class: "row", onsubmit: async (event) => {
    event.preventDefault();
    try {
      await op(kind.plural, "label", { [kind.id_field]: id, label: name.value, version: Number(version.value) });
      go(location.hash, `Label “${name.value}” now points at version ${version.value}.`);
    } catch (err) { showError(err); }
  } }, field("Label", name), field("Version", version), h("button", { type: "submit" }, "Point label"));
}

function historySection(kind, id, history) {
  const revisions = history.revisions || [];
  const labels = revisions.flatMap((r) => (r.labels || []).map((label) => [label, r.version]));
  return h("section", { class: "card", "aria-labelledby": "history-title" },
    h("h2", { id: "history-title" }, "History and labels"),
    h("p", {}, h("a", { href: `#/k/${kind.plural}/history/${id}`, "aria-label": `History of ${history.name || id}` },
                 "Compare versions, move labels or roll back")),
    h("p", {}, labels.length ? labels.map(([label, version]) => [h("span", { class: "badge" }, `${label} → v${version}`), " "])
      : h("span", { class: "muted" }, "No labels point at this artifact yet; latest is always the newest version.")),
    revisions.length ? tableBox("Revisions", h("table", {},
      h("caption", { class: "visually-hidden" }, "Revisions, newest first"),
      h("thead", {}, h("tr", {}, ["Version", "When", "Author", "Approved by", "Operation", "Message"].map((t) =>
        h("th", { scope: "col" }, t)))),
      h("tbody", {}, revisions.map((r) => h("tr", {}, h("td", {}, r.version), h("td", {}, when(r.created_at)),
        h("td", {}, r.author?.name || "—", r.via_agent ? [" ", h("span", { class: "badge agent" }, "AI agent")] : null),
        h("td", {}, r.approved_by?.name || valueText(r.approved_by ?? "—")), h("td", {}, humanize(r.operation || "—")),
        h("td", {}, r.message || "")))))) : h("p", { class: "muted" }, "No revisions yet."),
    history.total_count > revisions.length
      ? h("p", { class: "muted" }, `The last ${revisions.length} of ${history.total_count} revisions.`) : null,
    canEdit() && revisions.length ? labelForm(kind, id, revisions) : null);
}

// The labels as {label: version}: the history answer's own map, or (an older server) its revisions' labels.
const labelMap = (history) => history?.labels ||
  Object.fromEntries((history?.revisions || []).flatMap((r) => (r.labels || []).map((label) => [label, r.version])));

// What runs, first: each label and the version it points at, and whether the newest version is live anywhere.
function runsSection(kind, id, history, latest) {
  const labels = Object.entries(labelMap(history)).sort(([a], [b]) => (a === "production" ? -1 : b === "production" ? 1 : a.localeCompare(b)));
  const liveLatest = labels.filter(([, v]) => v === latest).map(([label]) => label);
  return h("section", { class: "card runs", "aria-labelledby": "runs-title" },
    h("h2", { id: "runs-title" }, "What runs"),
    labels.length ? h("ul", { class: "label-pins" }, labels.map(([label, version]) => h("li", {},
      h("span", { class: `pin${label === "production" ? " production" : ""}` }, label), " → ",
      h("strong", {}, `version ${version}`), version === latest ? h("span", { class: "muted" }, " (the latest)") : null)))
      : h("p", { class: "muted" }, "No label points at a version yet: agents asking for “latest” get the newest version."),
    h("p", { id: "latest-live" }, liveLatest.length
      ? `The latest version, ${latest}, is live as ${liveLatest.join(" and ")}.`
      : [h("strong", {}, `The latest version, ${latest}, is not live under any label.`),
         labels.length ? " Agents asking for a label get the version it points at." : ""]),
    h("p", {}, h("a", { href: `#/k/${kind.plural}/history/${id}` }, "History: move a label, compare, roll back")));
}

// How an agent reads this artifact: the resolve URL, curl, the Python and TypeScript clients, the MCP resource.
function useItSection(kind, id, history) {
  const map = labelMap(history);
  const labels = ["latest", ...Object.keys(map).filter((l) => l !== "latest")];
  const choice = h("select", {}, labels.map((l) => h("option", { value: l, selected: l === ("production" in map ? "production" : "latest") }, l)));
  const code = h("pre", { class: "use-it", tabindex: "0", "aria-label": "How to read it from code" });
  const fill = () => {
    const label = choice.value;
    const url = `${location.origin}/api/v5/resolve/${kind.plural}/${id}?label=${encodeURIComponent(label)}`;
    code.replaceChildren(
      h("span", { class: "muted" }, "# Resolve URL (GET, with your key)\n"), `${url}\n\n`,
      h("span", { class: "muted" }, "# curl\n"), `curl -H "X-Api-Key: $LOOMWORK_API_KEY" \\\n  "${url}"\n\n`,
      h("span", { class: "muted" }, "# Python (pip install clients/python: caches by ETag, watch=True for pushed updates)\n"),
      `from loomwork_client import Client\n\nwith Client("${location.origin}", api_key) as loomwork:\n` +
        `    ${kind.name} = loomwork.resolve("${kind.plural}", "${id}", label="${label}")\n\n`,
      h("span", { class: "muted" }, "# TypeScript (clients/typescript, on fetch)\n"),
      `import { Client } from "loomwork-client";\n\nconst loomwork = new Client("${location.origin}", apiKey);\n` +
        `const ${kind.name} = await loomwork.resolve("${kind.plural}", "${id}", { label: "${label}" });\n\n`,
      h("span", { class: "muted" }, "# MCP resource\n"), `loomwork://${kind.plural}/${id}${label === "latest" ? "" : `@${label}`}`);
  };
  choice.addEventListener("change", fill);
  fill();
  return h("section", { class: "card", "aria-labelledby": "use-title" },
    h("h2", { id: "use-title" }, "Use it"), field("Label", choice), code);
}

export async function showArtifact(kind, id) {
  const request = { [kind.id_field]: id };
  for (const slot of kind.slots) request[`${slot.section}_show_selected`] = true;  // its own values, no catalog
  const [view, proposals, events, history] = await Promise.all([
    op(kind.plural, "get", request),
    waitingProposals(kind, id),
    call("GET", `/web/artifacts/${kind.plural}/${id}/events?limit=10`),
    ifServed(op(kind.plural, "history", { [kind.id_field]: id, page_size: 20 })),
  ]);
  const nameSlot = kind.slots.find((s) => s.resource === "name");
  const shownName = (nameSlot && view[nameSlot.section].options.find((o) => o.selected)?.label) || "(no name)";
  const color = kind.slots.find((s) => s.resource === "color");
  const icon = kind.slots.find((s) => s.resource === "icon");
  const colorValue = color && view[color.section].options.find((o) => o.selected)?.value;
  const iconValue = icon && view[icon.section].options.find((o) => o.selected)?.value;
  const big = swatch(colorValue);
  big?.classList.add("large");
  const image = iconImage(iconValue, "");
  image?.classList.add("large");
  render(
    h("div", { class: "artifact-head" }, big, image, h("h1", {}, shownName)),
    h("p", { class: "muted" }, `${humanize(kind.name)} · latest version ${view.version}`,
      view.active === true ? [" · ", h("span", { class: "badge ok" }, "Active")] : null,
      view.active === false ? [" · ", h("span", { class: "badge off" }, "Inactive")] : null),
    h("div", { class: "row" },
      canEdit() ? h("a", { class: "button primary", href: `#/k/${kind.plural}/edit/${id}` }, `Edit ${kind.name}`) : null,
      h("a", { class: "button", href: `#/k/${kind.plural}` }, `Back to ${kind.title}s`)),
    history ? runsSection(kind, id, history, history.revisions?.[0]?.version ?? view.version) : null,
    valuesSection(kind, view, shownName),
    proposalsSection(kind, id, proposals),
    changesSection(kind, events),
    history ? historySection(kind, id, history) : null,
    useItSection(kind, id, history));
}
