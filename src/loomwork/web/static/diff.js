// One diff component for every page that shows a change (the review queue, history's compare, the label
// confirmation): a text shows its changed words highlighted in place, a list its members added (+) and
// removed (−), a color its swatches, an icon its images, a flag its badges. Words are diffed in the page with
// jsdiff (vendor/diff, copied from npm by `make vendor`), so the API keeps answering plain values.
import { diffWordsWithSpace } from "./vendor/diff/index.js";
import { flagBadge, h, humanize, iconImage, swatch, valueText } from "./dom.js";

const isFlag = (value) => value && typeof value === "object" && "type" in value && "value" in value;
const isColor = (value) => typeof value === "string" && /^#[0-9a-f]{3,8}$/i.test(value);
const isIcon = (value) => typeof value === "string" && /^\s*<svg[\s>]/i.test(value);
const CONTEXT = 12;  // words of unchanged text kept on each side of a change; the rest folds into "…"

// Field names as a person reads them; the API's are storage names ("persona_active", "arg_positions").
const FIELD_NAMES = { active: "Active", instructions: "Instructions", departments: "Departments",
                      parameter_fields: "Template variables", args: "Arguments", models: "Models" };
export const fieldName = (field) => FIELD_NAMES[field] || humanize(String(field).replace(/_ids?$/, ""));

const members = (value) => (value === null || value === undefined ? [] : [].concat(value));
const asText = (value) => (isFlag(value) ? null : typeof value === "object" && value !== null ? valueText(value) : value);

function single(value, fieldLabel) {
  if (value === null || value === undefined || value === "") return h("span", { class: "muted" }, "(none)");
  if (isColor(value)) return h("span", { class: "nowrap" }, swatch(value), " ", value);
  if (isIcon(value)) return iconImage(value, `${fieldLabel} icon`);
  if (isFlag(value)) return flagBadge(value);
  return valueText(value);
}

// Long unchanged runs fold to their first and last few words, as a pull request folds unchanged lines.
function unchanged(text, first, last) {
  const words = text.split(/(\s+)/);
  if (words.length <= CONTEXT * 4 + 2) return text;
  const head = first ? "" : words.slice(0, CONTEXT * 2).join("");
  const tail = last ? "" : words.slice(-CONTEXT * 2).join("");
  return [head, h("span", { class: "fold", title: "Unchanged text left out" }, " … "), tail];
}

// A text's changed words highlighted inside it.
export function textDiff(before, after) {
  const parts = diffWordsWithSpace(String(before ?? ""), String(after ?? ""));
  return h("div", { class: "text-diff" }, parts.map((part, i) => {
    if (part.added) return h("ins", {}, part.value);
    if (part.removed) return h("del", {}, part.value);
    return unchanged(part.value, i === 0, i === parts.length - 1);
  }));
}

function listDiff(before, after, added, removed, fieldLabel) {
  const key = (v) => (typeof v === "string" ? v : JSON.stringify(v));
  const beforeKeys = new Set(members(before).map(key));
  const afterKeys = new Set(members(after).map(key));
  const plus = added ?? members(after).filter((v) => !beforeKeys.has(key(v)));
  const minus = removed ?? members(before).filter((v) => !afterKeys.has(key(v)));
  const kept = members(after).filter((v) => beforeKeys.has(key(v)));
  if (!plus.length && !minus.length) return h("span", { class: "muted" }, "Same members, another order.");
  return h("ul", { class: "list-diff" },
    minus.map((v) => h("li", { class: "removed" }, h("span", { class: "sign", "aria-label": "removed" }, "−"), " ",
                       single(v, fieldLabel))),
    plus.map((v) => h("li", { class: "added" }, h("span", { class: "sign", "aria-label": "added" }, "+"), " ",
                      single(v, fieldLabel))),
    kept.length ? h("li", { class: "muted kept" }, `Unchanged: ${kept.map(valueText).join(", ")}`) : null);
}

// One field's change: `before`/`after` (a diff's) or `now`/`proposed` (a proposal's) are the API's readable
// values; `added`/`removed`, when the API gives them, are a list's members.
export function changeView(change) {
  const { field, added, removed } = change;
  const [before, after] = "proposed" in change ? [change.now, change.proposed] : [change.before, change.after];
  const label = fieldName(field);
  let body;
  const bothSingle = !Array.isArray(before) && !Array.isArray(after);
  const one = (v) => (Array.isArray(v) && v.length <= 1 ? v[0] ?? null : v);
  const [b, a] = [one(before), one(after)];
  if (!bothSingle && (Array.isArray(before) && before.length > 1 || Array.isArray(after) && after.length > 1 ||
                      added?.length > 1 || removed?.length > 1)) {
    body = listDiff(before, after, added, removed, label);
  } else if (typeof asText(b) === "string" && typeof asText(a) === "string" && !isColor(b) && !isIcon(b) &&
             !isColor(a) && !isIcon(a) && (String(asText(b)).includes(" ") || String(asText(a)).includes(" "))) {
    body = textDiff(asText(b), asText(a));
  } else {
    body = h("span", { class: "swap" }, h("span", { class: "was" }, single(b, label)),
             h("span", { class: "arrow", "aria-label": "becomes" }, " → "), h("span", { class: "now" }, single(a, label)));
  }
  return h("tr", { class: "change", dataset: { field } }, h("th", { scope: "row" }, label), h("td", {}, body));
}

// Every change of a proposal or of two versions: a table of field and change (on a phone, stacked).
export function diffView(changes, label, attrs = {}) {
  if (!changes.length) return h("p", { class: "muted", ...attrs }, "No field changes.");
  return h("table", { class: "diff", ...attrs }, h("caption", { class: "visually-hidden" }, label),
    h("tbody", {}, changes.map(changeView)));
}
