// Building the page from data, never from HTML strings: every text a Worker, a runtime or a
// person wrote becomes a text node, so nothing they wrote can become markup.

/**
 * An element: `attrs` sets properties (`className`, `disabled`, `onclick`, ...) or, for names
 * with a dash (`aria-*`, `data-*`), attributes; `children` are nodes or strings (as text).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.includes("-") || name === "role" || name === "for") node.setAttribute(name, String(value));
    else node[name] = value;
  }
  append(node, children);
  return node;
}

/** Appends `children` (nodes, strings as text, arrays, skipping null) to `node`. */
export function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

/** A link inside the console, followed without reloading the page. */
export function link(href, ...children) {
  return el("a", { href, "data-route": "" }, ...children);
}

/** A time for people, from an RFC 3339 string; `-` without one. */
export function when(at) {
  if (!at) return "-";
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? "-" : date.toLocaleString();
}

/** The words a status badge shows, and its class. */
export function badge(status) {
  return el("span", { className: `badge status-${status}` }, status.replaceAll("_", " "));
}

/** An error for people: the typed code and its message, next to what caused it. */
export function errorLine(error) {
  const code = error?.code ?? "error";
  const message = error?.message ?? String(error);
  return el("p", { className: "error", role: "alert" }, el("strong", {}, code), ": ", message);
}
