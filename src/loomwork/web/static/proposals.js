// The review queue, for busy people: one compact card per proposal with its diff first (changed words
// highlighted), Accept and Reject one click each, a reason only when asked for, and several selected
// proposals decided together (`proposals/decide` with `decisions`, API.md section 14). A decided proposal
// shows the change it made (the values it was decided against stay frozen). Your own drafts are below.
import { call, op } from "./api.js";
import { app, go, refreshQueueCount, showError } from "./app.js";
import { diffView } from "./diff.js";
import { field, h, humanize, relativeTime, render, tableBox } from "./dom.js";

const STATUSES = [["waiting", "Waiting"], ["accepted", "Accepted"], ["rejected", "Rejected"],
                  ["stale", "Stale (draft saved meanwhile)"], ["withdrawn", "Withdrawn"], ["", "All"]];
const canDecide = () => ["editor", "admin"].includes(app.who.role);
const pluralOf = (kindName) => app.kinds.find((k) => k.name === kindName)?.plural;
const nameOf = (view) => view.artifact_name || "(no name)";
const whatOf = (view) => `proposal for ${view.kind} “${nameOf(view)}”`;

function conflictText(err, view) {
  if (err.code === "version_conflict") {
    return `${err.message} Nothing was accepted: the ${view.kind} changed since the proposal was made.`;
  }
  return err.message;
}

// One decision, answered inside the card that asked for it (no jump to the top of the page).
async function decide(view, decision, reason, card) {
  const body = { proposal_id: view.proposal_id, decision };
  if (reason) body.reason = reason;
  try {
    const answer = await call("POST", "/api/v5/proposals/decide", body);
    card.replaceWith(h("div", { class: "notice decided-note", role: "status" }, answer.message, " ",
      view.artifact_id ? h("a", { href: `#/k/${pluralOf(view.kind)}/view/${view.artifact_id}` }, `View ${view.kind}`)
        : null));
    refreshQueueCount();
    if (!document.querySelector("article.proposal[data-status='waiting']")) {
      document.getElementById("bulk-bar")?.remove();
      document.getElementById("queue-list")?.append(h("p", { id: "no-proposals" }, "No proposals wait for a decision."));
    }
  } catch (err) {
    card.querySelector(".card-error").replaceChildren(h("div", { class: "alert", role: "alert" }, conflictText(err, view)));
  }
}

function decisionControls(view, card) {
  const what = whatOf(view);
  const reason = h("textarea", { rows: 2, maxlength: 2000, "aria-label": `Reason for ${what}` });
  const reasonBox = h("details", { class: "reason" }, h("summary", {}, "Add a reason"),
    field("Reason (optional, shown to the proposer)", reason));
  return h("div", { class: "row decide" },
    h("button", { type: "button", class: "primary", "aria-label": `Accept ${what}`,
                  onclick: () => decide(view, "accept", reason.value.trim(), card()) }, "Accept"),
    h("button", { type: "button", class: "danger", "aria-label": `Reject ${what}`,
                  onclick: () => decide(view, "reject", reason.value.trim(), card()) }, "Reject"),
    reasonBox);
}

function decidedLine(view) {
  if (!view.decided_by && view.status === "waiting") return null;
  const who = view.decided_by?.name;
  return h("p", { class: "decision" }, `${humanize(view.status)}${who ? ` by ${who}` : ""}`,
    view.decided_at ? [" ", relativeTime(view.decided_at)] : "",
    view.reason ? ` · Reason: ${view.reason}` : "",
    view.status === "accepted" ? h("span", { class: "muted" }, " · the change it made:") : null);
}

