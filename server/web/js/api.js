// The Backend's documented `/api` routes, as a browser calls them: JSON in and out, the browser
// token (kept in this tab's sessionStorage, never in a URL) as `Authorization: Bearer`, and
// errors as the API's typed `{code, message}`.

const TOKEN_KEY = "yoi.browser-token";

/** An error answer of the API. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The browser token, if one was given. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps `value` as the browser token for this tab. */
export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

/** Request headers with the token, when there is one. */
export function headers(extra = {}) {
  const result = new Headers(extra);
  const held = token();
  if (held) result.set("Authorization", `Bearer ${held}`);
  return result;
}

/** Tells the page that the Backend asks for a (different) token. */
function unauthorized() {
  window.dispatchEvent(new CustomEvent("yoi:unauthorized"));
}

/** The API's error from a failed `response`. */
export async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not the API's error body: say what the status says.
  }
  const error = body?.error;
  if (response.status === 401) unauthorized();
  return new ApiError(
    response.status,
    error?.code ?? `http_${response.status}`,
    error?.message ?? response.statusText,
  );
}

/** `method path` with an optional JSON `body`; answers the JSON, or throws an `ApiError`. */
export async function call(method, path, body) {
  const init = { method, headers: headers({ Accept: "application/json" }) };
  if (body !== undefined) {
    init.headers.set("Content-Type", "application/json");
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "backend_unreachable", "the Backend cannot be reached");
  }
  if (!response.ok) throw await errorOf(response);
  return response.status === 204 ? null : response.json();
}

const runtimePath = (runtime) => `/api/runtimes/${encodeURIComponent(runtime)}`;
const workerPath = (runtime, worker) =>
  `${runtimePath(runtime)}/workers/${encodeURIComponent(worker)}`;

/** The routes the console uses. */
export const api = {
  runtimes: () => call("GET", "/api/runtimes"),
  runtime: (runtime) => call("GET", runtimePath(runtime)),
  worker: (runtime, worker) => call("GET", workerPath(runtime, worker)),
  transcript: (runtime, worker, start) =>
    call("GET", `${workerPath(runtime, worker)}/transcript?start=${start}&limit=1000`),
  create: (runtime, request) => call("POST", `${runtimePath(runtime)}/workers`, request),
  input: (runtime, worker, content) =>
    call("POST", `${workerPath(runtime, worker)}/input`, { kind: "user", content }),
  cancel: (runtime, worker) => call("POST", `${workerPath(runtime, worker)}/cancel`),
  stop: (runtime, worker) => call("POST", `${workerPath(runtime, worker)}/stop`),
  eventsPath: (runtime, worker) => `${workerPath(runtime, worker)}/events`,
  feedPath: (runtime) =>
    runtime ? `/api/events?runtime=${encodeURIComponent(runtime)}` : "/api/events",
};
