// The workspace feed (`GET /api/events`) as live maps: each runtime's status and each worker's
// state. A (re)connection sends the whole picture again, so the maps are rebuilt from it; once it
// is complete (`synced`) the page is told, then told of each change. A runtime a reload removed
// leaves the maps with its workers.

import { api } from "./api.js";
import { openStream } from "./stream.js";

const feedState = () => document.getElementById("feed-state");

/** Shows the feed's connection in the header. */
export function showConnection(state) {
  const words = { open: "live", lost: "reconnecting…", failed: "not live", ended: "not live" };
  const node = feedState();
  if (!node) return;
  node.textContent = words[state] ?? "";
  node.dataset.state = state;
}

/**
 * Follows the feed of `runtime` (every runtime when absent). `onUpdate(feed)` is called once the
 * picture is complete and after every change; `feed.runtimes` and `feed.workers` are Maps (the
 * latter keyed `runtime/worker`). `onError(error)` tells a typed refusal. Answers `close()`.
 */
export function openFeed(runtime, { onUpdate, onError }) {
  const feed = { runtimes: new Map(), workers: new Map(), synced: false };
  let next = null;
  const stream = openStream(api.feedPath(runtime), {
    onState(state, error) {
      showConnection(state);
      if (state === "open") next = { runtimes: new Map(), workers: new Map() };
      if (state === "failed") onError?.(error);
    },
    onFrame(event, data) {
      let value;
      try {
        value = JSON.parse(data);
      } catch {
        return undefined;
      }
      const target = next ?? feed;
      if (event === "runtime_status" && value.status === "removed") forget(target, value.runtime_id);
      else if (event === "runtime_status") target.runtimes.set(value.runtime_id, value);
      else if (event === "worker_status") target.workers.set(`${value.runtime_id}/${value.worker_id}`, value);
      else if (event === "worker_removed") target.workers.delete(`${value.runtime_id}/${value.worker_id}`);
      else if (event === "synced" && next) {
        feed.runtimes = next.runtimes;
        feed.workers = next.workers;
        feed.synced = true;
        next = null;
      }
      if (!next && feed.synced) onUpdate(feed);
      return undefined;
    },
  });
  return () => {
    stream.close();
    showConnection("");
  };
}

/** Drops a runtime that left the workspace (a reload removed it), with its workers. */
function forget(target, runtimeId) {
  target.runtimes.delete(runtimeId);
  for (const key of [...target.workers.keys()]) {
    if (key.startsWith(`${runtimeId}/`)) target.workers.delete(key);
  }
}

/** The words of a runtime's kind, as the console labels it. */
export function kindLabel(kind) {
  return { embedded: "embedded", remote_http: "remote", local_compatibility: "compatibility" }[kind] ?? kind;
}