function proposalCard(view) {
  let card;
  const select = view.status === "waiting" && canDecide()
    ? h("input", { type: "checkbox", class: "pick", value: view.proposal_id, "aria-label": `Select ${whatOf(view)}` })
    : null;
  const plural = pluralOf(view.kind);
  card = h("article", { class: "card proposal", dataset: { status: view.status, proposalId: view.proposal_id } },
    h("div", { class: "proposal-head" }, select,
      h("h3", {}, `${humanize(view.kind)}: `,
        view.artifact_id ? h("a", { href: `#/k/${plural}/view/${view.artifact_id}` }, nameOf(view)) : nameOf(view),
        view.base_version ? "" : h("span", { class: "muted" }, " (new)")),
      view.status !== "waiting" ? h("span", { class: `badge status-${view.status}` }, humanize(view.status)) : null),
    h("p", { class: "muted meta" }, `${view.proposer.name} `,
      view.via_agent ? h("span", { class: "badge agent" }, "AI agent") : null, " ", relativeTime(view.created_at),
      view.base_version ? ` · edits version ${view.base_version}` : ""),
    decidedLine(view),
    diffView(view.changes, `Changes proposed for ${view.kind} ${nameOf(view)}`),
    h("div", { class: "card-error" }),
    view.status === "waiting" && canDecide() ? decisionControls(view, () => card) : null);
  return card;
}

// Several proposals decided in one request; each is decided on its own, so one failing leaves the others done.
async function decideSelected(decision, views) {
  const picked = [...document.querySelectorAll("input.pick:checked")].map((box) => box.value);
  if (!picked.length) return;
  try {
    const { results } = await call("POST", "/api/v5/proposals/decide",
      { decisions: picked.map((proposal_id) => ({ proposal_id, decision })) });
    const done = results.filter((r) => r.success).length;
    const failed = results.filter((r) => !r.success).map((r) => {
      const view = views.find((v) => v.proposal_id === picked[r.index]);
      return `${view ? nameOf(view) : picked[r.index]}: ${r.message}`;
    });
    const verb = decision === "accept" ? "Accepted" : "Rejected";
    app.queueNotice = `${verb} ${done} proposal${done === 1 ? "" : "s"}.${failed.length ? ` Not decided: ${failed.join("; ")}` : ""}`;
    go(location.hash || "#/proposals");
  } catch (err) { showError(err); }
}

function bulkBar(views) {
  const count = h("span", { id: "bulk-count", "aria-live": "polite" }, "None selected");
  const accept = h("button", { type: "button", class: "primary", disabled: true, onclick: () => decideSelected("accept", views) },
    "Accept selected");
  const reject = h("button", { type: "button", class: "danger", disabled: true, onclick: () => decideSelected("reject", views) },
    "Reject selected");
  const all = h("input", { type: "checkbox", id: "pick-all" });
  const update = () => {
    const boxes = [...document.querySelectorAll("input.pick")];
    const n = boxes.filter((b) => b.checked).length;
    count.textContent = n ? `${n} selected` : "None selected";
    accept.disabled = reject.disabled = n === 0;
    all.checked = n > 0 && n === boxes.length;
  };
  all.addEventListener("change", () => {
    document.querySelectorAll("input.pick").forEach((b) => { b.checked = all.checked; });
    update();
  });
  bulkBar.update = update;
  return h("div", { class: "row bulk", id: "bulk-bar" },
    h("label", { class: "inline" }, all, "Select all"), count, accept, reject);
}

function draftsTable(kind, drafts) {
  if (!drafts.length) return null;
  return h("section", {}, h("h2", {}, `Your ${kind.name} drafts`), tableBox(`Your ${kind.name} drafts`, h("table", {},
    h("thead", {}, h("tr", {}, ["Name", "Status", "Version", "Waiting", "Updated", ""].map((t) =>
      h("th", { scope: "col" }, t)))),
    h("tbody", {}, drafts.map((d) => h("tr", {}, h("td", {}, d[kind.id_field]
      ? h("a", { href: `#/k/${kind.plural}/view/${d[kind.id_field]}` }, d.name || "(no name)") : d.name || "(no name)"),
      h("td", {}, d.status),
      h("td", {}, d.version), h("td", {}, d.waiting_proposals), h("td", {}, relativeTime(d.updated_at)),
      h("td", {}, d.status === "open" ? h("a", { href: `#/k/${kind.plural}/draft/${d.draft_id}` }, "Open") : "")))))));
}

