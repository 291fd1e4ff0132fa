// The app shell: who is signed in, the navigation, and a hash router to the generic pages.
import { ApiError, call, setCsrf } from "./api.js";
import { h, field, flash, render } from "./dom.js";
import { showList } from "./list.js";
import { showEditor, startDraft } from "./editor.js";
import { showProposals } from "./proposals.js";
import { showDocs } from "./docs.js";
import { showKeys } from "./keys.js";
import { showArtifact } from "./view.js";
import { showDeliveries, showWebhooks } from "./webhooks.js";
import { showHistory } from "./history.js";

export const app = { who: null, kinds: [] };

export const kindOf = (plural) => app.kinds.find((k) => k.plural === plural);

// `message` is shown on the page navigated to (a hash change clears the previous page's message).
export function go(hash, message) {
  app.nextFlash = message || "";
  if (location.hash === hash) {
    // Shown now, then forgotten: left in nextFlash it came back on the next page a person opened.
    flash(app.nextFlash);
    app.nextFlash = "";
    route();
  } else location.hash = hash;
}

function showSignIn(message) {
  const key = h("input", { type: "password", name: "api_key", autocomplete: "off", required: true, id: "api-key" });
  const error = h("div", { role: "alert" }, message ? h("div", { class: "alert" }, message) : "");
  const form = h("form", { class: "card", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const who = await call("POST", "/web/session", new URLSearchParams({ api_key: key.value }), { form: true });
      key.value = "";
      await signedIn(who);
      go(`#/k/${app.kinds[0].plural}`);
    } catch (err) {
      error.replaceChildren(h("div", { class: "alert" }, err.message));
    }
  } },
  h("h1", {}, "Sign in"),
  field("API key", key, "Your key (lw_…) stays on the server: the browser keeps only a session cookie."),
  error,
  h("p", {}, h("button", { class: "primary", type: "submit" }, "Sign in")));
  document.getElementById("nav").replaceChildren();
  render(form);
  key.focus();
}

async function signedIn(who) {
  app.who = who;
  setCsrf(who.csrf_token);
  app.kinds = await call("GET", "/web/kinds");
  const links = app.kinds.map((k) => h("a", { href: `#/k/${k.plural}` }, `${k.title}s`));
  const signOut = h("button", { type: "button", onclick: async () => {
    await call("DELETE", "/web/session");
    app.who = null;
    setCsrf("");
    flash("Signed out.");
    showSignIn();
  } }, "Sign out");
  // replaceChildren would print a null as the word "null": only elements go in.
  document.getElementById("nav").replaceChildren(...[
    ...links, h("a", { href: "#/proposals", id: "nav-queue" }, "Review queue", h("span", { id: "queue-count" })),
    // Every person signed in manages their own keys (agents cannot sign in).
    h("a", { href: "#/keys" }, "Keys and agents"),
    who.role === "admin" ? h("a", { href: "#/webhooks" }, "Webhooks") : null,
    h("span", { class: "who" }, `${who.name} (${who.role})`), signOut].filter(Boolean));
  refreshQueueCount();
}

// How many proposals wait for a decision, beside "Review queue" in the nav (read again on every page).
export async function refreshQueueCount() {
  const badge = document.getElementById("queue-count");
  if (!badge) return;
  try {
    const { total_count: waiting } = await call("POST", "/api/v5/proposals/search", { status: "waiting", page_size: 1 });
    badge.replaceChildren(waiting ? h("span", { class: "count", "aria-label": `, ${waiting} waiting` }, String(waiting)) : "");
  } catch { badge.replaceChildren(); }
}

// An unknown or deleted id: say so, instead of leaving the previous page on screen under the new URL.
function showNotFound(kind) {
  render(h("h1", {}, "Not found"),
    h("p", { id: "not-found" }, `Nothing here: this ${kind ? kind.name : "page"} does not exist, or was deleted.`),
    h("p", {}, h("a", { class: "button", href: kind ? `#/k/${kind.plural}` : "#/" }, kind ? `All ${kind.title}s` : "Home")));
}

export function showError(err) {
  if (err instanceof ApiError && err.status === 401) {
    showSignIn(err.message);
    return;
  }
  flash(err.message, "alert");
}

async function route() {
  if (!app.who) return;
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  const parts = path.split("/").filter(Boolean);
  try {
    if (parts[0] === "proposals") return await showProposals(params);
    if (parts[0] === "keys") return await showKeys();
    if (parts[0] === "webhooks") return await (parts[1] ? showDeliveries(parts[1]) : showWebhooks());
    const kind = parts[0] === "k" && kindOf(parts[1]);
    if (!kind) return go(`#/k/${app.kinds[0].plural}`);
    if (parts[2] === "docs") return await showDocs(kind);
    if (parts[2] === "new") return await startDraft(kind, null);
    if (parts[2] === "edit") return await startDraft(kind, parts[3]);
    if (parts[2] === "view") return await showArtifact(kind, parts[3]);
    if (parts[2] === "history") return await showHistory(kind, parts[3], params);
    if (parts[2] === "draft") return await showEditor(kind, parts[3], params.get("step"));
    return await showList(kind, params);
  } catch (err) {
    if (err instanceof ApiError && [404, 422].includes(err.status) && parts[0] === "k" && parts[3]) {
      showNotFound(kindOf(parts[1]));
    } else showError(err);
  } finally {
    refreshQueueCount();
    document.title = `Loomwork — ${document.querySelector("main h1")?.textContent || ""}`;
  }
}

window.addEventListener("hashchange", () => {
  flash(app.nextFlash || "");
  app.nextFlash = "";
  // A new page: move the focus to its content, so keyboard and screen-reader users start there.
  // preventScroll: focusing `main` would scroll the nav out of view; a new page starts at its top instead.
  route().then(() => {
    const main = document.getElementById("main");
    if (!main.contains(document.activeElement)) {
      main.focus({ preventScroll: true });
      window.scrollTo(0, 0);
    }
  });
});

async function start() {
  try {
    await signedIn(await call("GET", "/web/session"));
    route();
  } catch (err) {
    showSignIn(err instanceof ApiError && err.status === 401 ? "" : err.message);
  }
}

start();
