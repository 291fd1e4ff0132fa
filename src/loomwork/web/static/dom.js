// Building the page from data: elements and text nodes only, never markup strings, so no value can inject HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let counter = 0;
export const uid = (stem) => `${stem}-${++counter}`;

// A labelled control: the label names it for screen readers and clicks.
export function field(labelText, control, hint) {
  if (!control.id) control.id = uid("f");
  const parts = [h("label", { for: control.id }, labelText), control];
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("div", { class: "muted", id: hintId }, hint));
  }
  return h("div", { class: "field" }, parts);
}

// A table in a box that scrolls sideways when the table is wider than the screen. The box is a named,
// focusable region, so a keyboard can scroll it too (axe-core: scrollable-region-focusable).
export function tableBox(label, table) {
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": label }, table);
}

export function render(...children) {
  const main = document.getElementById("main");
  main.replaceChildren(...children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false));
  return main;
}

export function flash(message, kind = "notice") {
  const box = document.getElementById("flash");
  box.replaceChildren(message ? h("div", { class: kind }, message) : "");
}

// SVG icons are shown as images: a data: URL in <img> runs no script and touches no page styles.
export function iconImage(svg, alt = "") {
  if (!svg) return null;
  const bytes = new TextEncoder().encode(svg);
  let binary = "";
  bytes.forEach((b) => { binary += String.fromCharCode(b); });
  return h("img", { class: "icon", alt, src: `data:image/svg+xml;base64,${btoa(binary)}` });
}

export function swatch(color) {
  if (!color) return null;
  const el = h("span", { class: "swatch", "aria-hidden": "true" });
  el.style.backgroundColor = color;  // CSSOM, which the page's CSP allows (inline style attributes it does not)
  return el;
}

// `details`, when given, is shown under the question (a diff of what the action will change).
export function confirmDialog(message, action = "Confirm", details = null) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = message;
  document.getElementById("confirm-details").replaceChildren(...[details].filter(Boolean));
  document.getElementById("confirm-ok").textContent = action;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

export const humanize = (text) => String(text).replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());

// A slot's column or field title: a single slot goes by its own name ("Description"), a multiple one by
// its section's plural ("Departments").
export const slotTitle = (slot) => humanize(slot.many ? slot.section : slot.key);

const isFlag = (value) => value && typeof value === "object" && "type" in value && "value" in value &&
  Object.keys(value).length === 2;

// A flag as a person reads it: any kind's `<kind>_active` flag is "Active" or "Inactive"; another flag
// is "Type: value".
export function flagText(flag) {
  if (/(^|_)active$/.test(flag.type) && ["true", "false"].includes(String(flag.value))) {
    return String(flag.value) === "true" ? "Active" : "Inactive";
  }
  return `${humanize(flag.type)}: ${flag.value}`;
}

export function flagBadge(flag) {
  const text = flagText(flag);
  const tone = text === "Active" ? "ok" : text === "Inactive" ? "off" : "";
  return h("span", { class: `badge flag ${tone}` }, text);
}

// Any value as text a person reads: never raw JSON. Structured values show their fields by name.
export function valueText(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "object") return String(value);
  if (Array.isArray(value)) return value.map(valueText).join("; ");
  if (isFlag(value)) return flagText(value);
  if (typeof value.label === "string") return value.label;
  if (typeof value.name === "string") return value.type ? `${value.name}: ${value.type}` : value.name;
  return Object.entries(value).filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${humanize(k)}: ${valueText(v)}`).join(", ");
}

// A value as page content: flags become badges, everything else readable text.
export function valueView(value) {
  return isFlag(value) ? flagBadge(value) : valueText(value);
}

// Template text with its {{variables}} marked, built from text nodes (never markup).
export function markVariables(text) {
  const parts = String(text).split(/(\{\{\s*[A-Za-z_][\w.-]*\s*\}\})/);
  return parts.map((part, i) => (i % 2 ? h("mark", { class: "var" }, part) : part));
}

// A date as people say it ("3 min ago"), the exact time on hover and for screen readers in <time>.
export function relativeTime(at) {
  if (!at) return "";
  const date = new Date(at);
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  const steps = [[60, "second", 1], [3600, "minute", 60], [86400, "hour", 3600], [86400 * 30, "day", 86400],
                 [86400 * 365, "month", 86400 * 30], [Infinity, "year", 86400 * 365]];
  const [, unit, size] = steps.find(([limit]) => Math.abs(seconds) < limit);
  const text = Math.abs(seconds) < 45 ? "just now"
    : new Intl.RelativeTimeFormat("en", { numeric: "auto", style: "short" }).format(-Math.round(seconds / size), unit);
  return h("time", { datetime: date.toISOString(), title: date.toLocaleString() }, text);
}
