//! Event subscription over SSE. The stream resumes after a lost connection from the last sequence
//! it delivered (`Last-Event-ID`), backing off exponentially (with jitter) up to a cap, and drops
//! duplicates. It ends after `worker_stopped`, and with an error on `reset` (the resume point is
//! gone) or when reconnecting cannot help (`unknown_worker`, `cursor_expired`, a rejected
//! credential, a malformed answer). Only the response head is bounded by the runtime's timeout; the stream
//! itself may stay idle as long as the runtime sends keep-alives. When a reconnect attempt fails,
//! the stream says so once ([`StreamItem::Lost`]) and again when it is back
//! ([`StreamItem::Recovered`]).

use std::hash::{BuildHasher, Hasher, RandomState};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use sse_stream::{Sse, SseByteStream};
use worker_runtime::IdleTimer;
use worker_runtime::protocol::{LAST_EVENT_ID, RESET_EVENT, WorkerRoute};
use yoi_registry_core::{
    ErrorCode, RegistryError, StreamEvent, StreamItem, WorkerEvents, WorkerId,
};

use super::Remote;

/// The first pause before reconnecting, doubled after each failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest pause between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How long an open stream may stay silent (not even a keep-alive comment) before it counts as
/// a lost connection and is resumed. A runtime's keep-alive interval must be shorter (its
/// default is 15 s).
const STREAM_IDLE_LIMIT: Duration = Duration::from_secs(60);

/// SSE frames; a transport error carries nothing (reqwest's would name the URL).
type Frames = BoxStream<'static, Result<Sse, ()>>;

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
        backoff: FIRST_BACKOFF,
        lost: false,
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
    let caller = &remote.caller;
    let mut request = caller
        .request(Method::GET, &WorkerRoute::Events.path(worker))
        .header(ACCEPT, "text/event-stream");
    if let Some(cursor) = cursor {
        request = request.header(LAST_EVENT_ID, cursor.to_string());
    }
    let timeout = remote.descriptor.timeout;
    let response = tokio::time::timeout(timeout, request.send())
        .await
        .map_err(|_| caller.timeout_error())?
        .map_err(|error| caller.transport_error(&error))?;
    let status = response.status();
    if !status.is_success() {
        caller.refuse_auth(status)?;
        let body = tokio::time::timeout(timeout, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        return Err(caller.remote_error(status, &body).for_worker(worker));
    }
    let is_sse = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"));
    if !is_sse {
        return Err(caller.protocol("answered an event request without an event stream".into()));
    }
    let bytes = Watched {
        chunks: response.bytes_stream().boxed(),
        idle: IdleTimer::new(STREAM_IDLE_LIMIT),
    };
    Ok(SseByteStream::new(bytes).map_err(drop).boxed())
}

/// A response's chunks, ending with an error when the connection breaks or stays silent for
/// [`STREAM_IDLE_LIMIT`] (a runtime sends keep-alives, so silence means it is dead). The error
/// carries nothing: reqwest's would name the URL.
struct Watched {
    chunks: BoxStream<'static, reqwest::Result<Bytes>>,
    idle: IdleTimer,
}

impl Stream for Watched {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let lost = || std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
        let this = &mut *self;
        match this.chunks.poll_next_unpin(cx) {
            Poll::Ready(Some(chunk)) => {
                this.idle.touch();
                Poll::Ready(Some(chunk.map_err(|_| lost())))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => this.idle.poll_idle(cx).map(|()| Some(Err(lost()))),
        }
    }
}

/// Where a subscription stands.
struct Subscription {
    remote: Arc<Remote>,
    worker: WorkerId,
    /// The last sequence delivered (or the caller's cursor before the first).
    cursor: Option<u64>,
    /// The open stream; `None` after it was lost.
    frames: Option<Frames>,
    backoff: Duration,
    /// Whether the subscriber was told the connection is lost (and not yet that it is back).
    lost: bool,
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
                    .remote_error(reqwest::StatusCode::GONE, data.as_bytes());
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
            self.backoff = FIRST_BACKOFF;
            self.finished = event.is_last();
            return Some((Ok(StreamItem::Event(event)), self));
        }
    }

    /// Waits out the backoff and reconnects. Answers the notice to pass on when the connection
    /// is first found lost or is back; fails only when retrying cannot help.
    async fn reconnect(&mut self) -> Result<Option<StreamItem>, RegistryError> {
        tokio::time::sleep(jittered(self.backoff)).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        match connect(&self.remote, &self.worker, self.cursor).await {
            Ok(frames) => {
                self.remote.status.record(Ok(()));
                self.frames = Some(frames);
                Ok(std::mem::take(&mut self.lost).then_some(StreamItem::Recovered))
            }
            Err(error)
                if matches!(
                    error.code,
                    ErrorCode::RuntimeUnavailable | ErrorCode::RuntimeTimeout
                ) =>
            {
                self.remote.status.record(Err(&error));
                let first = !std::mem::replace(&mut self.lost, true);
                Ok(first.then_some(StreamItem::Lost(error.for_worker(&self.worker))))
            }
            Err(error) => Err(error),
        }
    }
}

/// Half of `backoff` plus a random part of the other half, so that the streams of a runtime that
/// comes back do not all reconnect at the same instant.
fn jittered(backoff: Duration) -> Duration {
    let random = RandomState::new().build_hasher().finish();
    let half = backoff / 2;
    half + half.mul_f64((random % 1024) as f64 / 1024.0)
}

/// Whether the Worker is stopped with nothing after `cursor`: its stream is complete.
async fn worker_has_ended(remote: &Remote, worker: &WorkerId, cursor: Option<u64>) -> bool {
    let request = remote
        .caller
        .request(Method::GET, &WorkerRoute::Detail.path(worker));
    let detail = remote
        .caller
        .send::<worker_runtime::WorkerDetail>(request)
        .await;
    detail.is_ok_and(|detail| {
        detail.status == worker_runtime::WorkerStatus::Stopped
            && detail.last_sequence <= cursor.unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::jittered;

    #[test]
    fn a_jittered_pause_is_between_half_and_all_of_the_backoff_and_varies() {
        let backoff = Duration::from_millis(800);
        let pauses: Vec<Duration> = (0..200).map(|_| jittered(backoff)).collect();
        assert!(
            pauses
                .iter()
                .all(|pause| (backoff / 2..backoff).contains(pause)),
            "{pauses:?}"
        );
        let distinct: HashSet<Duration> = pauses.into_iter().collect();
        assert!(distinct.len() > 50, "{} distinct pauses", distinct.len());
    }
}
