// A kind's list page: text search, facet filters with their counts, pagination, and the row actions
// (edit, duplicate, delete), export, import and refresh. Everything comes from the search operation.
import { call, op } from "./api.js";
import { app, go, showError } from "./app.js";
import { confirmDialog, field, flash, h, humanize, iconImage, render, swatch, valueText } from "./dom.js";

const PAGE_SIZES = [10, 25, 50, 100];

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

function facetBox(kind, facet, section, params) {
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
    const shown = facet.resource === "icon" ? [iconImage(option.label, "icon"), " SVG icon"]
      : [facet.resource === "color" ? swatch(option.label) : null, option.label];
    return h("label", { class: "inline" }, box, shown, ` (${option.count})`);
  });
  const needle = h("input", { type: "search", value: params.get(facet.search_field) || "" });
  const narrow = h("form", { class: "row", onsubmit: (event) => {
    event.preventDefault();
    go(listHash(kind, withParams(params, (next) => next.set(facet.search_field, needle.value))));
  } }, field(`Find ${facet.name} options`, needle));
  return h("fieldset", {}, h("legend", {}, humanize(facet.name)),
           options.length ? options : h("p", { class: "muted" }, "No options."), narrow);
}

function rowActions(kind, row) {
  const id = row[kind.id_field];
  const name = row.name || id;
  const history = h("a", { class: "button", href: `#/k/${kind.plural}/history/${id}`, "aria-label": `History of ${name}` }, "History");
  if (!["editor", "admin"].includes(app.who.role)) return h("div", { class: "row" }, history, h("span", { class: "muted" }, "Read only"));
  return h("div", { class: "row" }, history,
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

function resultsTable(kind, rows) {
  if (!rows.length) return h("p", {}, `No ${kind.plural} match.`);
  const shown = kind.slots.filter((s) => !["name", "color", "icon"].includes(s.key)).slice(0, 3);
  return h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "visually-hidden" }, `${kind.title}s found`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"),
      shown.map((s) => h("th", { scope: "col" }, humanize(s.section))),
      h("th", { scope: "col" }, "Version"), h("th", { scope: "col" }, "Actions"))),
    h("tbody", {}, rows.map((row) => h("tr", {},
      h("td", {}, swatch(row.color), " ", iconImage(row.icon, ""), " ", row.name || "(no name)"),
      shown.map((s) => h("td", {}, [].concat(row[s.many ? s.section : s.key] ?? []).map(valueText).join("; "))),
      h("td", {}, row.version), h("td", {}, rowActions(kind, row)))))));
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
  } }, field("Import CSV", file), h("button", { type: "submit" }, "Import"));
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
    editor ? importForm : null);
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
  render(
    h("h1", {}, `${kind.title}s`),
    h("p", { class: "muted" }, kind.description),
    toolbar(kind, body),
    searchForm,
    h("div", { class: "layout" },
      h("aside", { "aria-label": "Filters" }, kind.facets.map((f) => facetBox(kind, f, answer[f.filter_field], params))),
      h("section", { "aria-label": "Results" },
        h("p", { id: "total" }, `${answer.total_count} ${answer.total_count === 1 ? kind.name : kind.plural}`),
        resultsTable(kind, answer[kind.plural] || []),
        pager(kind, params, body, answer.total_count))));
}
