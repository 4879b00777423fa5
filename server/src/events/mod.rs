//! The SSE proxy. However many browsers watch a worker, the Backend holds one upstream
//! subscription to it (a [`Channel`]), opened at the worker's newest event; it renders each event
//! once and fans it out. A browser that resumes from a point the channel holds (e.g. the
//! worker's `last_sequence`) joins it at once, served from its recent frames; one that resumes
//! from further back, or asks for the whole history, gets a private upstream replay at its own
//! pace until it catches up, then joins. The channel closes a grace period after its last
//! browser left. Every stream ends, saying why, when a reload retires the handle it was opened
//! through ([`Lifetime`]).

mod batch;
mod channel;
mod client;
pub(crate) mod frame;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use yoi_registry_core::{
    ErrorCode, RegistryError, RuntimeHandle, RuntimeId, WorkerId, WorkerState,
};

use crate::lifetime::Lifetime;
use channel::Channel;
pub(crate) use client::ClientStream;

/// A worker's place in the hub.
type Key = (RuntimeId, WorkerId);

/// Every shared subscription, by worker.
pub(crate) struct EventHub {
    shared: Arc<HubShared>,
}

struct HubShared {
    entries: Mutex<HashMap<Key, Arc<Entry>>>,
    /// How long a channel outlives its last client.
    grace: Duration,
    /// How many recent frames a channel keeps, and how many broadcasts (batches of frames that
    /// came together) a client may fall behind.
    buffer: usize,
}

/// One worker's slot: its clients and its channel.
struct Entry {
    /// Clients attached, counted under the hub's lock when they attach.
    clients: AtomicUsize,
    /// Held while the channel is being opened, so that clients that arrive together share one
    /// upstream subscription.
    opening: tokio::sync::Mutex<()>,
    /// The channel, once open.
    channel: Mutex<Option<Arc<Channel>>>,
}

impl Entry {
    fn channel(&self) -> MutexGuard<'_, Option<Arc<Channel>>> {
        self.channel.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The channel, if it still delivers.
    fn live_channel(&self) -> Option<Arc<Channel>> {
        self.channel().clone().filter(|channel| channel.is_live())
    }
}

/// A client's hold on its worker's entry; the entry (and its channel) is closed a grace period
/// after the last hold is released.
pub(crate) struct Attachment {
    hub: Arc<HubShared>,
    key: Key,
    entry: Arc<Entry>,
    /// The lifetime of the handle the client's stream was opened through.
    lifetime: Lifetime,
}

impl EventHub {
    /// A hub whose channels keep `buffer` recent frames and outlive their clients by `grace`.
    pub(crate) fn new(grace: Duration, buffer: usize) -> Self {
        Self {
            shared: Arc::new(HubShared {
                entries: Mutex::new(HashMap::new()),
                grace,
                buffer: buffer.max(1),
            }),
        }
    }

    /// How many workers have an entry (an open or lingering channel).
    pub(crate) fn open_channels(&self) -> usize {
        self.shared.lock().len()
    }

    /// A browser's stream of `worker`'s events after `position` (all retained when `None`);
    /// `None` when the worker is stopped and the browser already has every event. Errors of
    /// opening the upstream subscription (an unknown worker, an expired or impossible cursor, an
    /// unreachable runtime) are returned before any frame.
    pub(crate) async fn subscribe(
        &self,
        (handle, lifetime): (&Arc<dyn RuntimeHandle>, &Lifetime),
        worker: &WorkerId,
        position: Option<u64>,
    ) -> Result<Option<ClientStream>, RegistryError> {
        let runtime_id = handle.descriptor().id.clone();
        let attachment = self.attach((runtime_id.clone(), worker.clone()), lifetime);
        let entry = Arc::clone(&attachment.entry);
        let opening = entry.opening.lock().await;
        if let Some(channel) = entry.live_channel() {
            if let Some(joined) = channel.join(position, false) {
                return Ok(Some(ClientStream::shared(attachment, joined)));
            }
            drop(opening);
            let upstream = handle.subscribe(worker, position).await?;
            return Ok(Some(ClientStream::private(attachment, upstream, position)));
        }
        // The shared subscription starts at the newest event, so that the history (which may be
        // longer than the channel's buffer) is replayed to each browser at its own pace, never
        // pushed through the broadcast.
        let detail = handle.get_worker(worker).await?;
        let newest = detail.last_sequence;
        if let (Some(position), Some(newest)) = (position, newest) {
            if position > newest {
                return Err(RegistryError::new(
                    ErrorCode::InvalidInput,
                    format!("cursor {position} is beyond the newest event ({newest})"),
                )
                .for_runtime(&runtime_id)
                .for_worker(worker));
            }
        }
        if detail.status == WorkerState::Stopped {
            // Nothing new will come: no channel, only what the browser has not seen yet.
            drop(opening);
            if matches!((position, newest), (Some(position), Some(newest)) if position >= newest) {
                return Ok(None);
            }
            let upstream = handle.subscribe(worker, position).await?;
            return Ok(Some(ClientStream::private(attachment, upstream, position)));
        }
        let origin = newest.or(position);
        let upstream = handle.subscribe(worker, origin).await?;
        let buffer = self.shared.buffer;
        let (channel, joined) = Channel::open(
            runtime_id,
            worker.clone(),
            origin,
            upstream,
            lifetime,
            buffer,
        );
        if let Some(finished) = entry.channel().replace(channel) {
            finished.close();
        }
        drop(opening);
        if position == origin {
            return Ok(Some(ClientStream::shared(attachment, joined)));
        }
        let upstream = handle.subscribe(worker, position).await?;
        Ok(Some(ClientStream::private(attachment, upstream, position)))
    }

    fn attach(&self, key: Key, lifetime: &Lifetime) -> Attachment {
        let mut entries = self.shared.lock();
        let entry = Arc::clone(entries.entry(key.clone()).or_insert_with(|| {
            Arc::new(Entry {
                clients: AtomicUsize::new(0),
                opening: tokio::sync::Mutex::new(()),
                channel: Mutex::new(None),
            })
        }));
        entry.clients.fetch_add(1, Ordering::SeqCst);
        Attachment {
            hub: Arc::clone(&self.shared),
            key,
            entry,
            lifetime: lifetime.clone(),
        }
    }
}

impl HubShared {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes `entry` and closes its channel if it still has no client.
    fn reap(&self, key: &Key, entry: &Arc<Entry>) {
        let mut entries = self.lock();
        let idle = entry.clients.load(Ordering::SeqCst) == 0;
        if idle
            && entries
                .get(key)
                .is_some_and(|held| Arc::ptr_eq(held, entry))
        {
            entries.remove(key);
            if let Some(channel) = entry.channel().take() {
                channel.close();
            }
        }
    }
}

impl Attachment {
    /// Joins the worker's channel at `position` (which the runtime has confirmed exists), if
    /// there is one that covers it.
    fn join(&self, position: Option<u64>) -> Option<channel::Joined> {
        self.entry.live_channel()?.join(position, true)
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        if self.entry.clients.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        // Without an open channel there is nothing worth keeping for a returning browser.
        let open = self.entry.live_channel().is_some();
        let runtime = tokio::runtime::Handle::try_current();
        let (true, Ok(runtime)) = (open, runtime) else {
            self.hub.reap(&self.key, &self.entry);
            return;
        };
        let (hub, key, entry) = (
            Arc::clone(&self.hub),
            self.key.clone(),
            Arc::clone(&self.entry),
        );
        runtime.spawn(async move {
            tokio::time::sleep(hub.grace).await;
            hub.reap(&key, &entry);
        });
    }
}
