//! The workspace feed: the live state of every visible runtime and of each of its Workers, in one
//! stream per browser. However many browsers watch, the Backend follows each runtime once (an
//! upstream task, started with its first watcher and stopped a grace period after its last),
//! keeps the merged picture in memory, renders each change once and broadcasts it. A browser
//! that connects is answered from the picture, without a call to any runtime, once every runtime
//! it watches gave its first picture or is known to be unavailable; one that falls behind the
//! broadcast is sent `reset` and closed (reconnecting gives it the whole picture again).

mod client;
mod picture;
mod upstream;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use bytes::BytesMut;
use tokio::sync::{broadcast, watch};
use tokio::task::AbortHandle;
use yoi_registry_core::{RegistryError, RuntimeHandle, RuntimeId, RuntimeRegistry};

pub(crate) use client::FeedClient;
use picture::{RuntimePicture, SYNCED_FRAME};

/// How many broadcasts (changes of one runtime that came together) a browser may fall behind
/// before it is sent the whole picture again.
const BROADCAST_BUFFER: usize = 1024;

/// The longest a browser waits for a runtime's first picture before it is answered with what is
/// known, beyond the runtime's own call timeout.
const FIRST_PICTURE_SLACK: Duration = Duration::from_secs(1);

/// The changes of one runtime that came together, as rendered frames.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    /// The runtime's place among the visible runtimes.
    runtime: usize,
    frames: Bytes,
}

/// The workspace feed's hub.
pub(crate) struct FeedHub {
    shared: Arc<HubShared>,
}

struct HubShared {
    /// The visible runtimes, in registry order; a runtime's place is its index.
    handles: Vec<Arc<dyn RuntimeHandle>>,
    slots: Mutex<Vec<Slot>>,
    sender: broadcast::Sender<Change>,
    /// Bumped whenever a runtime's picture becomes known, so that waiting browsers look again.
    known: watch::Sender<()>,
    /// How long an upstream task outlives its last watcher.
    grace: Duration,
}

/// One runtime's place in the hub.
struct Slot {
    picture: RuntimePicture,
    /// Browsers watching it.
    watchers: usize,
    /// The task that follows it, while one does.
    upstream: Option<AbortHandle>,
    /// Counts the times its last watcher left, so that a reap scheduled before a browser came
    /// and went again does not stop the upstream early.
    departures: u64,
    /// Bumped whenever its upstream task is stopped, so that what a stopped task still says
    /// (an abort takes effect at its next await) is ignored.
    generation: u64,
}

/// A browser's watch of some runtimes: counted while it lives, released when dropped.
pub(crate) struct Watch {
    hub: Arc<HubShared>,
    /// The places of the runtimes watched, sorted.
    places: Vec<usize>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.hub.release(&self.places);
    }
}

impl FeedHub {
    /// The hub over the visible runtimes of `registry`; upstream tasks outlive their last
    /// watcher by `grace`.
    pub(crate) fn new(registry: &RuntimeRegistry, grace: Duration) -> Self {
        let handles: Vec<Arc<dyn RuntimeHandle>> = registry.visible().cloned().collect();
        let slots = handles
            .iter()
            .map(|handle| Slot {
                picture: RuntimePicture::new(handle.descriptor()),
                watchers: 0,
                upstream: None,
                departures: 0,
                generation: 0,
            })
            .collect();
        Self {
            shared: Arc::new(HubShared {
                handles,
                slots: Mutex::new(slots),
                sender: broadcast::Sender::new(BROADCAST_BUFFER),
                known: watch::Sender::new(()),
                grace,
            }),
        }
    }

    /// The place of the visible runtime `id`.
    pub(crate) fn place_of(&self, id: &RuntimeId) -> Option<usize> {
        self.shared
            .handles
            .iter()
            .position(|handle| &handle.descriptor().id == id)
    }

    /// How many visible runtimes there are.
    pub(crate) fn runtimes(&self) -> usize {
        self.shared.handles.len()
    }

    /// A browser's feed of the runtimes at `places` (sorted, each once): their whole picture
    /// first, once known, then their changes. Following them starts now.
    pub(crate) fn subscribe(&self, places: Vec<usize>) -> FeedClient {
        FeedClient::new(HubShared::attach(&self.shared, places))
    }
}

