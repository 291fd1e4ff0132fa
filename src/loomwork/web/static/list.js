// A kind's list page: text search, facet filters with their counts, pagination, and the row actions
// (edit, duplicate, delete), export, import and refresh. Everything comes from the search operation.
import { call, op } from "./api.js";
import { app, go, showError } from "./app.js";
import { fieldName } from "./diff.js";
import { confirmDialog, field, flagText, flash, h, humanize, iconImage, render, slotTitle, swatch, tableBox, valueText,
  valueView } from "./dom.js";

const PAGE_SIZES = [10, 25, 50, 100];
const FACET_SHOWN = 6;

// A facet option's label as a person reads it: a flag's "persona_active: true" is "Active".
function labelText(resource, label) {
  const flag = resource === "flag" && /^([a-z0-9_]+): (.*)$/s.exec(label);
  return flag ? flagText({ type: flag[1], value: flag[2] }) : label;
}

function searchBody(kind, params) {
  const body = { search: params.get("q") || null, page_size: Number(params.get("size")) || 25,
                 page_offset: Number(params.get("offset")) || 0 };
  for (const facet of kind.facets) {
    const ids = params.getAll(facet.ids_field);
    if (ids.length) body[facet.ids_field] = ids;
    if (params.get(facet.search_field)) body[facet.search_field] = params.get(facet.search_field);
  }
  return body;
}

function listHash(kind, params) {
  const query = params.toString();
  return `#/k/${kind.plural}${query ? `?${query}` : ""}`;
}

function withParams(params, change) {
  const next = new URLSearchParams(params);
  change(next);
  return next;
}

// A facet with no options and no search text of its own says nothing: it is left out, so the filters
// that do narrow the list are what the first screen shows.
function facetBox(kind, facet, section, params) {
  if (!section?.options?.length && !params.get(facet.search_field)) return null;
  const options = (section?.options || []).map((option) => {
    const box = h("input", { type: "checkbox", checked: option.selected, onchange: () => {
      go(listHash(kind, withParams(params, (next) => {
        const ids = next.getAll(facet.ids_field).filter((id) => id !== option.id);
        if (box.checked) ids.push(option.id);
        next.delete(facet.ids_field);
        ids.forEach((id) => next.append(facet.ids_field, id));
        next.delete("offset");
      })));
    } });
    const text = facet.resource === "icon" ? "SVG icon" : labelText(facet.resource, option.label);
    const picture = facet.resource === "icon" ? iconImage(option.label, "icon")
      : facet.resource === "color" ? swatch(option.label) : null;
    return h("label", { class: "inline" }, box, picture, h("span", { class: "clip" }, `${text} (${option.count})`));
  });
  const needle = h("input", { type: "search", value: params.get(facet.search_field) || "" });
  const narrow = h("form", { class: "row", onsubmit: (event) => {
    event.preventDefault();
    go(listHash(kind, withParams(params, (next) => next.set(facet.search_field, needle.value))));
  } }, field(`Find ${facet.name} options`, needle));
  // Only a long list needs its own search box.
  const searchable = (section?.total ?? options.length) > options.length || params.get(facet.search_field);
  // The first few options show; the rest wait behind one click, so one facet never fills the screen.
  const first = options.slice(0, FACET_SHOWN);
  const rest = options.slice(FACET_SHOWN);
  return h("fieldset", { class: "facet" }, h("legend", {}, humanize(facet.name)),
           options.length ? first : h("p", { class: "muted" }, "No options match."),
           rest.length ? h("details", { open: rest.some((label) => label.querySelector("input").checked) },
                           h("summary", {}, `${rest.length} more`), rest) : null,
           searchable ? narrow : null);
}

function rowActions(kind, row) {
  const id = row[kind.id_field];
  const name = row.name || id;
  if (!["editor", "admin"].includes(app.who.role)) {
    return h("a", { class: "button", href: `#/k/${kind.plural}/view/${id}`, "aria-label": `View ${name}` }, "View");
  }
  return h("div", { class: "row actions" },
    h("a", { class: "button", href: `#/k/${kind.plural}/edit/${id}`, "aria-label": `Edit ${name}` }, "Edit"),
    h("button", { type: "button", "aria-label": `Duplicate ${name}`, onclick: async () => {
      try {
        const result = await op(kind.plural, "duplicate", { [kind.id_field]: id });
        go(location.hash, result.message);
      } catch (err) { showError(err); }
    } }, "Duplicate"),
    h("button", { type: "button", class: "danger", "aria-label": `Delete ${name}`, onclick: async () => {
      if (!await confirmDialog(`Delete the ${kind.name} “${name}”? This cannot be undone.`, "Delete")) return;
      try {
        const [result] = (await op(kind.plural, "delete", { [kind.ids_field]: [id] })).results;
        if (!result.success) throw new Error(result.message);
        go(location.hash, `Deleted ${kind.name} “${name}”.`);
      } catch (err) { showError(err); }
    } }, "Delete"));
}

