// The home page: every visible runtime with its kind, status, workers by status and
// diagnostics, kept live by the workspace feed.

import { api } from "../api.js";
import { badge, el, errorLine, link, replace, when } from "../dom.js";
import { kindLabel, openFeed } from "../feed.js";

/** Shows the runtimes in `container`; answers the cleanup. */
export function mountRuntimes(container) {
  document.title = "Runtimes · yoi workspace";
  const body = el("tbody");
  const problems = el("div");
  replace(
    container,
    el("h1", {}, "Runtimes"),
    problems,
    el("table", { className: "list", "aria-label": "Runtimes" },
      el("thead", {}, el("tr", {},
        ["Runtime", "Kind", "Status", "Workers", "Last seen", "Notes"].map((name) => el("th", { scope: "col" }, name)))),
      body),
  );
  let listed = new Map();
  let latest = null;
  let refreshing = false;
  let again = false;
  const draw = () => {
    if (latest) replace(body, [...latest.runtimes.values()].map((status) => row(status, listed.get(status.runtime_id), latest)));
  };
  const refresh = async () => {
    // A refresh asked for while one is on its way runs once that one is answered.
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      const answer = await api.runtimes();
      listed = new Map(answer.runtimes.map((runtime) => [runtime.runtime_id, runtime]));
      replace(problems);
      draw();
    } catch (error) {
      replace(problems, errorLine(error));
    } finally {
      refreshing = false;
    }
    if (again) {
      again = false;
      refresh();
    }
  };
  refresh();
  const statuses = new Map();
  const close = openFeed(null, {
    onUpdate(feed) {
      latest = feed;
      // A runtime whose status changed may have new diagnostics.
      const changed = [...feed.runtimes.values()].some((status) => statuses.get(status.runtime_id) !== status.status);
      for (const status of feed.runtimes.values()) statuses.set(status.runtime_id, status.status);
      if (changed) refresh();
      draw();
    },
    onError: (error) => replace(problems, errorLine(error)),
  });
  return close;
}

/** One runtime's row. */
function row(status, listed, feed) {
  const id = status.runtime_id;
  const counts = { idle: 0, running: 0, stopped: 0, other: 0 };
  for (const worker of feed.workers.values()) {
    if (worker.runtime_id !== id) continue;
    counts[worker.status in counts ? worker.status : "other"] += 1;
  }
  const total = counts.idle + counts.running + counts.stopped + counts.other;
  const kind = [el("span", {}, kindLabel(status.kind))];
  if (status.read_only) kind.push(" ", el("span", { className: "badge read-only" }, "read-only"));
  const notes = [];
  if (status.message) notes.push(el("div", {}, status.message));
  for (const diagnostic of listed?.diagnostics ?? []) {
    notes.push(el("div", { className: `diagnostic ${diagnostic.severity}` }, `${diagnostic.code}: ${diagnostic.message}`));
  }
  const name = listed?.display_name && listed.display_name !== id ? ` (${listed.display_name})` : "";
  return el("tr", { "data-runtime": id },
    el("th", { scope: "row" }, link(`/runtimes/${encodeURIComponent(id)}/workers`, id), name),
    el("td", { "data-label": "Kind" }, kind),
    el("td", { "data-label": "Status" }, badge(status.status)),
    el("td", { "data-label": "Workers" }, `${total}`, total ? el("span", { className: "muted" }, ` (${breakdown(counts)})`) : ""),
    el("td", { "data-label": "Last seen" }, when(status.last_seen_at)),
    el("td", { "data-label": "Notes" }, notes),
  );
}

/** `2 running, 1 idle`: the non-zero counts. */
function breakdown(counts) {
  const words = { running: "running", idle: "idle", stopped: "stopped", other: "legacy" };
  return Object.entries(words)
    .filter(([key]) => counts[key] > 0)
    .map(([key, word]) => `${counts[key]} ${word}`)
    .join(", ");
}
