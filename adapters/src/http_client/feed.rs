//! The runtime's feed over SSE (`GET /v1/feed`). After a lost connection it reconnects with the
//! event streams' backoff, and says so once ([`FeedEvent::Lost`]) when an attempt fails; once it
//! is back the runtime sends the whole picture again and `synced`. It ends with an error when
//! reconnecting cannot help (a rejected credential, a malformed state).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use worker_runtime::WorkerSnapshot;
use worker_runtime::protocol::{FEED, SYNCED_EVENT, WORKER_STATUS_EVENT};
use yoi_registry_core::{ErrorCode, FeedEvent, RegistryError, RuntimeFeed};

use super::Remote;
use super::sse::{self, FIRST_BACKOFF, Frames, MAX_BACKOFF, jittered};

/// Opens the runtime's feed. Errors of the first connection are returned before any stream
/// exists.
pub(crate) async fn feed(remote: Arc<Remote>) -> Result<RuntimeFeed, RegistryError> {
    let frames = sse::open(&remote, FEED, None, None).await;
    remote.status.record(frames.as_ref().map(drop));
    let listener = Listener {
        frames: Some(frames?),
        remote,
        backoff: FIRST_BACKOFF,
        lost: false,
        finished: false,
    };
    Ok(futures::stream::unfold(listener, Listener::next).boxed())
}

/// Where a feed stands.
struct Listener {
    remote: Arc<Remote>,
    /// The open stream; `None` after it was lost.
    frames: Option<Frames>,
    backoff: Duration,
    /// Whether the subscriber was told the connection is lost (and not yet given the picture).
    lost: bool,
    finished: bool,
}

impl Listener {
    async fn next(mut self) -> Option<(Result<FeedEvent, RegistryError>, Self)> {
        loop {
            if self.finished {
                return None;
            }
            let Some(frames) = self.frames.as_mut() else {
                match self.reconnect().await {
                    Ok(Some(lost)) => return Some((Ok(FeedEvent::Lost(lost)), self)),
                    Ok(None) => continue,
                    Err(error) => return Some((Err(self.finish(error)), self)),
                }
            };
            // A broken connection, or a clean end (the runtime shutting down): reconnect.
            let Some(Ok(frame)) = frames.next().await else {
                self.frames = None;
                continue;
            };
            // A block without data is not an event; an event of another name is not the feed's.
            let (Some(name), Some(data)) = (frame.event.as_deref(), frame.data.as_deref()) else {
                continue;
            };
            match name {
                WORKER_STATUS_EVENT => {
                    let Ok(snapshot) = serde_json::from_str::<WorkerSnapshot>(data) else {
                        let error = self
                            .remote
                            .caller
                            .protocol("sent a worker state that is not valid".into());
                        return Some((Err(self.finish(error)), self));
                    };
                    self.backoff = FIRST_BACKOFF;
                    return Some((Ok(FeedEvent::Worker(snapshot)), self));
                }
                SYNCED_EVENT => {
                    self.backoff = FIRST_BACKOFF;
                    return Some((Ok(FeedEvent::Synced), self));
                }
                _ => {}
            }
        }
    }

    /// Ends the feed with `error`.
    fn finish(&mut self, error: RegistryError) -> RegistryError {
        self.finished = true;
        error
    }

    /// Waits out the backoff and reconnects. Answers the error to pass on when the connection
    /// is first found lost; fails only when retrying cannot help.
    async fn reconnect(&mut self) -> Result<Option<RegistryError>, RegistryError> {
        tokio::time::sleep(jittered(self.backoff)).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        match sse::open(&self.remote, FEED, None, None).await {
            Ok(frames) => {
                self.remote.status.record(Ok(()));
                self.frames = Some(frames);
                self.lost = false;
                Ok(None)
            }
            Err(error)
                if matches!(
                    error.code,
                    ErrorCode::RuntimeUnavailable | ErrorCode::RuntimeTimeout
                ) =>
            {
                self.remote.status.record(Err(&error));
                let first = !std::mem::replace(&mut self.lost, true);
                Ok(first.then_some(error))
            }
            Err(error) => Err(error),
        }
    }
}
