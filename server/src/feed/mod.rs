//! The workspace feed: the live state of every visible runtime and of each of its Workers, in one
//! stream per browser. However many browsers watch, the Backend follows each runtime once (an
//! upstream task, started with its first watcher and stopped a grace period after its last),
//! keeps the merged picture in memory, renders each change once and broadcasts it. A browser
//! that connects is answered from the picture, without a call to any runtime, once every runtime
//! it watches gave its first picture or is known to be unavailable; one that falls behind the
//! broadcast is sent `reset` and closed (reconnecting gives it the whole picture again). A reload
//! of the configuration adds places for new runtimes (a browser watching everything follows
//! them), ends removed ones with a `runtime_status` saying so, and follows a changed one anew.

mod client;
mod picture;
mod slots;
mod upstream;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use bytes::BytesMut;
use tokio::sync::{broadcast, watch};
use yoi_registry_core::{RegistryError, RuntimeHandle, RuntimeId, RuntimeRegistry};

pub(crate) use client::FeedClient;
use picture::{RuntimePicture, SYNCED_FRAME};
use slots::Slots;
pub(crate) use slots::Watched;

/// How many broadcasts (changes of one runtime that came together) a browser may fall behind
/// before it is sent the whole picture again.
const BROADCAST_BUFFER: usize = 1024;

/// The longest a browser waits for a runtime's first picture before it is answered with what is
/// known, beyond the runtime's own call timeout.
const FIRST_PICTURE_SLACK: Duration = Duration::from_secs(1);

/// The changes of one runtime that came together, as rendered frames.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    /// The runtime's place in the hub.
    runtime: usize,
    frames: Bytes,
    /// The runtime left the workspace with these frames: nothing more comes from it.
    removed: bool,
}

/// The workspace feed's hub.
pub(crate) struct FeedHub {
    shared: Arc<HubShared>,
}

struct HubShared {
    slots: Mutex<Slots>,
    sender: broadcast::Sender<Change>,
    /// Bumped whenever a runtime's picture becomes known, so that waiting browsers look again.
    known: watch::Sender<()>,
    /// How long an upstream task outlives its last watcher.
    grace: Duration,
}

/// A browser's watch of some runtimes: counted while it lives, released when dropped.
pub(crate) struct Watch {
    hub: Arc<HubShared>,
    watched: Watched,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.hub.release(&self.watched);
    }
}

impl FeedHub {
    /// The hub over the visible runtimes of `registry`; upstream tasks outlive their last
    /// watcher by `grace`.
    pub(crate) fn new(registry: &RuntimeRegistry, grace: Duration) -> Self {
        let mut slots = Slots::default();
        for handle in registry.visible() {
            slots.add(Arc::clone(handle));
        }
        Self {
            shared: Arc::new(HubShared {
                slots: Mutex::new(slots),
                sender: broadcast::Sender::new(BROADCAST_BUFFER),
                known: watch::Sender::new(()),
                grace,
            }),
        }
    }

    /// The place of the visible runtime `id`.
    pub(crate) fn place_of(&self, id: &RuntimeId) -> Option<usize> {
        self.shared.lock().place_of(id)
    }

    /// A browser's feed of `watched`: their whole picture first, once known, then their
    /// changes. Following them starts now.
    pub(crate) fn subscribe(&self, watched: Watched) -> FeedClient {
        FeedClient::new(HubShared::attach(&self.shared, watched))
    }

    /// From now on the feed holds the runtimes of `visible` (in their order), after a reload.
    /// A runtime no longer among them is removed: its browsers are told so and it is no longer
    /// followed. One whose handle is new is followed anew, its picture replaced by the new
    /// handle's whole picture. A new one is added, and followed when watched (a browser that
    /// watches everything watches it).
    pub(crate) fn reconcile(&self, visible: &[Arc<dyn RuntimeHandle>]) {
        let shared = &self.shared;
        let mut slots = shared.lock();
        for (place, frames) in slots.remove_absent(visible) {
            let _ = shared.sender.send(Change {
                runtime: place,
                frames,
                removed: true,
            });
        }
        for handle in visible {
            let place = match slots.place_of(&handle.descriptor().id) {
                Some(place) => place,
                None => {
                    let place = slots.add(Arc::clone(handle));
                    shared.start_if_watched(&mut slots, place);
                    continue;
                }
            };
            let slot = slots.get_mut(place).expect("a place found is live");
            if Arc::ptr_eq(&slot.handle, handle) {
                continue;
            }
            slot.stop_upstream();
            slot.handle = Arc::clone(handle);
            let mut frames = BytesMut::new();
            slot.picture.reconfigure(handle.descriptor(), &mut frames);
            if !frames.is_empty() {
                let _ = shared.sender.send(Change {
                    runtime: place,
                    frames: frames.freeze(),
                    removed: false,
                });
            }
            shared.start_if_watched(&mut slots, place);
        }
        drop(slots);
        // A browser waiting for a runtime that is gone waits for it no longer.
        shared.known.send_replace(());
    }
}

