// One worker's console: its transcript (older entries shown as you scroll up), the live stream
// (output as it arrives), the run's status and usage, a composer, Cancel and Stop, and the state
// of the connection. The transcript and the stream meet at event sequences: the stream resumes
// after the last entry shown, and an event already shown is never shown again, so a reload, a
// lost connection or a laptop waking up loses no line and repeats none.

import { api } from "../api.js";
import { badge, el, errorLine, replace, when } from "../dom.js";
import { openStream } from "../stream.js";

/** Entries shown at first, and added per scroll to the top. */
const SHOWN = 100;

/** Shows `runtime/worker` in `container`; answers the cleanup. */
export function mountConsole(container, { runtime, worker }) {
  document.title = `${worker}@${runtime} · yoi workspace`;
  const page = layout(runtime, worker);
  replace(container, page.root);
  const state = { runtime, worker, page, last: 0, running: false, stopped: false, lost: false, removed: false, streaming: null, stream: null, older: [], closed: false, sending: null, acting: false };
  loadUntilReachable(state);
  return () => {
    state.closed = true;
    state.stream?.close();
  };
}

/** Errors that say the runtime may come back: the console waits for it. */
const PASSING = new Set(["runtime_unavailable", "runtime_timeout", "backend_unreachable"]);

/** Loads the console, again with a growing pause while the runtime cannot be reached. */
async function loadUntilReachable(state) {
  for (let pause = 500; !state.closed; pause = Math.min(pause * 2, 8000)) {
    try {
      await load(state);
      return;
    } catch (error) {
      if (!PASSING.has(error.code)) {
        replace(state.page.problems, errorLine(error));
        return;
      }
      show(state.page.connection, `${error.message}. Trying again…`, "lost");
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

function layout(runtime, worker) {
  const page = {
    title: el("h1", {}, `${worker}@${runtime}`),
    status: el("span", { role: "status" }),
    meta: el("span", { className: "muted" }),
    usage: el("span", { className: "muted" }),
    connection: el("p", { className: "connection", role: "status", "aria-live": "polite", hidden: true }),
    problems: el("div"),
    cancel: el("button", { id: "cancel-run", type: "button", disabled: true }, "Cancel run"),
    stop: el("button", { id: "stop-worker", type: "button", disabled: true, className: "danger" }, "Stop worker"),
    actionProblem: el("div"),
    log: el("ol", { className: "transcript", "aria-label": "Transcript" }),
    older: el("button", { type: "button", className: "older", hidden: true }, "Show older entries"),
    text: el("textarea", { id: "composer-text", rows: 3, placeholder: "Message (Enter sends, Shift+Enter for a new line)", "aria-describedby": "composer-reason" }),
    send: el("button", { id: "send", type: "submit" }, "Send"),
    reason: el("p", { id: "composer-reason", className: "muted" }),
    sendProblem: el("div"),
  };
  page.scroller = el("div", { className: "scroller", tabIndex: 0, role: "region", "aria-label": "Transcript" }, page.older, page.log);
  page.form = el("form", { className: "composer", "aria-label": "Send an input" },
    el("label", { for: "composer-text", className: "visually-hidden" }, "Message"),
    page.text, page.send, page.reason, page.sendProblem);
  page.root = el("section", { className: "console" },
    page.title,
    el("p", { className: "meta" }, page.status, " ", page.meta, " ", page.usage),
    page.connection,
    page.problems,
    el("div", { className: "actions" }, page.cancel, " ", page.stop),
    page.actionProblem,
    page.scroller,
    page.form);
  return page;
}

/** The runtime, the worker and its transcript, then the stream after them. */
async function load(state) {
  const { runtime, worker, page } = state;
  const [described, detail] = await Promise.all([api.runtime(runtime), api.worker(runtime, worker)]);
  if (state.closed) return;
  hide(page.connection);
  state.described = described;
  state.detail = detail;
  page.title.textContent = detail.display_ref;
  page.meta.textContent = `profile ${detail.profile ?? "-"} · created ${when(detail.created_at)}`;
  state.usage = detail.usage ?? null;
  state.stopped = detail.status === "stopped";
  state.running = detail.status === "running";
  const entries = described.capabilities.transcript ? await transcript(state, 0) : [];
  if (state.closed) return;
  if (!described.capabilities.transcript) page.log.append(el("li", { className: "note" }, "This runtime keeps no transcript."));
  state.older = entries.slice(0, Math.max(0, entries.length - SHOWN));
  for (const entry of entries.slice(-SHOWN)) page.log.append(entryNode(entry.role, entry.content, entry.sequence));
  state.last = entries.at(-1)?.sequence ?? 0;
  wireControls(state);
  refresh(state);
  scrollToEnd(page);
  if (described.capabilities.events) follow(state, state.last);
  else page.log.append(el("li", { className: "note" }, "This runtime has no live events."));
}

/** Every entry of the transcript from the sequence `start` on, oldest first. */
async function transcript(state, start) {
  const entries = [];
  for (;;) {
    const answer = await api.transcript(state.runtime, state.worker, start);
    entries.push(...answer.entries);
    if (answer.next_start === null || answer.next_start === undefined) return entries;
    start = answer.next_start;
  }
}

/** Follows the worker's events after `after`. */
function follow(state, after) {
  if (state.closed) return;
  state.stream = openStream(api.eventsPath(state.runtime, state.worker), {
    lastEventId: after,
    onState: (connection, error) => onConnection(state, connection, error),
    onFrame: (event, data) => onEvent(state, event, data),
  });
}

function onConnection(state, connection, error) {
  const { page } = state;
  if (connection === "lost") {
    const why = error ? `${error.message}; reconnecting…` : "The connection is lost; reconnecting…";
    show(page.connection, why, "lost");
  }
  if (connection === "open" && !state.lost) {
    hide(page.connection);
    replace(page.problems);
  }
  if (connection === "failed" && error?.code === "cursor_expired") {
    catchUp(state).catch((failure) => replace(page.problems, errorLine(failure)));
    return;
  }
  if (connection === "failed") replace(page.problems, errorLine(error));
}

/**
 * The events after the last one shown are no longer kept (the page was away too long): the
 * transcript entries recorded since are added, and the stream continues from the newest event.
 */
async function catchUp(state) {
  const { page } = state;
  const [detail, entries] = await Promise.all([
    api.worker(state.runtime, state.worker),
    transcript(state, state.last + 1),
  ]);
  if (state.closed) return;
  state.streaming?.finish(null);
  state.streaming = null;
  page.log.append(el("li", { className: "note" }, "Some live output was skipped while away; the transcript is complete."));
  for (const entry of entries) page.log.append(entryNode(entry.role, entry.content, entry.sequence));
  state.detail = detail;
  state.usage = detail.usage ?? null;
  state.stopped = detail.status === "stopped";
  state.running = detail.status === "running";
  state.last = Math.max(detail.last_sequence, entries.at(-1)?.sequence ?? 0);
  refresh(state);
  scrollToEnd(page);
  if (!state.stopped) follow(state, state.last);
}

/** Shows one event, unless it was shown already; `"end"` after the last one. */
function onEvent(state, event, data) {
  const { page } = state;
  let value;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (event === "runtime_status" && value.status === "removed") {
    state.removed = true;
    show(page.connection, `${value.message}.`, "lost");
    refresh(state);
    return "end";
  }
  if (event === "runtime_status") {
    state.lost = value.status === "unavailable";
    if (state.lost) show(page.connection, `${value.message}. Waiting for it to come back…`, "lost");
    else show(page.connection, `${value.message}: the stream goes on.`, "back");
    refresh(state);
    return undefined;
  }
  if (event === "error" || event === "reset") {
    if (event === "error") replace(page.problems, errorLine(value.error));
    return undefined;
  }
  if (typeof value.sequence !== "number" || value.sequence <= state.last) return undefined;
  state.last = value.sequence;
  if (value.kind === "output_delta") {
    // The hot path: the text is drawn (and followed) once per frame, the rest is unchanged.
    apply(state, value);
    return undefined;
  }
  const follow = nearEnd(page);
  apply(state, value);
  refresh(state);
  if (follow) scrollToEnd(page);
  return value.kind === "worker_stopped" ? "end" : undefined;
}

/** What an event changes on the page. */
function apply(state, event) {
  const { page } = state;
  switch (event.kind) {
    case "input_accepted":
      page.log.append(entryNode(event.role, event.content, event.sequence));
      if (state.sending !== null && event.sequence >= state.sending) state.sending = null;
      break;
    case "run_started":
      state.running = true;
      state.streaming = streamingNode(page);
      page.log.append(state.streaming.node);
      break;
    case "output_delta":
      if (!state.streaming) {
        state.streaming = streamingNode(page);
        page.log.append(state.streaming.node);
      }
      state.streaming.add(event.text);
      break;
    case "message":
      if (state.streaming) state.streaming.finish(event.content);
      else page.log.append(entryNode(event.role, event.content, event.sequence));
      state.streaming = null;
      break;
    case "run_completed":
      endRun(state, "completed");
      // The detail's totals already count the runs before it was read.
      if (event.usage && event.sequence > state.detail.last_sequence) {
        const usage = state.usage ?? { input_tokens: 0, output_tokens: 0 };
        state.usage = { input_tokens: usage.input_tokens + event.usage.input_tokens, output_tokens: usage.output_tokens + event.usage.output_tokens };
      }
      break;
    case "run_failed":
      endRun(state, "failed");
      page.log.append(el("li", { className: "note failed" }, `The run failed: ${event.reason}`));
      break;
    case "run_cancelled":
      endRun(state, "cancelled");
      page.log.append(el("li", { className: "note" }, "The run was cancelled."));
      break;
    case "worker_stopped":
      endRun(state, "stopped");
      state.stopped = true;
      page.log.append(el("li", { className: "note" }, "The worker stopped."));
      break;
    default:
      break;
  }
}

function endRun(state, outcome) {
  state.running = false;
  state.outcome = outcome;
  state.streaming?.finish(null);
  state.streaming = null;
}

/** A transcript entry. */
function entryNode(role, content, sequence) {
  return el("li", { className: `entry ${role}`, "data-sequence": sequence },
    el("span", { className: "role" }, role), el("div", { className: "content" }, content));
}

/**
 * The answer of the run in progress: its text grows as deltas come, drawn once per frame (one
 * layout per frame however many deltas came), and followed when the reader is at the end.
 */
function streamingNode(page) {
  const text = document.createTextNode("");
  const content = el("div", { className: "content" }, text);
  const node = el("li", { className: "entry assistant streaming", "aria-busy": "true" }, el("span", { className: "role" }, "assistant"), content);
  let pending = "";
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const follow = nearEnd(page);
    text.appendData(pending);
    pending = "";
    if (follow) scrollToEnd(page);
  };
  return {
    node,
    add(piece) {
      pending += piece;
      if (!scheduled) {
        scheduled = true;
        requestAnimationFrame(flush);
      }
    },
    finish(whole) {
      if (scheduled) flush();
      if (whole !== null) text.data = whole;
      node.classList.remove("streaming");
      node.removeAttribute("aria-busy");
    },
  };
}

/** The controls' handlers: send, Enter, cancel, stop, older entries. */
function wireControls(state) {
  const { page, runtime, worker } = state;
  page.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const content = page.text.value;
    if (!content.trim() || page.send.disabled) return;
    // One input at a time: from the send until the stream shows it accepted (its run's own
    // events then tell when the next one can go).
    state.sending = Infinity;
    refresh(state);
    try {
      const ack = await api.input(runtime, worker, content);
      if (page.text.value === content) page.text.value = "";
      replace(page.sendProblem);
      state.sending = ack.sequence > state.last ? ack.sequence : null;
    } catch (error) {
      replace(page.sendProblem, errorLine(error));
      state.sending = null;
    }
    refresh(state);
  });
  page.text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      page.form.requestSubmit();
    }
  });
  page.cancel.onclick = () => act(state, () => api.cancel(runtime, worker));
  let armed = null;
  page.stop.onclick = () => {
    if (!armed) {
      page.stop.textContent = "Confirm: stop for good";
      armed = setTimeout(() => { armed = null; page.stop.textContent = "Stop worker"; }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    page.stop.textContent = "Stop worker";
    act(state, () => api.stop(runtime, worker));
  };
  page.older.onclick = () => showOlder(state);
  page.scroller.addEventListener("scroll", () => {
    if (page.scroller.scrollTop < 40) showOlder(state);
  });
}

/** Runs a button's request, the buttons disabled until it is answered. */
async function act(state, action) {
  const { page } = state;
  state.acting = true;
  refresh(state);
  try {
    await action();
    replace(page.actionProblem);
  } catch (error) {
    replace(page.actionProblem, errorLine(error));
  }
  state.acting = false;
  refresh(state);
}

/** Shows the next older entries above the others, keeping what is in view in place. */
function showOlder(state) {
  const { page } = state;
  if (state.older.length === 0) return;
  const batch = state.older.splice(Math.max(0, state.older.length - SHOWN));
  const height = page.scroller.scrollHeight;
  page.log.prepend(...batch.map((entry) => entryNode(entry.role, entry.content, entry.sequence)));
  page.scroller.scrollTop += page.scroller.scrollHeight - height;
  refresh(state);
}

/** Brings the status, usage, buttons and composer in line with the state. */
function refresh(state) {
  const { page, described } = state;
  if (!described) return;
  const capabilities = described.capabilities;
  // A legacy worker's own status (`active`, `metadata_only`) is shown as it is.
  const settled = ["idle", "running", "stopped"].includes(state.detail.status) ? "idle" : state.detail.status;
  const status = state.stopped ? "stopped" : state.running ? "running" : state.outcome === "failed" ? "failed" : state.outcome === "cancelled" ? "cancelled" : settled;
  if (page.status.textContent !== status) replace(page.status, badge(status));
  page.usage.textContent = state.usage ? `· ${state.usage.input_tokens} tokens in, ${state.usage.output_tokens} out` : "";
  page.cancel.disabled = state.acting || state.removed || !(state.running && capabilities.cancel_worker);
  page.stop.disabled = state.acting || state.removed || state.stopped || !capabilities.stop_worker;
  const reason = state.removed ? "This runtime was removed from the workspace: reload the page to see what is left."
    : state.stopped ? "This worker is stopped."
    : described.read_only ? "This runtime is read-only: it cannot take input."
      : !capabilities.send_input ? "This runtime cannot take input."
        : state.lost ? "The runtime cannot be reached right now."
          : state.running ? "A run is active: wait for it to end, or cancel it." : "";
  page.text.disabled = Boolean(reason) && !state.running;
  page.send.disabled = Boolean(reason) || (state.sending ?? null) !== null;
  page.reason.textContent = reason;
  page.older.hidden = state.older.length === 0;
}

function nearEnd(page) {
  const scroller = page.scroller;
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

function scrollToEnd(page) {
  page.scroller.scrollTop = page.scroller.scrollHeight;
}

function show(node, text, kind) {
  node.textContent = text;
  node.dataset.kind = kind;
  node.hidden = false;
}

function hide(node) {
  node.hidden = true;
}
