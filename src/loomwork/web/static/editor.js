// The step-by-step editor. It works only through drafts: every change is a draft patch carrying the
// version the page shows (so a change made elsewhere first is a clear conflict, never a silent
// overwrite), and Save commits the draft with create or update.
import { call, op, resourceOp } from "./api.js";
import { go, showError } from "./app.js";
import { field, flagBadge, flash, h, humanize, iconImage, render, slotTitle, swatch, valueText } from "./dom.js";
import { draftProposals, generateBox } from "./generate.js";

// Slots a person opened ("draftId:slot"): they stay open when the page re-renders after each change.
const openSlots = new Set();

const LONG_TEXT = new Set(["instruction", "example", "description", "scenario", "icon"]);

// Edit resumes your open draft of that artifact, if there is one, so edits never scatter over drafts.
async function openDraftOf(kind, artifactId) {
  if (!artifactId) return null;
  const { entries } = await op(kind.plural, "drafts", { page_size: 200 });
  return entries.find((d) => d[kind.id_field] === artifactId && d.status === "open")?.draft_id;
}

export async function startDraft(kind, artifactId) {
  let draftId = await openDraftOf(kind, artifactId);
  if (!draftId) {
    const body = artifactId ? { [kind.id_field]: artifactId } : {};
    draftId = (await op(kind.plural, "draft", body, "PATCH")).draft_id;
  }
  // replace: Back from the editor returns to the list, not to a page that would start another draft
  location.replace(`#/k/${kind.plural}/draft/${draftId}`);
}

async function load(kind, draftId, extra = {}) {
  return op(kind.plural, "get", { draft_id: draftId, ...extra });
}

function optionView(slot, option) {
  const label = option.label ?? valueText(option.value);
  if (slot.resource === "icon") return h("span", {}, iconImage(option.value, "icon preview"), " SVG icon");
  if (slot.resource === "color") return h("span", {}, swatch(option.value), " ", label);
  if (slot.resource === "flag") return h("span", {}, flagBadge(option.value));
  return h("span", {}, label.length > 200 ? `${label.slice(0, 200)}…` : label);
}

function selectedList(ctx, slot) {
  const section = ctx.view[slot.section];
  const chosen = section.options.filter((o) => o.selected);
  if (!chosen.length) return h("p", { class: "muted" }, "Nothing selected.");
  const ids = section.selected_ids;
  const pending = new Set(ctx.view.pending_ids);
  return h("ul", { class: "chips", "aria-label": `Selected ${slotTitle(slot).toLowerCase()}` }, chosen.map((o) => {
    const without = ids.filter((id) => id !== o.id);
    const remove = slot.many ? { [slot.id_field]: without } : { [slot.id_field]: null };
    const isPending = pending.has(o.id);
    const toggled = isPending ? [...pending].filter((id) => id !== o.id) : [...pending, o.id];
    return h("li", {}, optionView(slot, o),
      isPending ? h("span", { class: "badge pending" }, "pending") : null,
      ctx.canEdit ? h("button", { type: "button", onclick: () => patch(ctx, remove) }, "Remove") : null,
      ctx.canEdit ? h("button", { type: "button", onclick: () => patch(ctx, { pending_ids: toggled }) },
                      isPending ? "Make live" : "Mark pending") : null);
  }));
}

function choose(ctx, slot, id) {
  const ids = ctx.view[slot.section].selected_ids;
  return patch(ctx, slot.many ? { [slot.id_field]: [...ids, id] } : { [slot.id_field]: id });
}

function picker(ctx, slot) {
  const results = h("ul", { class: "chips", "aria-live": "polite", id: `options-${slot.key}` });
  const show = (section) => {
    const others = section.options.filter((o) => !o.selected).slice(0, 10);
    results.replaceChildren(...others.map((o) => h("li", {}, optionView(slot, o), h("button", {
      type: "button", "aria-label": `Choose ${o.label}`, onclick: () => choose(ctx, slot, o.id) }, "Choose"))));
    if (!others.length) results.replaceChildren(h("li", { class: "muted" }, "No other options."));
    if (section.total > section.options.length) {
      results.append(h("li", { class: "muted" }, `${section.total} in all; search to narrow.`));
    }
  };
  show(ctx.view[slot.section]);
  const needle = h("input", { type: "search", id: `search-${slot.key}` });
  const form = h("form", { class: "row", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const view = await load(ctx.kind, ctx.draftId, { [slot.search_field]: needle.value });
      show(view[slot.section]);
    } catch (err) { showError(err); }
  } }, field(`Find ${slotTitle(slot).toLowerCase()}`, needle), h("button", { type: "submit" }, "Find"));
  return ctx.canEdit ? h("div", {}, form, results) : null;
}

