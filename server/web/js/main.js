// The console's shell: a router over three pages (runtimes, a runtime's workers, one worker's
// console), links followed without a reload (the URL names the page, so a reload or a shared
// link opens the same one), and the browser-token dialog the API's 401 opens.

import { setToken, token } from "./api.js";
import { el, replace, link } from "./dom.js";
import { mountRuntimes } from "./views/runtimes.js";
import { mountWorkers } from "./views/workers.js";
import { mountConsole } from "./views/console.js";

const view = document.getElementById("view");
const crumbs = document.getElementById("crumbs");
let unmount = null;

/** The page of `path` and its parameters. */
function route(path) {
  let parts;
  try {
    parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    return { mount: mountMissing, params: {} };
  }
  if (parts.length === 0) return { mount: mountRuntimes, params: {} };
  if (parts[0] === "runtimes" && parts[2] === "workers" && parts.length === 3) {
    return { mount: mountWorkers, params: { runtime: parts[1] } };
  }
  if (parts[0] === "runtimes" && parts[2] === "workers" && parts.length === 4) {
    return { mount: mountConsole, params: { runtime: parts[1], worker: parts[3] } };
  }
  return { mount: mountMissing, params: {} };
}

function mountMissing(container) {
  replace(container, el("h1", {}, "Not found"), el("p", {}, link("/", "Back to the runtimes")));
  return () => {};
}

/** The trail of links above the page. */
function trail({ runtime, worker }) {
  const items = [link("/", "Runtimes")];
  if (runtime) items.push(link(`/runtimes/${encodeURIComponent(runtime)}/workers`, runtime));
  if (worker) items.push(el("span", { "aria-current": "page" }, worker));
  const list = el("ol", {}, items.map((item) => el("li", {}, item)));
  replace(crumbs, list);
}

/** Shows the page of the current URL, ending the one shown before. */
function render() {
  unmount?.();
  const { mount, params } = route(location.pathname);
  trail(params);
  view.replaceChildren();
  unmount = mount(view, params, { navigate });
}

/** Goes to `path` within the console. */
export function navigate(path) {
  history.pushState(null, "", path);
  render();
  view.focus();
}

document.addEventListener("click", (event) => {
  const anchor = event.target.closest?.("a[data-route]");
  if (!anchor || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  navigate(anchor.getAttribute("href"));
});
window.addEventListener("popstate", render);

// The browser token: asked for when the API refuses, kept for this tab, and the page shown again.
const dialog = document.getElementById("token-dialog");
const input = document.getElementById("token-input");
const problem = document.getElementById("token-error");
window.addEventListener("yoi:unauthorized", () => {
  if (dialog.open) return;
  problem.textContent = token() ? "The Backend refused that token." : "";
  input.value = "";
  dialog.showModal();
  input.focus();
});
document.getElementById("token-form").addEventListener("submit", () => {
  const value = input.value.trim();
  if (!value) return;
  setToken(value);
  render();
});

render();
