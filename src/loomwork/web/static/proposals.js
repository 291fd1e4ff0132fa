// The proposals inbox: every waiting proposal on the caller's drafts (agents propose into them), with
// what it would change against the draft's current form, and Accept / Reject (the draft ack).
import { call, op, resourceOp } from "./api.js";
import { app, go, showError } from "./app.js";
import { h, humanize, render, slotTitle, tableBox, valueText } from "./dom.js";

// Which slot a patch field feeds, and whether it names resources by id.
function slotOf(kind, fieldName) {
  for (const slot of kind.slots) {
    if (fieldName === slot.id_field) return { slot, ids: true };
    if (fieldName === slot.value_field || fieldName === slot.key) return { slot, ids: false };
  }
  return null;
}

async function labels(slot, ids) {
  const found = await Promise.all([].concat(ids ?? []).map((id) =>
    resourceOp(slot.resource_plural, "get", { id }).then((r) => r.label, () => `unknown ${id}`)));
  return found.join("; ") || "— (cleared)";
}

async function changeRows(kind, state, changes) {
  return Promise.all(Object.entries(changes).map(async ([name, proposed]) => {
    const target = slotOf(kind, name);
    if (!target) return h("tr", {}, h("th", { scope: "row" }, humanize(name)), h("td", {}, "—"),
                          h("td", {}, valueText(proposed)));
    const { slot, ids } = target;
    const current = state[slot.many ? slot.section : slot.key];
    const shownNow = [].concat(current ?? []).map(valueText).join("; ") || "—";
    let shownNext = ids ? await labels(slot, proposed) : [].concat(proposed ?? []).map(valueText).join("; ");
    if (!ids && slot.many) shownNext = `${shownNow === "—" ? "" : `${shownNow}; `}${shownNext} (added)`;
    if (slot.sensitive) shownNext = "(a new key; its secret is not shown)";
    return h("tr", {}, h("th", { scope: "row" }, slotTitle(slot)), h("td", {}, shownNow), h("td", {}, shownNext));
  }));
}

async function decide(kind, draftId, key, accept) {
  try {
    const answer = await op(kind.plural, "draft", { draft_id: draftId, idempotency_key: key, accept }, "PATCH");
    go("#/proposals", answer.message);
  } catch (err) {
    if (err.code === "version_conflict") {
      err.message = `${err.message} The proposal was made against an older version of the draft: reject it, or ` +
        "ask for a new one.";
    }
    showError(err);
  }
}

async function proposalCard(kind, draft, state, proposal) {
  const what = `${kind.name} “${draft.name || "(no name)"}”`;
  return h("article", { class: "card proposal" },
    h("h3", {}, `${humanize(kind.name)}: ${draft.name || "(no name)"}`),
    h("p", { class: "muted" }, `Proposed by ${proposal.actor_name} `,
      proposal.via_agent ? h("span", { class: "badge agent" }, "AI agent") : null,
      ` on ${new Date(proposal.created_at).toLocaleString()} · draft version ${state.version}`,
      state[kind.id_field] ? " · edits a saved artifact" : " · a new artifact"),
    tableBox(`Changes proposed for ${what}`, h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Now"),
                      h("th", { scope: "col" }, "Proposed"))),
      h("tbody", {}, await changeRows(kind, state, proposal.changes)))),
    h("div", { class: "row" },
      h("button", { type: "button", class: "primary", "aria-label": `Accept proposal for ${what}`,
                    onclick: () => decide(kind, draft.draft_id, proposal.idempotency_key, true) }, "Accept"),
      h("button", { type: "button", class: "danger", "aria-label": `Reject proposal for ${what}`,
                    onclick: () => decide(kind, draft.draft_id, proposal.idempotency_key, false) }, "Reject"),
      h("a", { class: "button", href: `#/k/${kind.plural}/draft/${draft.draft_id}` }, "Open draft"),
      state[kind.id_field] ? h("a", { class: "button", href: `#/k/${kind.plural}/view/${state[kind.id_field]}` },
                               `View ${kind.name}`) : null));
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

export async function showProposals() {
  const perKind = await Promise.all(app.kinds.map(async (kind) => {
    const { entries } = await op(kind.plural, "drafts", { page_size: 200 });
    const waiting = entries.filter((d) => d.waiting_proposals > 0 && d.status === "open");
    const cards = await Promise.all(waiting.map(async (draft) => {
      const state = await call("GET", `/web/drafts/${kind.plural}/${draft.draft_id}`);
      return Promise.all(state.proposals.map((p) => proposalCard(kind, draft, state, p)));
    }));
    return { kind, entries, cards: cards.flat() };
  }));
  const cards = perKind.flatMap((k) => k.cards);
  render(
    h("h1", {}, "Proposals"),
    h("p", { class: "muted" }, "AI agents only propose: nothing changes until you accept. An accepted proposal " +
      "changes the draft; save the draft in the editor to make it live."),
    cards.length ? cards : h("p", { id: "no-proposals" }, "No proposals are waiting."),
    perKind.map(({ kind, entries }) => draftsTable(kind, entries)));
}
