// Generate with AI, in the editor: a step's fields drafted by the group's own model configuration. The
// answer arrives as a proposal from the "AI generator" agent, shown here with Accept and Reject, so a
// person still decides.
import { op } from "./api.js";
import { showError } from "./app.js";
import { field, flash, h, valueText } from "./dom.js";

export function generateBox(ctx, refresh) {
  if (!ctx.canEdit || !ctx.view[`${ctx.step}_show_ai_generate`]) return null;
  const hint = h("textarea", { id: "generate-hint", rows: 2, maxlength: 2000,
                               placeholder: "For example: a friendly maths tutor for teenagers" });
  const button = h("button", { type: "submit", id: "generate", class: "primary" }, "Generate");
  const status = h("span", { class: "muted", role: "status", id: "generate-status" });
  return h("form", { class: "card", id: "generate-box", onsubmit: async (event) => {
    event.preventDefault();
    button.disabled = true;
    status.textContent = "Asking the model… this can take a few seconds.";
    try {
      await op(ctx.kind.plural, "generate", { draft_id: ctx.draftId, step: ctx.step, hint: hint.value || null });
      flash("The generator's proposal waits below: accept or reject it.");
      await refresh("proposal-0-accept");
    } catch (err) {
      status.textContent = "";
      showError(err);
    } finally {
      button.disabled = false;
    }
  } }, h("h3", {}, "Generate with AI"),
     field("What should the model draft for this step? (optional)", hint), h("div", { class: "row" }, button, status));
}

function changeList(changes) {
  return h("ul", {}, Object.entries(changes).map(([name, value]) => h("li", {}, h("strong", {}, `${name}: `),
    Array.isArray(value) ? value.map(valueText).join("; ") : valueText(value))));
}

// The proposals waiting on this draft, each with what it would set, and Accept / Reject.
export function draftProposals(ctx, refresh) {
  if (!ctx.state.proposals.length) return null;
  const decide = async (proposal, accept) => {
    try {
      await op(ctx.kind.plural, "draft", { draft_id: ctx.draftId, idempotency_key: proposal.idempotency_key, accept },
               "PATCH");
      flash(accept ? "Accepted: the proposal is part of the draft now." : "Rejected the proposal.");
      await refresh();
    } catch (err) { showError(err); }
  };
  return h("section", { class: "card", id: "draft-proposals", "aria-labelledby": "draft-proposals-title" },
    h("h2", { id: "draft-proposals-title" }, "Waiting proposals"),
    h("ul", { class: "plain" }, ctx.state.proposals.map((p, i) => h("li", { class: "card" },
      h("p", {}, h("strong", {}, p.actor_name), p.via_agent ? " (AI agent) " : " ", "proposes:"),
      changeList(p.changes),
      ctx.canEdit ? h("div", { class: "row" },
        h("button", { type: "button", class: "primary", id: `proposal-${i}-accept`, onclick: () => decide(p, true) },
          "Accept"),
        h("button", { type: "button", id: `proposal-${i}-reject`, onclick: () => decide(p, false) }, "Reject"))
        : null))));
}