// A select of the resources a reference may point at, filled from that catalog's search.
function referenceSelect(catalog, id) {
  const select = h("select", { id, required: true }, h("option", { value: "" }, "Loading…"));
  resourceOp(catalog, "search", { page_size: 200 }).then((answer) => {
    const rows = answer[catalog] || [];
    select.replaceChildren(h("option", { value: "" }, rows.length ? "Choose…" : `No ${catalog} yet`),
                           ...rows.map((r) => h("option", { value: r.id }, r.label)));
  }, showError);
  return select;
}

function objectInputs(slot) {
  const schema = slot.value_schema;
  const required = new Set(schema.required || []);
  const inputs = {};
  const rows = Object.entries(schema.properties || {}).map(([name, prop]) => {
    const id = `new-${slot.key}-${name}`;
    let input;
    const catalog = slot.references?.[name];
    if (catalog) input = referenceSelect(catalog, id);
    else if (prop.type === "boolean") input = h("input", { type: "checkbox", id });
    else if (prop.type === "integer") input = h("input", { type: "number", step: 1, id });
    else if (prop.enum) input = h("select", { id }, prop.enum.map((v) => h("option", { value: v }, v)));
    else input = h("input", { type: prop.writeOnly ? "password" : "text", id, required: required.has(name),
                              autocomplete: "off" });
    inputs[name] = { input, prop };
    return field(`${humanize(slot.resource)} ${name.replace(/_id$/, "")}${required.has(name) ? "" : " (optional)"}`,
                 input, prop.description);
  });
  const read = () => Object.fromEntries(Object.entries(inputs).flatMap(([name, { input, prop }]) => {
    if (prop.type === "boolean") return [[name, input.checked]];
    if (input.value === "") return [];
    return [[name, prop.type === "integer" ? Number(input.value) : input.value]];
  }));
  return { rows, read };
}

function newValue(ctx, slot) {
  if (!ctx.canEdit || (!slot.value_field && slot.value_schema.type !== "object")) return null;
  const label = `New ${slot.resource.replace(/_/g, " ")}`;
  const submit = async (value) => {
    if (slot.value_schema.type !== "object") {
      return patch(ctx, slot.many ? { [slot.value_field]: [value] } : { [slot.key]: value });
    }
    // Structured values are created in their catalog first (deduped there), then chosen by id.
    try {
      const [made] = (await resourceOp(slot.resource_plural, "create", { [slot.resource_plural]: [value] })).results;
      if (!made.success) throw new Error(`${label}: ${made.message}`);
      return choose(ctx, slot, made.id);
    } catch (err) { showError(err); }
  };
  let controls;
  let read;
  if (slot.value_schema.type === "object") {
    ({ rows: controls, read } = objectInputs(slot));
  } else if (slot.resource === "color") {
    const picked = h("input", { type: "color", id: `new-${slot.key}`, value: "#2456c9" });
    controls = [field("Pick a color", picked)];
    read = () => picked.value;
  } else {
    const input = LONG_TEXT.has(slot.resource) ? h("textarea", { id: `new-${slot.key}` })
      : h("input", { type: "text", id: `new-${slot.key}` });
    controls = [field(slot.resource === "icon" ? "New icon (SVG markup)" : label, input)];
    if (slot.resource === "icon") {
      const file = h("input", { type: "file", accept: ".svg,image/svg+xml", onchange: async () => {
        if (file.files.length) input.value = await file.files[0].text();
      } });
      controls.push(field("…or load an SVG file", file));
    }
    read = () => input.value;
  }
  return h("form", { class: "card", onsubmit: (event) => {
    event.preventDefault();
    submit(read());
  } }, controls, h("button", { type: "submit", id: `add-${slot.key}` }, slot.many ? "Add" : "Use"));
}

// replaceChildren would write a null child as the text "null".
const present = (...nodes) => nodes.filter((node) => node !== null && node !== undefined);

