//! The runtime's feed over SSE (`GET /v1/feed`). After a lost connection it reconnects with the
//! event streams' backoff, and says so once ([`FeedEvent::Lost`]) when an attempt fails; once it
//! is back it says so ([`FeedEvent::Resync`]) and the runtime sends the whole picture again and
//! `synced`. It ends with an error when
//! reconnecting cannot help (a rejected credential, a malformed state).

use std::sync::Arc;

use futures::StreamExt;
use worker_runtime::WorkerSnapshot;
use worker_runtime::protocol::{FEED, SYNCED_EVENT, WORKER_STATUS_EVENT};
use yoi_registry_core::{FeedEvent, RegistryError, RuntimeFeed};

use super::Remote;
use super::sse::{self, Frames, Reconnect, Reopened};

/// Opens the runtime's feed. Errors of the first connection are returned before any stream
/// exists.
pub(crate) async fn feed(remote: Arc<Remote>) -> Result<RuntimeFeed, RegistryError> {
    let frames = sse::open(&remote, FEED, None, None).await;
    remote.status.record(frames.as_ref().map(drop));
    let listener = Listener {
        frames: Some(frames?),
        remote,
        reconnect: Reconnect::new(),
        finished: false,
    };
    Ok(futures::stream::unfold(listener, Listener::next).boxed())
}

/// Where a feed stands.
struct Listener {
    remote: Arc<Remote>,
    /// The open stream; `None` after it was lost.
    frames: Option<Frames>,
    reconnect: Reconnect,
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
                    Ok(Some(told)) => return Some((Ok(told), self)),
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
                    self.reconnect.delivered();
                    return Some((Ok(FeedEvent::Worker(snapshot)), self));
                }
                SYNCED_EVENT => {
                    self.reconnect.delivered();
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

    /// Reconnects; answers what to tell: `Resync` when the connection is back (the whole
    /// picture follows), `Lost` when it is first found lost, nothing on a later failed attempt.
    async fn reconnect(&mut self) -> Result<Option<FeedEvent>, RegistryError> {
        Ok(
            match self
                .reconnect
                .reopen(&self.remote, FEED, None, None)
                .await?
            {
                Reopened::Back { frames, .. } => {
                    self.frames = Some(frames);
                    Some(FeedEvent::Resync)
                }
                Reopened::Lost(first) => first.map(FeedEvent::Lost),
            },
        )
    }
}
