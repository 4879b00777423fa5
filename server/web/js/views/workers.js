// A runtime's workers: live status, display name and profile from the workspace feed, a page of
// them at a time, and a "New worker" dialog choosing among the runtime's profiles.

import { api } from "../api.js";
import { badge, el, errorLine, link, replace, when } from "../dom.js";
import { kindLabel, openFeed } from "../feed.js";

const PAGE = 50;

/** Shows `runtime`'s workers in `container`; answers the cleanup. */
export function mountWorkers(container, { runtime }, { navigate }) {
  document.title = `${runtime} · yoi workspace`;
  const heading = el("h1", {}, `Workers of ${runtime}`);
  const about = el("p", { className: "muted" });
  const problems = el("div");
  const create = el("button", { id: "new-worker", type: "button", disabled: true }, "New worker");
  const reason = el("span", { id: "create-reason", className: "muted" });
  const body = el("tbody");
  const pager = el("nav", { className: "pager", "aria-label": "Pages of workers" });
  replace(
    container,
    heading,
    about,
    el("div", { className: "actions" }, create, " ", reason),
    problems,
    el("table", { className: "list", "aria-label": `Workers of ${runtime}` },
      el("thead", {}, el("tr", {}, ["Worker", "Status", "Profile", "Last change"].map((name) => el("th", { scope: "col" }, name)))),
      body),
    pager,
  );
  let page = 0;
  let workers = [];
  const draw = () => {
    const pages = Math.max(1, Math.ceil(workers.length / PAGE));
    page = Math.min(page, pages - 1);
    const shown = workers.slice(page * PAGE, (page + 1) * PAGE);
    replace(body, shown.length ? shown.map((worker) => row(runtime, worker)) : el("tr", {}, el("td", { colSpan: 4, className: "muted" }, "No workers yet.")));
    const go = (to) => () => { page = to; draw(); };
    replace(pager,
      el("button", { type: "button", disabled: page === 0, onclick: go(page - 1) }, "Previous"),
      ` Page ${page + 1} of ${pages} (${workers.length} workers) `,
      el("button", { type: "button", disabled: page >= pages - 1, onclick: go(page + 1) }, "Next"));
  };
  api.runtime(runtime).then((described) => {
    about.textContent = `${described.display_name} · ${kindLabel(described.kind)}${described.read_only ? " · read-only" : ""}`;
    const refusal = described.read_only
      ? "This runtime is read-only."
      : !described.capabilities.create_worker ? "This runtime cannot create workers now." : "";
    create.disabled = Boolean(refusal);
    reason.textContent = refusal;
    if (refusal) create.setAttribute("aria-describedby", "create-reason");
    create.onclick = () => openCreate(runtime, described.capabilities.profiles ?? [], navigate);
  }).catch((error) => replace(problems, errorLine(error)));
  const close = openFeed(runtime, {
    onUpdate(feed) {
      workers = [...feed.workers.values()].sort((a, b) => a.worker_id.localeCompare(b.worker_id));
      draw();
    },
    onError: (error) => replace(problems, errorLine(error)),
  });
  return close;
}

function row(runtime, worker) {
  const path = `/runtimes/${encodeURIComponent(runtime)}/workers/${encodeURIComponent(worker.worker_id)}`;
  return el("tr", { "data-worker": worker.worker_id },
    el("th", { scope: "row" }, link(path, worker.display_ref), el("div", { className: "muted" }, worker.worker_id)),
    el("td", { "data-label": "Status" }, badge(worker.status)),
    el("td", { "data-label": "Profile" }, worker.profile ?? "-"),
    el("td", { "data-label": "Last change" }, when(worker.at)),
  );
}

/** The "New worker" dialog. */
function openCreate(runtime, profiles, navigate) {
  const profile = el("select", { id: "new-profile" },
    profiles.map((described) => el("option", { value: described.name },
      described.model ? `${described.name} (${described.engine}, ${described.model})` : `${described.name} (${described.engine})`)));
  const name = el("input", { id: "new-name", type: "text", maxLength: 200, autocomplete: "off" });
  const id = el("input", { id: "new-id", type: "text", pattern: "[A-Za-z0-9][A-Za-z0-9_-]{0,63}", autocomplete: "off" });
  const problem = el("div");
  const submit = el("button", { type: "submit" }, "Create");
  const cancel = el("button", { type: "button" }, "Cancel");
  const form = el("form", { method: "dialog" },
    el("h2", { id: "new-title" }, `New worker on ${runtime}`),
    el("label", { for: "new-profile" }, "Profile"), profile,
    el("label", { for: "new-name" }, "Display name (optional)"), name,
    el("label", { for: "new-id" }, "Worker id (optional)"), id,
    problem,
    el("div", { className: "actions" }, submit, " ", cancel));
  const dialog = el("dialog", { "aria-labelledby": "new-title" }, form);
  document.body.append(dialog);
  dialog.addEventListener("close", () => dialog.remove());
  cancel.onclick = () => dialog.close();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    const request = { profile: profile.value || undefined };
    if (name.value.trim()) request.display_name = name.value.trim();
    if (id.value.trim()) request.worker_id = id.value.trim();
    try {
      const created = await api.create(runtime, request);
      dialog.close();
      navigate(`/runtimes/${encodeURIComponent(runtime)}/workers/${encodeURIComponent(created.worker_id)}`);
    } catch (error) {
      replace(problem, errorLine(error));
      submit.disabled = false;
    }
  });
  dialog.showModal();
  profile.focus();
}