// An empty optional slot is one "Add …" button, a filled one its values and one button: the full picker
// (search, options, new value) opens on demand, so a step stays short. A required empty slot starts open.
function slotBox(ctx, slot) {
  const box = h("fieldset", { id: `slot-${slot.key}` });
  const chosen = ctx.view[slot.section].selected_ids.length;
  const key = `${ctx.draftId}:${slot.key}`;
  const what = slot.resource.replace(/_/g, " ");
  const fill = (open) => {
    const legend = h("legend", {}, slotTitle(slot), slot.required ? " (required)" : "");
    if (!ctx.canEdit || open) {
      box.className = "";
      const mustStay = slot.required && !chosen;
      box.replaceChildren(...present(legend, slot.description ? h("p", { class: "muted" }, slot.description) : null,
        selectedList(ctx, slot), picker(ctx, slot), newValue(ctx, slot),
        ctx.canEdit && !mustStay ? h("button", { type: "button", id: `close-${slot.key}`, onclick: () => {
          openSlots.delete(key);
          fill(false);
          box.querySelector(".add-slot")?.focus();
        } }, "Done") : null));
      return;
    }
    box.className = "collapsed";
    const label = !chosen ? `Add ${what}` : slot.many ? `Add another ${what}` : `Change ${what}`;
    box.replaceChildren(...present(legend, chosen ? selectedList(ctx, slot) : null,
      h("button", { type: "button", class: "add-slot", id: `open-${slot.key}`, onclick: () => {
        openSlots.add(key);
        fill(true);
        (box.querySelector("form.card input, form.card textarea, form.card select") || box.querySelector("input"))?.focus();
      } }, label)));
  };
  fill(!ctx.canEdit || openSlots.has(key) || (slot.required && !chosen));
  return box;
}

function activeBox(ctx) {
  const states = [["", "Not set"], ["true", "Active"], ["false", "Inactive"]];
  const current = ctx.view.active === null || ctx.view.active === undefined ? "" : String(ctx.view.active);
  const select = h("select", { id: "active", disabled: !ctx.canEdit, onchange: () => {
    if (select.value) patch(ctx, { active: select.value === "true" });
  } }, states.map(([value, text]) => h("option", { value, selected: value === current, disabled: value === "" }, text)));
  return h("fieldset", {}, h("legend", {}, "State"), field("Active", select));
}

function parametersBox(ctx) {
  const spec = ctx.view.parameters;
  const slot = ctx.kind.slots.find((s) => s.key === ctx.kind.parameters_slot);
  if (!spec || !slot) return null;
  return h("fieldset", { id: "parameters" }, h("legend", {}, "Template parameters"),
    spec.parameters.length ? h("ul", { class: "chips" }, spec.parameters.map((p) => h("li", {}, `{{${p.name}}}`,
      p.mapped ? h("span", { class: "badge" }, "mapped") : h("span", { class: "badge pending" }, "missing"),
      !p.mapped && ctx.canEdit ? h("button", { type: "button", "aria-label": `Add ${p.name} as a parameter field`,
        onclick: () => patch(ctx, { [slot.value_field]: [p.name] }) }, "Add field") : null)))
      : h("p", { class: "muted" }, "The instructions name no {{variables}}."));
}

function argumentsBox(ctx) {
  if (!ctx.view.arguments_schema) return null;
  return h("fieldset", {}, h("legend", {}, "Function schema (live arguments)"),
    h("pre", {}, JSON.stringify({ parameters: ctx.view.arguments_schema, output: ctx.view.output_schema }, null, 2)));
}

async function save(ctx) {
  const item = { draft_id: ctx.draftId };
  if (ctx.artifactId) item[ctx.kind.id_field] = ctx.artifactId;
  try {
    const answer = await op(ctx.kind.plural, ctx.artifactId ? "update" : "create", { [ctx.kind.plural]: [item] });
    const [result] = answer.results;
    if (!result.success) throw new Error(result.message);
    go(`#/k/${ctx.kind.plural}`, `Saved the ${ctx.kind.name} (version ${result.version}).`);
  } catch (err) { showError(err); }
}

function conflict(ctx, err) {
  const reload = h("button", { type: "button", class: "primary", onclick: () => showEditor(ctx.kind, ctx.draftId, ctx.step) },
                   "Reload draft");
  const box = document.getElementById("editor-alert");
  box.replaceChildren(h("div", { class: "alert", id: "conflict" },
    h("strong", {}, "This draft was changed somewhere else. "),
    `It is now at version ${err.body.current_version}, but this page shows version ${ctx.version} ` +
    "(another tab, or an accepted proposal, changed it first). Your change was not applied. " +
    "Reload to see the latest draft, then make your change again. ", reload));
  setTimeout(() => reload.focus());  // once the page takes input again
}