impl HubShared {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a watcher of what `watched` names and starts the upstream tasks not running.
    fn attach(self: &Arc<Self>, watched: Watched) -> Watch {
        let mut slots = self.lock();
        for place in slots.watch(&watched) {
            self.start_if_watched(&mut slots, place);
        }
        drop(slots);
        Watch {
            hub: Arc::clone(self),
            watched,
        }
    }

    /// Starts following the runtime at `place` if someone watches it and no task does.
    fn start_if_watched(self: &Arc<Self>, slots: &mut Slots, place: usize) {
        let everything = slots.everything;
        let Some(slot) = slots.get_mut(place) else {
            return;
        };
        if slot.upstream.is_some() || !slot.watched(everything) {
            return;
        }
        let handle = Arc::clone(&slot.handle);
        let runtime_id = handle.descriptor().id.clone();
        let following =
            upstream::Following::new(Arc::clone(self), place, slot.generation, runtime_id);
        let task = tokio::spawn(upstream::follow(following, handle));
        slot.upstream = Some(task.abort_handle());
    }

    /// Releases a watcher of what `watched` names; an upstream left without one stops after
    /// the grace period, and its picture is forgotten.
    fn release(self: &Arc<Self>, watched: &Watched) {
        let mut slots = self.lock();
        for (place, departure) in slots.unwatch(watched) {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                slots.reap(place, departure);
                continue;
            };
            let shared = Arc::clone(self);
            runtime.spawn(async move {
                tokio::time::sleep(shared.grace).await;
                shared.lock().reap(place, departure);
            });
        }
    }

    /// The upstream task of `generation` at `place` ended without being stopped (it panicked):
    /// the runtime is unavailable, and the next watcher starts a new task.
    fn upstream_failed(&self, place: usize, generation: u64, error: &RegistryError) {
        self.update(place, generation, |picture, changes| {
            picture.lost(error, changes);
        });
        let mut slots = self.lock();
        if let Some(slot) = slots.get_mut(place)
            && slot.generation == generation
        {
            slot.upstream = None;
            slot.generation += 1;
        }
    }

    /// Waits until every runtime `watched` names is known, at most a little longer than the
    /// slowest one's call timeout.
    async fn wait_known(&self, watched: &Watched) {
        let mut known = self.known.subscribe();
        let longest = self.lock().longest_timeout(watched);
        let all_known = async {
            loop {
                known.mark_unchanged();
                if self.lock().all_known(watched) || known.changed().await.is_err() {
                    return;
                }
            }
        };
        // Past the bound, the browser is answered with what is known (a runtime not yet heard
        // from is `unavailable`, and its picture follows when it comes).
        let _ = tokio::time::timeout(longest + FIRST_PICTURE_SLACK, all_known).await;
    }

    /// The whole picture of what `watched` names (its chunks, shared, not copied) and
    /// `synced`, with a receiver of every later change, taken together so that no change is
    /// missed or sent twice. A runtime named that a reload removed meanwhile is told removed
    /// and forgotten; the receiver is `None` when none is left to watch.
    fn join(
        &self,
        watched: &mut Watched,
    ) -> (VecDeque<Bytes>, Option<broadcast::Receiver<Change>>) {
        let mut slots = self.lock();
        let mut picture = VecDeque::new();
        if let Watched::Only(places) = watched {
            for place in places.clone() {
                if let Some(frame) = slots.removed_frame(place) {
                    picture.push_back(frame);
                    watched.forget(place);
                }
            }
        }
        for place in slots.places_of(watched) {
            if let Some(slot) = slots.get_mut(place) {
                slot.picture.frames(&mut picture);
            }
        }
        picture.push_back(Bytes::from_static(SYNCED_FRAME));
        let nothing_left = matches!(watched, Watched::Only(places) if places.is_empty());
        (picture, (!nothing_left).then(|| self.sender.subscribe()))
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
        let Some(slot) = slots
            .get_mut(place)
            .filter(|slot| slot.generation == generation)
        else {
            return;
        };
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
                removed: false,
            });
        }
        drop(slots);
        if now_known && !was_known {
            self.known.send_replace(());
        }
    }
}