function filters(chosen, proposers) {
  const status = h("select", { id: "queue-status" },
    STATUSES.map(([value, label]) => h("option", { value, selected: value === chosen.status }, label)));
  const kind = h("select", { id: "queue-kind" }, h("option", { value: "" }, "Every kind"),
    app.kinds.map((k) => h("option", { value: k.name, selected: k.name === chosen.kind }, humanize(k.name))));
  const agent = h("select", { id: "queue-agent" }, h("option", { value: "" }, "Anyone"),
    proposers.map((p) => h("option", { value: p.profile_id, selected: p.profile_id === chosen.proposer }, p.name)));
  const apply = () => {
    const query = new URLSearchParams({ status: status.value });
    if (kind.value) query.set("kind", kind.value);
    if (agent.value) query.set("proposer", agent.value);
    if (chosen.artifact) query.set("artifact", chosen.artifact);
    go(`#/proposals?${query}`);
  };
  [status, kind, agent].forEach((select) => select.addEventListener("change", apply));
  const artifactChip = chosen.artifact
    ? h("p", { class: "row" }, h("span", { class: "chip" }, `Artifact: ${chosen.artifactName || "one artifact"}`),
        h("a", { href: `#/proposals?${new URLSearchParams({ status: chosen.status })}` }, "Every artifact"))
    : null;
  return [h("div", { class: "row", role: "search" }, field("Status", status), field("Kind", kind),
                field("Proposed by", agent)), artifactChip];
}

export async function showProposals(params = new URLSearchParams()) {
  const chosen = { status: params.has("status") ? params.get("status") : "waiting", kind: params.get("kind") || "",
                   proposer: params.get("proposer") || "", artifact: params.get("artifact") || "" };
  const request = { page_size: 100 };
  if (chosen.status) request.status = chosen.status;
  if (chosen.kind) request.kind = chosen.kind;
  if (chosen.proposer) request.proposer_profile_id = chosen.proposer;
  if (chosen.artifact) request.artifact_id = chosen.artifact;
  const [{ proposals, total_count: total }, perKind] = await Promise.all([
    call("POST", "/api/v5/proposals/search", request),
    Promise.all(app.kinds.map(async (kind) => ({ kind, entries: (await op(kind.plural, "drafts", { page_size: 200 })).entries }))),
  ]);
  const proposers = [...new Map(proposals.map((p) => [p.proposer.profile_id, p.proposer])).values()];
  chosen.artifactName = proposals.find((p) => p.artifact_id === chosen.artifact)?.artifact_name;
  const notice = app.queueNotice;
  app.queueNotice = "";
  const waiting = proposals.filter((p) => p.status === "waiting");
  render(
    h("h1", {}, "Review queue"),
    h("p", { class: "muted" }, "AI agents only propose: nothing they bring is visible until a person accepts it. " +
      "Accepting an agent's proposal saves the artifact at once."),
    filters(chosen, proposers),
    notice ? h("div", { class: "notice", role: "status", id: "queue-notice" }, notice) : null,
    h("div", { class: "row queue-top" }, h("p", { id: "queue-total", class: "muted" }, `${total} proposal${total === 1 ? "" : "s"}`),
      waiting.length > 1 && canDecide() ? bulkBar(proposals) : null),
    h("div", { id: "queue-list", onchange: (event) => {
      if (event.target.classList?.contains("pick")) bulkBar.update?.();
    } },
      proposals.length ? proposals.map(proposalCard) : h("p", { id: "no-proposals" }, "No proposals here.")),
    perKind.map(({ kind, entries }) => draftsTable(kind, entries)));
}
