//! Following one runtime for the workspace feed. A runtime with a feed is read from it, the
//! states that arrive together applied under one lock; when the feed cannot be opened or ends,
//! the runtime is `unavailable` and the feed is opened again with a backoff. A runtime without a
//! feed (the compatibility store) is listed at once and then every [`POLL_INTERVAL`]; the task
//! runs only while someone watches.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use worker_runtime::MAX_PAGE_LIMIT;
use worker_runtime::http::ready_batches;
use yoi_registry_core::{
    ErrorCode, FeedEvent, PageRequest, RegistryError, RuntimeFeed, RuntimeHandle, WorkerView,
};

use super::HubShared;
use super::picture::FeedWorker;

/// How often a runtime without a feed is listed again.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The first pause before a feed is opened again, doubled after each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// The longest pause between attempts to open a feed.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The most feed items applied under one lock.
const READY_ITEMS: usize = 256;

/// Follows the runtime at `place` until the task is aborted.
pub(crate) async fn follow(hub: Arc<HubShared>, place: usize, handle: Arc<dyn RuntimeHandle>) {
    let timeout = handle.descriptor().timeout;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let opened = tokio::time::timeout(timeout, handle.feed()).await;
        let error = match opened {
            Ok(Ok(feed)) => {
                let error = read(&hub, place, feed).await;
                backoff = FIRST_BACKOFF;
                error
            }
            Ok(Err(error)) if error.code == ErrorCode::UnsupportedOperation => {
                return poll(&hub, place, handle.as_ref()).await;
            }
            Ok(Err(error)) => error,
            Err(_) => RegistryError::new(
                ErrorCode::RuntimeTimeout,
                format!(
                    "runtime {} did not open its feed in time",
                    handle.descriptor().id
                ),
            ),
        };
        hub.update(place, |picture, changes| picture.lost(&error, changes));
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Applies a feed until it ends; answers why it did.
async fn read(hub: &HubShared, place: usize, feed: RuntimeFeed) -> RegistryError {
    let mut batches = pin!(ready_batches(feed, READY_ITEMS));
    while let Some(items) = batches.next().await {
        let mut ended = None;
        hub.update(place, |picture, changes| {
            for item in items {
                match item {
                    Ok(FeedEvent::Worker(snapshot)) => picture.apply(snapshot.into(), changes),
                    Ok(FeedEvent::Synced) => picture.synced(changes),
                    Ok(FeedEvent::Lost(error)) => picture.lost(&error, changes),
                    Err(error) => {
                        ended = Some(error);
                        return;
                    }
                }
            }
        });
        if let Some(error) = ended {
            return error;
        }
    }
    RegistryError::new(ErrorCode::RuntimeUnavailable, "the runtime's feed ended")
}

/// Lists a runtime without a feed now and then every [`POLL_INTERVAL`].
async fn poll(hub: &HubShared, place: usize, handle: &dyn RuntimeHandle) {
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let listed = tokio::time::timeout(handle.descriptor().timeout, every_worker(handle)).await;
        let listed = listed.unwrap_or_else(|_| {
            Err(RegistryError::new(
                ErrorCode::RuntimeTimeout,
                format!("runtime {} did not answer in time", handle.descriptor().id),
            ))
        });
        hub.update(place, |picture, changes| match listed {
            Ok(workers) => {
                for worker in workers {
                    picture.apply(FeedWorker::from(worker), changes);
                }
                picture.synced(changes);
            }
            Err(error) => picture.lost(&error, changes),
        });
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