// The name cell shows the name, color, icon and description; the columns beside it are the next two slots
// a person reads as text (not references by id, nor secrets). The artifact's own page shows everything.
const IN_NAME_CELL = ["name", "color", "icon", "description"];

// The columns that identify each kind come from its declaration (`list_columns` of /web/kinds).
function listColumns(kind) {
  if (kind.list_columns) return kind.list_columns.map((key) => kind.slots.find((s) => s.key === key)).filter(Boolean);
  return kind.slots.filter((s) => !IN_NAME_CELL.includes(s.resource) && !s.sensitive &&
                                  !Object.keys(s.references || {}).length).slice(0, 2);
}

const columnTitle = (slot) => (slot.many ? fieldName(slot.section) : slotTitle(slot));

function cell(slot, row) {
  const values = [].concat(row[slot.many ? slot.section : slot.key] ?? []);
  if (values.some((v) => v && typeof v === "object")) return values.map((v) => [valueView(v), " "]);
  const text = values.map(valueText).join("; ");
  return text ? h("span", { class: "clip", title: text.length > 120 ? text : null }, text) : h("span", { class: "muted" }, "—");
}

function resultsTable(kind, rows) {
  if (!rows.length) return h("p", {}, `No ${kind.plural} match.`);
  const shown = listColumns(kind);
  // On a phone each row becomes a card (see app.css): data-label names the value a cell holds.
  return tableBox(`${kind.title}s found`, h("table", { class: "results" },
    h("caption", { class: "visually-hidden" }, `${kind.title}s found`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"),
      shown.map((s) => h("th", { scope: "col" }, columnTitle(s))),
      h("th", { scope: "col" }, "Version"), h("th", { scope: "col" }, "Actions"))),
    h("tbody", {}, rows.map((row) => h("tr", {},
      h("td", { class: "name" }, h("div", {}, swatch(row.color), iconImage(row.icon, ""),
        h("a", { href: `#/k/${kind.plural}/view/${row[kind.id_field]}` }, row.name || "(no name)")),
        row.description ? h("div", { class: "clip muted" }, row.description) : null),
      shown.map((s) => h("td", { "data-label": columnTitle(s) }, cell(s, row))),
      h("td", { "data-label": "Version" }, row.version), h("td", { class: "actions-cell" }, rowActions(kind, row)))))));
}

function pager(kind, params, body, total) {
  const from = total ? body.page_offset + 1 : 0;
  const to = Math.min(body.page_offset + body.page_size, total);
  const size = h("select", { onchange: () => go(listHash(kind, withParams(params, (next) => {
    next.set("size", size.value);
    next.delete("offset");
  }))) }, PAGE_SIZES.map((n) => h("option", { value: n, selected: n === body.page_size }, n)));
  const page = (offset) => () => go(listHash(kind, withParams(params, (next) => next.set("offset", offset))));
  return h("nav", { class: "row", "aria-label": "Pages" },
    h("span", { id: "range" }, `${from}–${to} of ${total}`),
    h("button", { type: "button", disabled: body.page_offset === 0,
                  onclick: page(Math.max(0, body.page_offset - body.page_size)) }, "Previous"),
    h("button", { type: "button", disabled: to >= total, onclick: page(body.page_offset + body.page_size) }, "Next"),
    field("Per page", size));
}

function toolbar(kind, body) {
  const editor = ["editor", "admin"].includes(app.who.role);
  const file = h("input", { type: "file", accept: ".csv,text/csv" });
  const importForm = h("form", { class: "row", onsubmit: async (event) => {
    event.preventDefault();
    if (!file.files.length) return flash("Choose a CSV file first.", "alert");
    const data = new FormData();
    data.append("file", file.files[0]);
    try {
      const result = await call("POST", `/api/v5/artifacts/${kind.plural}/import`, data, { form: true });
      const failed = (result.results || []).filter((r) => !r.success);
      go(location.hash, `Imported ${(result.results || []).length - failed.length} rows` +
         (failed.length ? `; ${failed.length} failed: ${failed.map((r) => r.message).join("; ")}` : "."));
    } catch (err) { showError(err); }
  } }, field("CSV file", file), h("button", { type: "submit" }, "Import"));
  return h("div", { class: "row" },
    editor ? h("a", { class: "button primary", href: `#/k/${kind.plural}/new` }, `New ${kind.name}`) : null,
    h("button", { type: "button", onclick: async () => {
      try {
        const upload = await op(kind.plural, "export", { ...body, page_size: undefined, page_offset: undefined });
        const link = h("a", { href: `/api/v5/uploads/${upload.upload_id}`, download: upload.file_name });
        document.body.append(link);
        link.click();
        link.remove();
        flash(`Exported ${upload.row_count} ${kind.plural} to ${upload.file_name}.`);
      } catch (err) { showError(err); }
    } }, "Export CSV"),
    h("a", { class: "button", href: `#/k/${kind.plural}/docs` }, "Docs"),
    app.who.role === "admin" ? h("button", { type: "button", onclick: async () => {
      try {
        const result = await op(kind.plural, "refresh", {});
        flash(`Rebuilt: ${result.refreshed_views.join(", ")}.`);
      } catch (err) { showError(err); }
    } }, "Refresh search") : null,
    // Import is seldom used: one button's worth of room until it is opened.
    editor ? h("details", { class: "import" }, h("summary", { class: "button" }, "Import CSV…"), importForm) : null);
}

