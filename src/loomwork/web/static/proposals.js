// The review queue: every proposal of the group, whoever's draft holds it (agents propose into drafts),
// with what it would change (the live value against the proposed one, as readable values), and Accept /
// Reject with a reason for people with the editor role. Your own drafts are listed below it.
import { call, op } from "./api.js";
import { app, go, showError } from "./app.js";
import { field, h, humanize, iconImage, render, tableBox, valueText } from "./dom.js";

const STATUSES = [["waiting", "Waiting"], ["accepted", "Accepted"], ["rejected", "Rejected"],
                  ["stale", "Stale (draft saved meanwhile)"], ["", "All"]];
const canDecide = () => ["editor", "admin"].includes(app.who.role);

function shown(fieldName, value) {
  if (Array.isArray(value)) return value.length ? value.map((v) => valueText(v)).join("; ") : "—";
  if (fieldName === "icon" && value) return iconImage(value, "icon");  // sanitized SVG, shown as an image
  return valueText(value);
}

function changeTable(view) {
  if (!view.changes.length) return h("p", { class: "muted" }, "This proposal changes no field.");
  // A table that may scroll sideways is a named, focusable region, so a keyboard can reach all of it.
  return tableBox(`Changes proposed for ${view.kind} ${view.artifact_name || "(no name)"}`, h("table", {},
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Now"),
                    h("th", { scope: "col" }, "Proposed"))),
    h("tbody", {}, view.changes.map((c) => h("tr", {}, h("th", { scope: "row" }, humanize(c.field)),
      h("td", {}, shown(c.field, c.now)), h("td", {}, shown(c.field, c.proposed)))))));
}

async function decide(view, decision, reason, commit) {
  try {
    const body = { proposal_id: view.proposal_id, decision, commit };
    if (reason) body.reason = reason;
    const answer = await call("POST", "/api/v5/proposals/decide", body);
    go(location.hash || "#/proposals", answer.message);
  } catch (err) {
    if (err.code === "version_conflict") {
      err.message = `${err.message} Nothing was accepted: the ${view.kind} changed since the proposal was made.`;
    }
    showError(err);
  }
}

function decisionControls(view, what) {
  const reason = h("textarea", { rows: 2, maxlength: 2000, "aria-label": `Reason for ${what}` });
  const commit = h("input", { type: "checkbox", checked: view.via_agent });
  return h("div", {},
    field("Reason (optional, shown to the proposer)", reason),
    h("label", { class: "row" }, commit, `Save the ${view.kind} when accepted`),
    h("div", { class: "row" },
      h("button", { type: "button", class: "primary", "aria-label": `Accept ${what}`,
                    onclick: () => decide(view, "accept", reason.value.trim(), commit.checked) }, "Accept"),
      h("button", { type: "button", class: "danger", "aria-label": `Reject ${what}`,
                    onclick: () => decide(view, "reject", reason.value.trim(), false) }, "Reject")));
}

function proposalCard(view) {
  const name = view.artifact_name || "(no name)";
  const what = `proposal for ${view.kind} “${name}”`;
  const decided = view.decided_by
    ? h("p", { class: "decision" }, `${humanize(view.status)} by ${view.decided_by.name || "a former member"}`,
        view.decided_at ? ` on ${new Date(view.decided_at).toLocaleString()}` : "",
        view.reason ? ` · Reason: ${view.reason}` : "")
    : null;
  return h("article", { class: "card proposal", dataset: { status: view.status } },
    h("h3", {}, `${humanize(view.kind)}: ${name} `, h("span", { class: "badge" }, view.status)),
    h("p", { class: "muted" }, `Proposed by ${view.proposer.name} `,
      view.via_agent ? h("span", { class: "badge agent" }, "AI agent") : null,
      ` on ${new Date(view.created_at).toLocaleString()}`,
      view.base_version ? ` · edits version ${view.base_version}` : " · a new artifact"),
    changeTable(view),
    view.artifact_id ? h("p", {}, h("a", { href: `#/k/${app.kinds.find((k) => k.name === view.kind)?.plural}/view/${view.artifact_id}` },
                                     `View ${view.kind}`)) : null,
    decided,
    view.status === "waiting" && canDecide() ? decisionControls(view, what) : null);
}

function draftsTable(kind, drafts) {
  if (!drafts.length) return null;
  return h("section", {}, h("h2", {}, `Your ${kind.name} drafts`), tableBox(`Your ${kind.name} drafts`, h("table", {},
    h("thead", {}, h("tr", {}, ["Name", "Status", "Version", "Waiting", "Updated", ""].map((t) =>
      h("th", { scope: "col" }, t)))),
    h("tbody", {}, drafts.map((d) => h("tr", {}, h("td", {}, d[kind.id_field]
      ? h("a", { href: `#/k/${kind.plural}/view/${d[kind.id_field]}` }, d.name || "(no name)") : d.name || "(no name)"),
      h("td", {}, d.status),
      h("td", {}, d.version), h("td", {}, d.waiting_proposals), h("td", {}, new Date(d.updated_at).toLocaleString()),
      h("td", {}, d.status === "open" ? h("a", { href: `#/k/${kind.plural}/draft/${d.draft_id}` }, "Open") : "")))))));
}

function filters(params) {
  const status = h("select", { id: "queue-status" },
    STATUSES.map(([value, label]) => h("option", { value, selected: value === params.status }, label)));
  const kind = h("select", { id: "queue-kind" }, h("option", { value: "" }, "Every kind"),
    app.kinds.map((k) => h("option", { value: k.name, selected: k.name === params.kind }, humanize(k.name))));
  const apply = () => go(`#/proposals?${new URLSearchParams({ status: status.value, kind: kind.value })}`);
  status.addEventListener("change", apply);
  kind.addEventListener("change", apply);
  return h("div", { class: "row", role: "search" }, field("Status", status), field("Kind", kind));
}

export async function showProposals(params = new URLSearchParams()) {
  const chosen = { status: params.has("status") ? params.get("status") : "waiting", kind: params.get("kind") || "" };
  const request = { page_size: 100 };
  if (chosen.status) request.status = chosen.status;
  if (chosen.kind) request.kind = chosen.kind;
  const [{ proposals, total_count: total }, perKind] = await Promise.all([
    call("POST", "/api/v5/proposals/search", request),
    Promise.all(app.kinds.map(async (kind) => ({ kind, entries: (await op(kind.plural, "drafts", { page_size: 200 })).entries }))),
  ]);
  render(
    h("h1", {}, "Review queue"),
    h("p", { class: "muted" }, "AI agents only propose: nothing they bring is visible to anyone until a person " +
      "accepts it. Accepting an agent's proposal saves the artifact at once; a rejected one leaves nothing behind."),
    filters(chosen),
    h("p", { id: "queue-total", class: "muted" }, `${total} proposal${total === 1 ? "" : "s"}`),
    proposals.length ? proposals.map(proposalCard) : h("p", { id: "no-proposals" }, "No proposals here."),
    perKind.map(({ kind, entries }) => draftsTable(kind, entries)));
}
