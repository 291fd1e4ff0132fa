// The JSON API, called with the session cookie; every change carries the page's CSRF token.

let csrfToken = "";

export class ApiError extends Error {
  constructor(status, body) {
    super(body.detail || `The server answered ${status}.`);
    this.status = status;
    this.code = body.code;
    this.body = body;
  }
}

export const setCsrf = (token) => { csrfToken = token || ""; };

export async function call(method, path, body, { form = false } = {}) {
  const headers = {};
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken;
  let payload;
  if (form) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  const text = await response.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = { detail: text }; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const op = (plural, operation, body = {}, method = "POST") =>
  call(method, `/api/v5/artifacts/${plural}/${operation}`, body);

export const resourceOp = (plural, operation, body) => call("POST", `/api/v5/resources/${plural}/${operation}`, body);
