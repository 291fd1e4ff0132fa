// Webhooks, for admins: create one (its signing secret is shown once), the list with each one's state,
// and per webhook its deliveries with every attempt's status code, Send test and Redeliver.
import { call } from "./api.js";
import { go, showError } from "./app.js";
import { confirmDialog, field, h, relativeTime, render } from "./dom.js";

const EVENTS = ["artifact.revision_created", "artifact.deleted", "label.moved", "proposal.created", "proposal.decided"];
const when = (value) => (value ? relativeTime(value) : "—");

// A receiver's failure as one line a person reads: no exception class, no errno, no traceback.
export function readableError(error) {
  if (!error) return "";
  const line = String(error).split("\n").find((l) => l.trim()) || "";
  const text = line.replace(/^([\w.]+(Error|Exception|Timeout)\b:?\s*)+/, "").replace(/\[Errno -?\d+\]\s*/g, "")
    .replace(/^\(?['"]?|['"]?\)?$/g, "").trim() || line.trim();
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

// A delivery's state in words: delivered, retrying at a time (after how many failed attempts), or failed.
function deliveryState(d) {
  if (d.status === "delivered") return h("span", { class: "badge ok" }, "Delivered");
  if (d.status === "failed") return h("span", { class: "badge failed" }, `Failed after ${d.attempt_count} attempts`);
  if (!d.attempt_count) return h("span", { class: "badge" }, "Queued");
  return [h("span", { class: "badge pending" }, "Retrying"), " ",
    h("span", {}, `attempt ${d.attempt_count} failed; next `, d.next_attempt_at ? relativeTime(d.next_attempt_at) : "soon")];
}

function createForm(onCreated) {
  const url = h("input", { type: "url", name: "url", required: true, placeholder: "https://example.com/hooks/loomwork",
                           size: 50 });
  const description = h("input", { type: "text", name: "description", maxlength: 500 });
  const boxes = EVENTS.map((name) => h("input", { type: "checkbox", name: "events", value: name, checked: true }));
  const error = h("div", { role: "alert" });
  return h("form", { class: "card", onsubmit: async (event) => {
    event.preventDefault();
    const events = boxes.filter((box) => box.checked).map((box) => box.value);
    try {
      const created = await call("POST", "/api/v5/webhooks/create",
                                 { url: url.value.trim(), events, description: description.value });
      onCreated(created);
    } catch (err) {
      error.replaceChildren(h("div", { class: "alert" }, err.message));
    }
  } },
  h("h2", {}, "New webhook"),
  field("URL", url, "Where to POST each event (http or https)."),
  h("fieldset", {}, h("legend", {}, "Events"),
    boxes.map((box) => h("label", { class: "inline" }, box, box.value))),
  field("Description", description),
  error,
  h("p", {}, h("button", { class: "primary", type: "submit" }, "Create webhook")));
}

function secretCard(created) {
  return h("div", { class: "card", id: "webhook-secret" },
    h("h2", {}, "Signing secret"),
    h("p", {}, "Copy it now: it is shown this once. Receivers verify ", h("code", {}, "webhook-signature"),
      " with it (Standard Webhooks)."),
    h("pre", { "data-secret": "" }, created.secret));
}

export async function showWebhooks(createdNow) {
  const { webhooks } = await call("POST", "/api/v5/webhooks/search", { limit: 200 });
  const rows = webhooks.map((hook) => h("tr", {},
    h("td", {}, h("a", { href: `#/webhooks/${hook.webhook_id}` }, hook.url)),
    h("td", {}, hook.events.join(", ")),
    h("td", {}, hook.failing_since ? h("div", { class: "badge failed" }, "Failing since ", relativeTime(hook.failing_since)) : null,
      hook.enabled ? "enabled" : h("span", { class: "badge pending", title: hook.disabled_reason || "" },
                                             "disabled"), hook.enabled ? null : h("div", { class: "muted" },
                                             hook.disabled_reason)),
    h("td", {}, hook.description),
    h("td", {}, h("button", { type: "button", class: "danger", onclick: async () => {
      if (!(await confirmDialog(`Delete the webhook to ${hook.url} and its delivery log?`, "Delete"))) return;
      try {
        await call("POST", "/api/v5/webhooks/delete", { webhook_id: hook.webhook_id });
        go("#/webhooks", "Webhook deleted.");
      } catch (err) { showError(err); }
    } }, "Delete"))));
  render(
    h("h1", {}, "Webhooks"),
    createdNow ? secretCard(createdNow) : null,
    h("div", { class: "table-wrap" }, h("table", { id: "webhooks" },
      h("thead", {}, h("tr", {}, ["URL", "Events", "State", "Description", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 5 }, "No webhooks yet."))))),
    createForm((created) => showWebhooks(created).catch(showError)));
}

export async function showDeliveries(webhookId) {
  const answer = await call("POST", "/api/v5/webhooks/deliveries", { webhook_id: webhookId, limit: 100 });
  const hook = answer.webhook;
  const rows = answer.deliveries.map((d) => h("tr", { dataset: { status: d.status } },
    h("td", {}, d.event, h("div", { class: "muted" }, d.message_id)),
    h("td", {}, deliveryState(d), d.status !== "delivered" && d.last_error
      ? h("div", { class: "muted error-line", title: d.last_error }, readableError(d.last_error)) : null),
    h("td", {}, d.last_status_code ?? "—"),
    // The attempts fold: most deliveries need one look at their state, not the whole log.
    h("td", {}, d.attempts.length ? h("details", {}, h("summary", {}, `${d.attempts.length} attempt${d.attempts.length === 1 ? "" : "s"}`),
      h("ol", {}, d.attempts.map((a) => h("li", {}, when(a.at), `: ${a.status_code ?? "no answer"}`,
        a.error ? h("span", { class: "muted", title: a.error }, ` — ${readableError(a.error)}`) : null))))
      : h("span", { class: "muted" }, "none yet")),
    h("td", {}, h("button", { type: "button", onclick: async () => {
      try {
        await call("POST", "/api/v5/webhooks/redeliver", { delivery_id: d.delivery_id });
        go(`#/webhooks/${webhookId}`, "Queued to be sent again.");
      } catch (err) { showError(err); }
    } }, "Redeliver"))));
  render(
    h("p", {}, h("a", { href: "#/webhooks" }, "← Webhooks")),
    h("h1", {}, `Deliveries to ${hook.url}`),
    hook.enabled ? null : h("div", { class: "alert" }, hook.disabled_reason || "This webhook is disabled."),
    h("div", { class: "row" },
      h("button", { type: "button", class: "primary", onclick: async () => {
        try {
          await call("POST", "/api/v5/webhooks/test", { webhook_id: webhookId });
          go(`#/webhooks/${webhookId}`, "A test message is on its way.");
        } catch (err) { showError(err); }
      } }, "Send test"),
      h("button", { type: "button", onclick: () => showDeliveries(webhookId).catch(showError) }, "Refresh")),
    h("div", { class: "table-wrap" }, h("table", { id: "deliveries" },
      h("thead", {}, h("tr", {}, ["Event", "Status", "Last code", "Attempts", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 5 }, "Nothing delivered yet."))))));
}