// The active filters as chips, each removable, and "Clear filters": what narrows the list is always in view.
function activeFilters(kind, params, answer) {
  const chips = [];
  const without = (change) => listHash(kind, withParams(params, (next) => { change(next); next.delete("offset"); }));
  if (params.get("q")) chips.push([`Search: ${params.get("q")}`, without((next) => next.delete("q"))]);
  for (const facet of kind.facets) {
    const options = answer[facet.filter_field]?.options || [];
    for (const id of params.getAll(facet.ids_field)) {
      const option = options.find((o) => o.id === id);
      const text = facet.resource === "icon" ? "SVG icon" : labelText(facet.resource, option?.label ?? "one value");
      chips.push([`${humanize(facet.name)}: ${text}`, without((next) => {
        const rest = next.getAll(facet.ids_field).filter((other) => other !== id);
        next.delete(facet.ids_field);
        rest.forEach((other) => next.append(facet.ids_field, other));
      })]);
    }
    if (params.get(facet.search_field)) {
      chips.push([`${humanize(facet.name)} options matching “${params.get(facet.search_field)}”`,
                  without((next) => next.delete(facet.search_field))]);
    }
  }
  if (!chips.length) return null;
  const keep = new URLSearchParams();
  if (params.get("size")) keep.set("size", params.get("size"));
  return h("div", { class: "row active-filters", id: "active-filters" },
    h("span", { class: "muted" }, "Filtered by"),
    h("ul", { class: "chip-list" }, chips.map(([text, href]) => h("li", { class: "chip" }, text, " ",
      h("a", { href, class: "chip-remove", "aria-label": `Remove filter ${text}` }, "×")))),
    h("a", { href: listHash(kind, keep), id: "clear-filters" }, "Clear filters"));
}

export async function showList(kind, params) {
  const body = searchBody(kind, params);
  const answer = await op(kind.plural, "search", body);
  const text = h("input", { type: "search", name: "q", value: body.search || "" });
  const searchForm = h("form", { role: "search", class: "row", onsubmit: (event) => {
    event.preventDefault();
    go(listHash(kind, withParams(params, (next) => {
      next.set("q", text.value);
      next.delete("offset");
    })));
  } }, field(`Search ${kind.plural}`, text), h("button", { type: "submit" }, "Search"));
  // Facets for people only (not whole prompts or icons), unless the URL filters by one already.
  const filters = kind.facets.filter((f) => f.for_people !== false || params.getAll(f.ids_field).length ||
                                            params.get(f.search_field))
    .map((f) => facetBox(kind, f, answer[f.filter_field], params)).filter(Boolean);
  const chosen = kind.facets.reduce((n, f) => n + params.getAll(f.ids_field).length, 0);
  const aside = filters.length ? h("aside", { "aria-label": "Filters", id: "filters" }, filters) : null;
  // On a phone the filters wait behind one button at the top, instead of coming after every card.
  const toggle = aside ? h("button", { type: "button", class: "filters-toggle", "aria-expanded": "false",
    "aria-controls": "filters", onclick: () => {
      const open = aside.classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    } }, chosen ? `Filters (${chosen})` : "Filters") : null;
  render(
    h("h1", {}, `${kind.title}s`),
    h("p", { class: "muted" }, kind.description),
    toolbar(kind, body),
    searchForm,
    activeFilters(kind, params, answer),
    toggle,
    h("div", { class: filters.length ? "layout" : "layout single" },
      aside,
      h("section", { "aria-label": "Results" },
        h("p", { id: "total" }, `${answer.total_count} ${answer.total_count === 1 ? kind.name : kind.plural}`),
        resultsTable(kind, answer[kind.plural] || []),
        pager(kind, params, body, answer.total_count))));
}
