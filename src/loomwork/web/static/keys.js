// Keys and agents: the keys you may manage (yours, your agents'; an admin's: the group's), a new key with
// its secret shown once, revocation after a confirmation, and (admins) a new agent profile with its sponsor.
import { call } from "./api.js";
import { app, go, showError } from "./app.js";
import { confirmDialog, field, flash, h, render } from "./dom.js";

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const isAdmin = () => app.who.role === "admin";

async function allProfiles() {
  const profiles = [];
  for (let offset = 0; ; offset += 200) {
    const page = await call("POST", "/api/v5/profiles/search", { page_size: 200, page_offset: offset });
    profiles.push(...page.profiles);
    if (profiles.length >= page.total_count || !page.profiles.length) return profiles;
  }
}

function keysTable(keys) {
  if (!keys.length) return h("p", { id: "no-keys" }, "No keys to show.");
  return h("div", { class: "table-wrap" }, h("table", { id: "keys" },
    h("thead", {}, h("tr", {}, ["Name", "Profile", "Starts with", "Created", "Expires", "Last used", "Status", ""]
      .map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, keys.map((key) => h("tr", { dataset: { keyId: key.key_id } },
      h("td", {}, key.name || "(unnamed)"),
      h("td", {}, key.profile_name, " ", key.profile_type === "agent" ? h("span", { class: "badge agent" }, "AI agent") : null),
      h("td", {}, h("code", {}, `${key.prefix}…`)),
      h("td", {}, when(key.created_at)),
      h("td", {}, when(key.expires_at)),
      h("td", {}, when(key.last_used_at)),
      h("td", {}, key.revoked_at ? `Revoked ${when(key.revoked_at)}`
        : key.expires_at && new Date(key.expires_at) <= new Date() ? "Expired" : "Active"),
      h("td", {}, key.revoked_at ? "" : h("button", {
        type: "button", class: "danger", "aria-label": `Revoke key ${key.name} of ${key.profile_name}`,
        onclick: () => revoke(key),
      }, "Revoke")))))));
}

async function revoke(key) {
  const sure = await confirmDialog(`Revoke the key “${key.name}” of ${key.profile_name} (${key.prefix}…)? ` +
    "Whatever uses it stops working at once, and the pages signed in with it are signed out.", "Revoke");
  if (!sure) return;
  try {
    const { results: [result] } = await call("POST", "/api/v5/keys/revoke", { key_ids: [key.key_id] });
    if (!result.success) throw new Error(result.message);
    go("#/keys", `Revoked the key “${key.name}”.`);
  } catch (err) {
    showError(err);
  }
}

function newKeyForm(profiles) {
  const profile = h("select", { name: "profile_id", required: true },
    profiles.map((p) => h("option", { value: p.profile_id, selected: p.profile_id === app.who.profile_id },
      p.type === "agent" ? `${p.name} (AI agent of ${p.sponsor_name || "?"})` : p.name)));
  const name = h("input", { name: "name", required: true, maxlength: 200, placeholder: "laptop, CI, claude-desktop…" });
  const expires = h("input", { type: "date", name: "expires_at" });
  return h("form", { class: "card", id: "new-key", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const body = { profile_id: profile.value, name: name.value };
      if (expires.value) body.expires_at = new Date(`${expires.value}T00:00:00`).toISOString();
      const made = await call("POST", "/api/v5/keys/create", body);
      flash(`Created the key “${made.name}” for ${made.profile_name}.`);
      await showKeys(made);
    } catch (err) {
      showError(err);
    }
  } },
  h("h2", {}, "New key"),
  field("For", profile, "Yourself, or an AI agent you sponsor."),
  field("Name", name, "What the key is for, so you recognise it in this list."),
  field("Expires on (optional)", expires, "The key stops working at the start of that day."),
  h("p", {}, h("button", { class: "primary", type: "submit" }, "Create key")));
}

function newAgentForm(people) {
  const name = h("input", { name: "agent_name", required: true, maxlength: 200 });
  const role = h("select", { name: "role" }, h("option", { value: "editor" }, "editor (may propose)"),
    h("option", { value: "viewer" }, "viewer (reads only)"));
  const sponsor = h("select", { name: "sponsor_profile_id", required: true },
    people.map((p) => h("option", { value: p.profile_id, selected: p.profile_id === app.who.profile_id }, p.name)));
  return h("form", { class: "card", id: "new-agent", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const agent = await call("POST", "/api/v5/profiles/create",
        { name: name.value, type: "agent", role: role.value, sponsor_profile_id: sponsor.value });
      go("#/keys", `Added the AI agent “${agent.name}”; now make it a key.`);
    } catch (err) {
      showError(err);
    }
  } },
  h("h2", {}, "New AI agent"),
  h("p", { class: "muted" }, "An agent's every request is an agent's: it reads and proposes; people decide."),
  field("Agent name", name),
  field("Role", role),
  field("Sponsor", sponsor, "The person who answers for the agent; they may manage its keys."),
  h("p", {}, h("button", { class: "primary", type: "submit" }, "Add agent")));
}

function secretCard(made) {
  const secret = h("input", { readonly: true, value: made.key, id: "new-secret", size: 60 });
  return h("section", { class: "card", role: "alert" },
    h("h2", {}, `The key “${made.name}” for ${made.profile_name}`),
    field("Secret (shown this once)", secret,
      "Copy it now: Loomwork keeps only a hash of it and cannot show it again. For an agent, set it as " +
      "LOOMWORK_API_KEY."));
}

export async function showKeys(made = null) {
  const includeRevoked = new URLSearchParams(location.hash.split("?")[1] || "").get("revoked") === "1";
  const [{ keys }, profiles] = await Promise.all([
    call("POST", "/api/v5/keys/search", { include_revoked: includeRevoked }), allProfiles()]);
  const mine = profiles.filter((p) => isAdmin() || p.profile_id === app.who.profile_id ||
    (p.type === "agent" && p.sponsor_profile_id === app.who.profile_id));
  const toggle = h("input", { type: "checkbox", checked: includeRevoked, id: "show-revoked",
    onchange: (event) => go(event.target.checked ? "#/keys?revoked=1" : "#/keys") });
  render(
    h("h1", {}, "Keys and agents"),
    made ? secretCard(made) : null,
    h("p", { class: "muted" }, isAdmin() ? "As an admin you manage every key of the group."
      : "Your keys, and those of the AI agents you sponsor."),
    h("label", { class: "inline", for: "show-revoked" }, toggle, "Show revoked keys"),
    keysTable(keys),
    newKeyForm(mine),
    isAdmin() ? newAgentForm(profiles.filter((p) => p.type === "person")) : null);
  if (made) document.getElementById("new-secret").select();
}
