//! Following one runtime for the workspace feed. A runtime with a feed is read from it, the
//! states that arrive together applied under one lock; when the feed cannot be opened or ends,
//! the runtime is `unavailable` (and the log says why) and the feed is opened again with a
//! backoff. A runtime without a feed (the compatibility store) is listed at once and then every
//! [`POLL_INTERVAL`]. The task runs while someone watches, and a grace period after.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt;
use worker_runtime::MAX_PAGE_LIMIT;
use worker_runtime::http::ready_batches;
use yoi_registry_core::{
    ErrorCode, FeedEvent, PageRequest, RegistryError, RuntimeFeed, RuntimeHandle, RuntimeId,
    WorkerView,
};

use super::HubShared;
use super::picture::{FeedWorker, RuntimePicture};

/// How often a runtime without a feed is listed again.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The first pause before a feed is opened again, doubled after each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// The longest pause between attempts to open a feed.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The most feed items applied under one lock.
const READY_ITEMS: usize = 256;

/// An upstream task's place in the hub; if the task panics, the runtime is told unavailable
/// and the next watcher starts a new one.
pub(crate) struct Following {
    hub: Arc<HubShared>,
    place: usize,
    generation: u64,
    runtime_id: RuntimeId,
}

impl Following {
    pub(crate) fn new(
        hub: Arc<HubShared>,
        place: usize,
        generation: u64,
        runtime_id: RuntimeId,
    ) -> Self {
        Self {
            hub,
            place,
            generation,
            runtime_id,
        }
    }

    /// Changes the runtime's picture (see [`HubShared::update`]).
    fn update(&self, change: impl FnOnce(&mut RuntimePicture, &mut BytesMut)) {
        self.hub.update(self.place, self.generation, change);
    }

    /// Says that the runtime cannot be reached, in the picture and (once per outage) the log.
    fn lost(&self, error: &RegistryError) {
        self.update(|picture, changes| self.tell_lost(picture, error, changes));
    }

    fn tell_lost(
        &self,
        picture: &mut RuntimePicture,
        error: &RegistryError,
        changes: &mut BytesMut,
    ) {
        let error = error.clone().for_runtime(&self.runtime_id);
        if picture.lost(&error, changes) {
            let runtime = &self.runtime_id;
            tracing::warn!(%runtime, code = %error.code, "workspace feed: {}", error.message);
        }
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        // An abort drops the task quietly; only a panic is a failure.
        if std::thread::panicking() {
            let error = RegistryError::new(ErrorCode::Internal, "following the runtime failed");
            self.hub
                .upstream_failed(self.place, self.generation, &error);
        }
    }
}

/// Follows the runtime of `handle` until the task is aborted.
pub(crate) async fn follow(following: Following, handle: Arc<dyn RuntimeHandle>) {
    let descriptor = handle.descriptor();
    let runtime_id = &descriptor.id;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let opened = tokio::time::timeout(descriptor.timeout, handle.feed()).await;
        let error = match opened {
            Ok(Ok(feed)) => {
                let (error, synced) = read(&following, feed).await;
                if synced {
                    backoff = FIRST_BACKOFF;
                }
                error
            }
            Ok(Err(error)) if error.code == ErrorCode::UnsupportedOperation => {
                return poll(&following, handle.as_ref()).await;
            }
            Ok(Err(error)) => error,
            Err(_) => RegistryError::new(
                ErrorCode::RuntimeTimeout,
                format!("runtime {runtime_id} did not open its feed in time"),
            ),
        };
        following.lost(&error);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Applies a feed until it ends; answers why it did, and whether it gave a whole picture.
async fn read(following: &Following, feed: RuntimeFeed) -> (RegistryError, bool) {
    // A new feed begins with the whole picture.
    following.update(|picture, _| picture.resync());
    let mut batches = pin!(ready_batches(feed, READY_ITEMS));
    let mut synced = false;
    while let Some(items) = batches.next().await {
        let mut ended = None;
        following.update(|picture, changes| {
            for item in items {
                match item {
                    Ok(FeedEvent::Worker(snapshot)) => picture.apply(snapshot.into(), changes),
                    Ok(FeedEvent::Synced) => {
                        synced = true;
                        picture.synced(changes);
                    }
                    Ok(FeedEvent::Lost(error)) => following.tell_lost(picture, &error, changes),
                    Ok(FeedEvent::Resync) => picture.resync(),
                    Err(error) => {
                        ended = Some(error);
                        return;
                    }
                }
            }
        });
        if let Some(error) = ended {
            return (error, synced);
        }
    }
    let ended = RegistryError::new(ErrorCode::RuntimeUnavailable, "the runtime's feed ended");
    (ended, synced)
}

/// Lists a runtime without a feed now and then every [`POLL_INTERVAL`].
async fn poll(following: &Following, handle: &dyn RuntimeHandle) {
    let runtime_id = &handle.descriptor().id;
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let listed = tokio::time::timeout(handle.descriptor().timeout, every_worker(handle)).await;
        let listed = listed.unwrap_or_else(|_| {
            Err(RegistryError::new(
                ErrorCode::RuntimeTimeout,
                format!("runtime {runtime_id} did not answer in time"),
            ))
        });
        match listed {
            Ok(workers) => following.update(|picture, changes| {
                // A listing is a whole picture.
                picture.resync();
                for worker in workers {
                    picture.apply(FeedWorker::from(worker), changes);
                }
                picture.synced(changes);
            }),
            Err(error) => following.lost(&error),
        }
    }
}

/// Every Worker of `handle`, page by page.
async fn every_worker(handle: &dyn RuntimeHandle) -> Result<Vec<WorkerView>, RegistryError> {
    let mut workers = Vec::new();
    let mut page = PageRequest {
        limit: Some(MAX_PAGE_LIMIT),
        after: None,
    };
    loop {
        let listed = handle.list_workers(&page).await?;
        workers.extend(listed.workers);
        match listed.next_after {
            Some(after) => page.after = Some(after),
            None => return Ok(workers),
        }
    }
}
