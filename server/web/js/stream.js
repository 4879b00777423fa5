// An event stream of the API read with fetch (so that it can send the browser token), parsed as
// Server-Sent Events. After a lost connection it reconnects with a growing pause and resumes
// after the last `id:` it saw (`Last-Event-ID`), so that nothing is lost and nothing is shown
// twice. The Backend sends a comment at least every 15 s; a connection silent for longer than
// SILENCE_MS (a laptop that slept, a network that went away) is taken as lost.

import { errorOf, headers } from "./api.js";

const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 8000;
const SILENCE_MS = 45000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Opens the stream at `path`, resuming after `lastEventId` when given.
 * - `onFrame(event, data, id)` is called for each frame; answering `"end"` closes the stream.
 * - `onState(state, error)` tells `"open"`, `"lost"` (reconnecting), `"ended"` (the server
 *   says nothing more will come) and `"failed"` (a typed refusal: the stream stops).
 * Answers a handle whose `close()` ends it.
 */
export function openStream(path, { lastEventId = null, onFrame, onState }) {
  const stream = { closed: false, last: lastEventId, controller: null };
  const run = async () => {
    let backoff = FIRST_BACKOFF_MS;
    while (!stream.closed) {
      const outcome = await connect(path, stream, onFrame, onState);
      if (outcome.stop || stream.closed) return;
      // Only a connection that delivered something resets the pause: one that is accepted and
      // closed at once is retried ever more slowly.
      if (outcome.delivered) backoff = FIRST_BACKOFF_MS;
      onState("lost", outcome.error);
      await sleep(backoff / 2 + Math.random() * (backoff / 2));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  };
  run();
  return {
    close() {
      stream.closed = true;
      stream.controller?.abort();
    },
  };
}

/** One connection: `{stop}` when the stream is over; `{delivered, error}` otherwise. */
async function connect(path, stream, onFrame, onState) {
  const controller = new AbortController();
  stream.controller = controller;
  const request = headers({ Accept: "text/event-stream" });
  if (stream.last !== null) request.set("Last-Event-ID", String(stream.last));
  let response;
  try {
    response = await fetch(path, { headers: request, signal: controller.signal, cache: "no-store" });
  } catch {
    return { delivered: false };
  }
  if (response.status === 204) {
    onState("ended");
    return { stop: true };
  }
  if (!response.ok) {
    const error = await errorOf(response);
    // A runtime that is down or slow may come back; any other refusal is final.
    if (response.status >= 500) return { delivered: false, error };
    onState("failed", error);
    return { stop: true };
  }
  onState("open");
  const outcome = { delivered: false };
  try {
    const ended = await read(response.body, controller, (event, data, id) => {
      outcome.delivered = true;
      const answer = onFrame(event, data, id);
      // Recorded once the frame is handled, so that a resume never skips it.
      if (id !== null) stream.last = id;
      return answer;
    });
    if (ended) {
      stream.closed = true;
      controller.abort();
      onState("ended");
      return { stop: true };
    }
  } catch {
    // A broken or aborted connection: reconnect, unless closed.
  }
  return outcome;
}

/** Reads frames from `body` until it ends; answers true when `dispatch` said `"end"`. */
async function read(body, controller, dispatch) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const frame = { event: "", data: [], id: null };
  let pending = "";
  let watchdog = setTimeout(() => controller.abort(), SILENCE_MS);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      clearTimeout(watchdog);
      watchdog = setTimeout(() => controller.abort(), SILENCE_MS);
      pending += decoder.decode(value, { stream: true });
      let start = 0;
      for (let end = pending.indexOf("\n", start); end >= 0; end = pending.indexOf("\n", start)) {
        const line = pending.slice(start, end).replace(/\r$/, "");
        start = end + 1;
        if (line === "") {
          if (frame.data.length > 0 && dispatch(frame.event || "message", frame.data.join("\n"), frame.id) === "end") {
            return true;
          }
          frame.event = "";
          frame.data = [];
          frame.id = null;
        } else {
          field(frame, line);
        }
      }
      pending = pending.slice(start);
    }
  } finally {
    clearTimeout(watchdog);
  }
}

/** Applies one line of a frame (`name: value`; a line starting with `:` is a comment). */
function field(frame, line) {
  if (line.startsWith(":")) return;
  const colon = line.indexOf(":");
  const name = colon < 0 ? line : line.slice(0, colon);
  let value = colon < 0 ? "" : line.slice(colon + 1);
  if (value.startsWith(" ")) value = value.slice(1);
  if (name === "event") frame.event = value;
  else if (name === "data") frame.data.push(value);
  else if (name === "id") frame.id = value;
}