async function patch(ctx, changes) {
  const main = document.getElementById("main");
  const focusId = document.activeElement?.id;  // inert drops the focus; the re-rendered page gets it back
  main.inert = true;  // one change at a time: the next one must carry the version this one makes
  main.setAttribute("aria-busy", "true");
  try {
    await op(ctx.kind.plural, "draft", { draft_id: ctx.draftId, expected_version: ctx.version, ...changes }, "PATCH");
    flash("");
    await showEditor(ctx.kind, ctx.draftId, ctx.step, focusId);
  } catch (err) {
    if (err.code === "version_conflict") conflict(ctx, err);
    else showError(err);
  } finally {
    main.inert = false;
    main.removeAttribute("aria-busy");
  }
}

function stepNav(ctx) {
  return h("nav", { "aria-label": "Steps" }, h("ol", { class: "steps" }, ctx.kind.steps.map((step, i) =>
    h("li", {}, h("a", { href: `#/k/${ctx.kind.plural}/draft/${ctx.draftId}?step=${step.key}`,
                         "aria-current": step.key === ctx.step ? "step" : null }, `${i + 1}. ${step.title}`)))));
}

export async function showEditor(kind, draftId, step, focusId) {
  const [view, state] = await Promise.all([load(kind, draftId), call("GET", `/web/drafts/${kind.plural}/${draftId}`)]);
  step = kind.steps.some((s) => s.key === step) ? step : kind.steps[0].key;
  const ctx = { kind, draftId, step, view, state, version: state.version, artifactId: state[kind.id_field],
                canEdit: view.can_edit && state.status === "open" };
  const focused = focusId || document.activeElement?.id;
  const index = kind.steps.findIndex((s) => s.key === step);
  const name = state.name ?? (view.names?.options.find((o) => o.selected)?.label);
  const refresh = (focusAfter) => showEditor(kind, draftId, step, focusAfter);
  const stepHref = (i) => `#/k/${kind.plural}/draft/${draftId}?step=${kind.steps[i].key}`;
  render(
    h("h1", {}, ctx.artifactId ? `Edit ${kind.name}: ${name || ""}` : `New ${kind.name}${name ? `: ${name}` : ""}`),
    h("p", { class: "muted", id: "draft-version" }, `Draft version ${state.version} · ${state.status}`),
    view.disabled_reason ? h("p", { class: "alert" }, view.disabled_reason) : null,
    state.status !== "open" ? h("p", { class: "alert" }, "This draft was saved already; open the artifact to edit again.") : null,
    h("div", { id: "editor-alert", role: "alert" }),
    draftProposals(ctx, refresh),
    h("div", { class: "stepbar" }, stepNav(ctx),
      h("button", { type: "button", class: "primary", id: "save", disabled: !ctx.canEdit, onclick: () => save(ctx) },
        ctx.artifactId ? `Save ${kind.name}` : `Create ${kind.name}`)),
    h("h2", {}, kind.steps[index].title),
    generateBox(ctx, refresh),
    step === "basic" ? activeBox(ctx) : null,
    kind.slots.filter((s) => s.step === step).map((s) => slotBox(ctx, s)),
    kind.slots.some((s) => s.step === step && s.key === kind.parameters_slot) ? parametersBox(ctx) : null,
    kind.slots.some((s) => s.step === step && s.key === kind.arguments_slot) ? argumentsBox(ctx) : null,
    h("div", { class: "row" },
      index > 0 ? h("a", { class: "button", href: stepHref(index - 1) }, "Previous step") : null,
      index < kind.steps.length - 1 ? h("a", { class: "button", href: stepHref(index + 1) }, "Next step") : null,
      ctx.artifactId ? h("a", { class: "button", href: `#/k/${kind.plural}/view/${ctx.artifactId}` },
                         `View saved ${kind.name}`) : null,
      ctx.artifactId ? h("a", { class: "button", href: `#/k/${kind.plural}/history/${ctx.artifactId}` }, "History") : null,
      h("a", { class: "button", href: `#/k/${kind.plural}` }, "Back to list")));
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
}
