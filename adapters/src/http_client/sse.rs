//! The runtime's event streams as the adapter reads them: opening one (bounded by the runtime's
//! timeout up to its head), its chunks watched for silence, its frames parsed by `sse-stream`,
//! and the pause before reconnecting.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use http::header::{ACCEPT, HeaderName, HeaderValue};
use http_body_util::{BodyDataStream, BodyExt};
use sse_stream::{Sse, SseByteStream};
use worker_runtime::IdleTimer;
use worker_runtime::protocol::LAST_EVENT_ID;
use yoi_registry_core::{ErrorCode, RegistryError, WorkerId};

use super::Remote;
use super::call::has_content_type;

/// The first pause before reconnecting, doubled after each failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest pause between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How long an open stream may stay silent (not even a keep-alive comment) before it counts as
/// a lost connection and is resumed. A runtime's keep-alive interval must be shorter (its
/// default is 15 s).
const STREAM_IDLE_LIMIT: Duration = Duration::from_secs(60);

/// SSE frames; a transport error carries nothing (the client's could name the URL).
pub(super) type Frames = BoxStream<'static, Result<Sse, ()>>;

/// Opens the event stream at `path`, resuming after `cursor` when given. A refusal by the
/// runtime names `worker` when given.
pub(super) async fn open(
    remote: &Remote,
    path: &str,
    cursor: Option<u64>,
    worker: Option<&WorkerId>,
) -> Result<Frames, RegistryError> {
    let caller = &remote.caller;
    let mut call = caller.get(path, None::<&()>)?;
    let headers = call.headers_mut();
    headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    if let Some(cursor) = cursor {
        headers.insert(
            HeaderName::from_static(LAST_EVENT_ID),
            HeaderValue::from(cursor),
        );
    }
    let timeout = remote.descriptor.timeout;
    let response = tokio::time::timeout(timeout, caller.open(call))
        .await
        .map_err(|_| caller.timeout_error())??;
    let status = response.status();
    if !status.is_success() {
        caller.refuse_auth(status)?;
        let body = tokio::time::timeout(timeout, response.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|body| body.to_bytes())
            .unwrap_or_default();
        let error = caller.remote_error(status, &body);
        return Err(match worker {
            Some(worker) => error.for_worker(worker),
            None => error,
        });
    }
    if !has_content_type(&response, "text/event-stream") {
        return Err(caller.protocol("answered an event request without an event stream".into()));
    }
    let bytes = Watched {
        chunks: BodyDataStream::new(response.into_body()).boxed(),
        idle: IdleTimer::new(STREAM_IDLE_LIMIT),
    };
    Ok(SseByteStream::new(bytes).map_err(drop).boxed())
}

/// A response's chunks, ending with an error when the connection breaks or stays silent for
/// [`STREAM_IDLE_LIMIT`] (a runtime sends keep-alives, so silence means it is dead). The error
/// carries nothing of the connection's.
struct Watched {
    chunks: BoxStream<'static, Result<Bytes, hyper::Error>>,
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

/// Reopening a stream that was lost: the pause before each attempt (doubled after each, up to
/// [`MAX_BACKOFF`], with jitter), and whether the subscriber was told the connection is lost.
pub(super) struct Reconnect {
    backoff: Duration,
    lost: bool,
}

/// What one reconnect attempt came to.
pub(super) enum Reopened {
    /// The stream is open again; `was_lost` when the subscriber had been told it was lost.
    Back { frames: Frames, was_lost: bool },
    /// The runtime cannot be reached yet: the error when this is the first failed attempt since
    /// the stream was last open (the subscriber is told once).
    Lost(Option<RegistryError>),
}

impl Reconnect {
    pub(super) fn new() -> Self {
        Self {
            backoff: FIRST_BACKOFF,
            lost: false,
        }
    }

    /// The stream delivered: a later loss starts again from the first pause.
    pub(super) fn delivered(&mut self) {
        self.backoff = FIRST_BACKOFF;
    }

    /// Waits out the pause and opens the stream again as [`open`] does, recording the outcome
    /// in the runtime's status. Fails only when retrying cannot help.
    pub(super) async fn reopen(
        &mut self,
        remote: &Remote,
        path: &str,
        cursor: Option<u64>,
        worker: Option<&WorkerId>,
    ) -> Result<Reopened, RegistryError> {
        tokio::time::sleep(jittered(self.backoff)).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        match open(remote, path, cursor, worker).await {
            Ok(frames) => {
                remote.status.record(Ok(()));
                let was_lost = std::mem::take(&mut self.lost);
                Ok(Reopened::Back { frames, was_lost })
            }
            Err(error)
                if matches!(
                    error.code,
                    ErrorCode::RuntimeUnavailable | ErrorCode::RuntimeTimeout
                ) =>
            {
                remote.status.record(Err(&error));
                let first = !std::mem::replace(&mut self.lost, true);
                Ok(Reopened::Lost(first.then_some(error)))
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