impl HubShared {
    fn lock(&self) -> MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a watcher of each place and starts the upstream tasks not running.
    fn attach(self: &Arc<Self>, places: Vec<usize>) -> Watch {
        let mut slots = self.lock();
        for &place in &places {
            let slot = &mut slots[place];
            slot.watchers += 1;
            if slot.upstream.is_none() {
                let handle = Arc::clone(&self.handles[place]);
                let following = upstream::Following::new(Arc::clone(self), place, slot.generation);
                let task = tokio::spawn(upstream::follow(following, handle));
                slot.upstream = Some(task.abort_handle());
            }
        }
        drop(slots);
        Watch {
            hub: Arc::clone(self),
            places,
        }
    }

    /// Releases a watcher of each place; an upstream left without one stops after the grace
    /// period, and its picture is forgotten.
    fn release(self: &Arc<Self>, places: &[usize]) {
        let mut slots = self.lock();
        for &place in places {
            let slot = &mut slots[place];
            slot.watchers -= 1;
            if slot.watchers > 0 {
                continue;
            }
            slot.departures += 1;
            let departure = slot.departures;
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                self.reap(&mut slots[place]);
                continue;
            };
            let shared = Arc::clone(self);
            runtime.spawn(async move {
                tokio::time::sleep(shared.grace).await;
                let mut slots = shared.lock();
                let slot = &mut slots[place];
                if slot.watchers == 0 && slot.departures == departure {
                    shared.reap(slot);
                }
            });
        }
    }

    /// Stops following a runtime nobody watches.
    fn reap(&self, slot: &mut Slot) {
        if let Some(upstream) = slot.upstream.take() {
            upstream.abort();
        }
        slot.generation += 1;
        slot.picture.clear();
    }

    /// The upstream task of `generation` at `place` ended without being stopped (it panicked):
    /// the runtime is unavailable, and the next watcher starts a new task.
    fn upstream_failed(&self, place: usize, generation: u64, error: &RegistryError) {
        self.update(place, generation, |picture, changes| {
            picture.lost(error, changes);
        });
        let mut slots = self.lock();
        let slot = &mut slots[place];
        if slot.generation == generation {
            slot.upstream = None;
            slot.generation += 1;
        }
    }

    /// Waits until every runtime at `places` is known, at most a little longer than the slowest
    /// runtime's call timeout.
    async fn wait_known(&self, places: &[usize]) {
        let mut known = self.known.subscribe();
        let longest = places
            .iter()
            .map(|&place| self.handles[place].descriptor().timeout)
            .max()
            .unwrap_or_default();
        let all_known = async {
            loop {
                known.mark_unchanged();
                if self.all_known(places) || known.changed().await.is_err() {
                    return;
                }
            }
        };
        // Past the bound, the browser is answered with what is known (a runtime not yet heard
        // from is `unavailable`, and its picture follows when it comes).
        let _ = tokio::time::timeout(longest + FIRST_PICTURE_SLACK, all_known).await;
    }

    /// Whether every runtime at `places` is known.
    fn all_known(&self, places: &[usize]) -> bool {
        let slots = self.lock();
        places.iter().all(|&place| slots[place].picture.is_known())
    }

    /// The whole picture of `places` (its chunks, shared, not copied) and `synced`, with a
    /// receiver of every later change, taken together so that no change is missed or sent
    /// twice.
    fn join(&self, places: &[usize]) -> (VecDeque<Bytes>, broadcast::Receiver<Change>) {
        let mut slots = self.lock();
        let mut picture = VecDeque::new();
        for &place in places {
            slots[place].picture.frames(&mut picture);
        }
        picture.push_back(Bytes::from_static(SYNCED_FRAME));
        (picture, self.sender.subscribe())
    }

    /// Changes the picture of `place` by `change`, and broadcasts what changed; called by the
    /// upstream task of `generation` with what the runtime said (ignored from a stopped task).
    fn update(
        &self,
        place: usize,
        generation: u64,
        change: impl FnOnce(&mut RuntimePicture, &mut BytesMut),
    ) {
        let mut slots = self.lock();
        let slot = &mut slots[place];
        if slot.generation != generation {
            return;
        }
        let picture = &mut slot.picture;
        let was_known = picture.is_known();
        let mut frames = BytesMut::new();
        change(picture, &mut frames);
        let now_known = picture.is_known();
        if !frames.is_empty() {
            // Sent with the lock held, so that a joining browser sees each change either in its
            // picture or live. Nobody listening is fine.
            let _ = self.sender.send(Change {
                runtime: place,
                frames: frames.freeze(),
            });
        }
        drop(slots);
        if now_known && !was_known {
            self.known.send_replace(());
        }
    }
}
