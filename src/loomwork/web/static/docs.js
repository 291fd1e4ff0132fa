// A kind's docs page, rendered from the docs operation (which derives it from the kind's declaration).
import { op } from "./api.js";
import { h, tableBox } from "./dom.js";
import { render } from "./dom.js";

function table(caption, columns, rows) {
  return tableBox(caption, h("table", {}, h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", { scope: "col" }, title)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, key]) => {
      const value = typeof key === "function" ? key(row) : row[key];
      return h("td", {}, value === true ? "yes" : value === false ? "no" : value ?? "");
    }))))));
}

export async function showDocs(kind) {
  const docs = await op(kind.plural, "docs", {});
  const fields = [["Field", "name"], ["Type", "type"], ["Required", "required"], ["Description", "description"]];
  render(
    h("h1", {}, `${kind.title} docs`),
    h("p", {}, docs.description),
    table("Fields", fields, docs.artifact.fields),
    h("h2", {}, "Request fields per slot"),
    docs.entries.map((entry) => table(`${entry.name} (${entry.type})`, [["Field", "name"], ["Type", "type"],
                                      ["Description", "description"]], entry.fields)),
    h("h2", {}, "Resources"),
    table("Resource kinds", [["Kind", "name"], ["Value", (r) => r.fields.map((f) => f.type).join(", ")],
                             ["Description", "description"]], docs.resources),
    h("h2", {}, "Operations"),
    table("API operations and who may call them", [["Operation", "name"], ["Method", "method"], ["Path", "path"],
      ["Role", "role"], ["Agents", "agents"], ["You may", "allowed"], ["Summary", "summary"]], docs.api_operations),
    h("p", {}, h("a", { href: `#/k/${kind.plural}` }, `Back to ${kind.title}s`)));
}
