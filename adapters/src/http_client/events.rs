//! Event subscription over SSE. The stream resumes after a lost connection from the last sequence
//! it delivered (`Last-Event-ID`), backing off exponentially (with jitter) up to a cap, and drops
//! duplicates. It ends after `worker_stopped`, and with an error on `reset` (the resume point is
//! gone) or when reconnecting cannot help (`unknown_worker`, `cursor_expired`, a rejected
//! credential, a malformed answer). Only the response head is bounded by the runtime's timeout; the stream
//! itself may stay idle as long as the runtime sends keep-alives. When a reconnect attempt fails,
//! the stream says so once ([`StreamItem::Lost`]) and again when it is back
//! ([`StreamItem::Recovered`]).

use std::sync::Arc;

use futures::StreamExt;
use worker_runtime::protocol::{RESET_EVENT, WorkerRoute};
use yoi_registry_core::{RegistryError, StreamEvent, StreamItem, WorkerEvents, WorkerId};

use super::Remote;
use super::sse::{self, Frames, Reconnect, Reopened};

/// Subscribes to `worker`'s events after `after`. Errors of the first connection (an unknown
/// worker, an expired cursor, an unreachable runtime) are returned before any stream exists.
pub(crate) async fn subscribe(
    remote: Arc<Remote>,
    worker: WorkerId,
    after: Option<u64>,
) -> Result<WorkerEvents, RegistryError> {
    let frames = connect(&remote, &worker, after).await;
    remote.status.record(frames.as_ref().map(drop));
    let subscription = Subscription {
        frames: Some(frames?),
        remote,
        worker,
        cursor: after,
        reconnect: Reconnect::new(),
        finished: false,
    };
    Ok(futures::stream::unfold(subscription, Subscription::next).boxed())
}

/// Opens the SSE stream after `cursor`.
async fn connect(
    remote: &Remote,
    worker: &WorkerId,
    cursor: Option<u64>,
) -> Result<Frames, RegistryError> {
    sse::open(
        remote,
        &WorkerRoute::Events.path(worker),
        cursor,
        Some(worker),
    )
    .await
}

/// Where a subscription stands.
struct Subscription {
    remote: Arc<Remote>,
    worker: WorkerId,
    /// The last sequence delivered (or the caller's cursor before the first).
    cursor: Option<u64>,
    /// The open stream; `None` after it was lost.
    frames: Option<Frames>,
    reconnect: Reconnect,
    finished: bool,
}

impl Subscription {
    async fn next(mut self) -> Option<(Result<StreamItem, RegistryError>, Self)> {
        loop {
            if self.finished {
                return None;
            }
            let Some(frames) = self.frames.as_mut() else {
                match self.reconnect().await {
                    Ok(Some(notice)) => return Some((Ok(notice), self)),
                    Ok(None) => {}
                    Err(error) => {
                        self.finished = true;
                        return Some((Err(error), self));
                    }
                }
                continue;
            };
            let frame = match frames.next().await {
                Some(Ok(frame)) => frame,
                Some(Err(())) => {
                    // The connection broke: resume from the cursor.
                    self.frames = None;
                    continue;
                }
                None => {
                    // A clean end: the Worker stopped before this cursor, or the runtime is
                    // shutting down. Only the second is worth reconnecting for.
                    self.frames = None;
                    if worker_has_ended(&self.remote, &self.worker, self.cursor).await {
                        self.finished = true;
                    }
                    continue;
                }
            };
            // A block without data (only an `id:` or `retry:`) is not an event.
            let Some(data) = frame.data else {
                continue;
            };
            if frame.event.as_deref() == Some(RESET_EVENT) {
                self.finished = true;
                let error = self
                    .remote
                    .caller
                    .remote_error(http::StatusCode::GONE, data.as_bytes());
                return Some((Err(error.for_worker(&self.worker)), self));
            }
            let Ok(event) = StreamEvent::from_json(data) else {
                self.finished = true;
                let error = self
                    .remote
                    .caller
                    .protocol("sent an event that is not valid".into());
                return Some((Err(error), self));
            };
            if self.cursor.is_some_and(|cursor| event.sequence() <= cursor) {
                continue;
            }
            self.cursor = Some(event.sequence());
            self.reconnect.delivered();
            self.finished = event.is_last();
            return Some((Ok(StreamItem::Event(event)), self));
        }
    }

    /// Waits out the backoff and reconnects. Answers the notice to pass on when the connection
    /// is first found lost or is back; fails only when retrying cannot help.
    async fn reconnect(&mut self) -> Result<Option<StreamItem>, RegistryError> {
        let path = WorkerRoute::Events.path(&self.worker);
        let reopened = self
            .reconnect
            .reopen(&self.remote, &path, self.cursor, Some(&self.worker));
        Ok(match reopened.await? {
            Reopened::Back { frames, was_lost } => {
                self.frames = Some(frames);
                was_lost.then_some(StreamItem::Recovered)
            }
            Reopened::Lost(first) => {
                first.map(|error| StreamItem::Lost(error.for_worker(&self.worker)))
            }
        })
    }
}

/// Whether the Worker is stopped with nothing after `cursor`: its stream is complete.
async fn worker_has_ended(remote: &Remote, worker: &WorkerId, cursor: Option<u64>) -> bool {
    let Ok(call) = remote
        .caller
        .get(&WorkerRoute::Detail.path(worker), None::<&()>)
    else {
        return false;
    };
    let detail = remote
        .caller
        .send::<worker_runtime::WorkerDetail>(call)
        .await;
    detail.is_ok_and(|detail| {
        detail.status == worker_runtime::WorkerStatus::Stopped
            && detail.last_sequence <= cursor.unwrap_or(0)
    })
}
