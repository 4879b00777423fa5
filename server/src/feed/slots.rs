//! The hub's bookkeeping: one slot per runtime the feed has (its handle, picture, watchers and
//! upstream task), at a place that is never reused, so that a change or a watch that names a
//! place always means one runtime, even across reloads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use tokio::task::AbortHandle;
use yoi_registry_core::{RuntimeHandle, RuntimeId};

use super::picture::RuntimePicture;

/// What a browser watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Watched {
    /// Every visible runtime, including those a reload adds.
    Everything,
    /// The runtimes at these places (sorted, each once).
    Only(Vec<usize>),
}

impl Watched {
    /// Whether the runtime at `place` is watched.
    pub(crate) fn includes(&self, place: usize) -> bool {
        match self {
            Self::Everything => true,
            Self::Only(places) => places.binary_search(&place).is_ok(),
        }
    }

    /// The runtime at `place` is gone; answers whether nothing is left to watch.
    pub(crate) fn forget(&mut self, place: usize) -> bool {
        match self {
            Self::Everything => false,
            Self::Only(places) => {
                places.retain(|watched| *watched != place);
                places.is_empty()
            }
        }
    }
}

/// One runtime's place in the hub.
pub(super) struct Slot {
    pub(super) handle: Arc<dyn RuntimeHandle>,
    pub(super) picture: RuntimePicture,
    /// Browsers watching it by name.
    watchers: usize,
    /// The task that follows it, while one does.
    pub(super) upstream: Option<AbortHandle>,
    /// Counts the times its last watcher left, so that a reap scheduled before a browser came
    /// and went again does not stop the upstream early.
    departures: u64,
    /// Bumped whenever its upstream task is stopped, so that what a stopped task still says
    /// (an abort takes effect at its next await) is ignored.
    pub(super) generation: u64,
}

impl Slot {
    /// Whether anyone watches it, given how many browsers watch everything.
    pub(super) fn watched(&self, everything: usize) -> bool {
        self.watchers > 0 || everything > 0
    }

    /// Stops its upstream task, if one runs; what it still says is ignored.
    pub(super) fn stop_upstream(&mut self) {
        if let Some(upstream) = self.upstream.take() {
            upstream.abort();
        }
        self.generation += 1;
    }
}

/// Every runtime the feed has had, by place.
#[derive(Default)]
pub(super) struct Slots {
    /// A removed runtime's place stays empty.
    places: Vec<Option<Slot>>,
    /// The frame that told each removed runtime's browsers, by place, for a browser that asked
    /// for it just before it went.
    gone: BTreeMap<usize, Bytes>,
    /// Browsers watching everything.
    pub(super) everything: usize,
}

impl Slots {
    /// Adds `handle`'s runtime, not followed yet, at a new place.
    pub(super) fn add(&mut self, handle: Arc<dyn RuntimeHandle>) -> usize {
        self.places.push(Some(Slot {
            picture: RuntimePicture::new(handle.descriptor()),
            handle,
            watchers: 0,
            upstream: None,
            departures: 0,
            generation: 0,
        }));
        self.places.len() - 1
    }

    /// The place of the runtime `id`, if the feed has it.
    pub(super) fn place_of(&self, id: &RuntimeId) -> Option<usize> {
        self.live()
            .find(|(_, slot)| &slot.handle.descriptor().id == id)
            .map(|(place, _)| place)
    }

    /// The runtime at `place`, unless it was removed.
    pub(super) fn get_mut(&mut self, place: usize) -> Option<&mut Slot> {
        self.places.get_mut(place)?.as_mut()
    }

    fn live(&self) -> impl Iterator<Item = (usize, &Slot)> {
        self.places
            .iter()
            .enumerate()
            .filter_map(|(place, slot)| Some((place, slot.as_ref()?)))
    }

    /// Removes the runtimes not among `visible`, their upstream stopped; answers the frame that
    /// tells each one's browsers, with its place.
    pub(super) fn remove_absent(
        &mut self,
        visible: &[Arc<dyn RuntimeHandle>],
    ) -> Vec<(usize, Bytes)> {
        let kept = |slot: &Slot| {
            let id = &slot.handle.descriptor().id;
            visible.iter().any(|handle| &handle.descriptor().id == id)
        };
        let mut removed = Vec::new();
        for (place, entry) in self.places.iter_mut().enumerate() {
            if entry.as_ref().is_some_and(|slot| !kept(slot)) {
                let mut slot = entry.take().expect("checked to be live");
                slot.stop_upstream();
                let frame = slot.picture.removed_frame();
                self.gone.insert(place, frame.clone());
                removed.push((place, frame));
            }
        }
        removed
    }

    /// The frame that told the browsers of the runtime at `place` it was removed, if it was.
    pub(super) fn removed_frame(&self, place: usize) -> Option<Bytes> {
        self.gone.get(&place).cloned()
    }

    /// The places `watched` names now.
    pub(super) fn places_of(&self, watched: &Watched) -> Vec<usize> {
        self.live()
            .filter(|(place, _)| watched.includes(*place))
            .map(|(place, _)| place)
            .collect()
    }

    /// Counts a watcher of what `watched` names; answers the places it watches.
    pub(super) fn watch(&mut self, watched: &Watched) -> Vec<usize> {
        if let Watched::Everything = watched {
            self.everything += 1;
        }
        let places = self.places_of(watched);
        if let Watched::Only(_) = watched {
            for &place in &places {
                self.get_mut(place).expect("live").watchers += 1;
            }
        }
        places
    }

    /// Releases a watcher of what `watched` names; answers each place left unwatched, with the
    /// departure that a later [`Slots::reap`] must still find.
    pub(super) fn unwatch(&mut self, watched: &Watched) -> Vec<(usize, u64)> {
        if let Watched::Everything = watched {
            self.everything -= 1;
        }
        let everything = self.everything;
        let mut unwatched = Vec::new();
        for place in self.places_of(watched) {
            let slot = self.get_mut(place).expect("live");
            if let Watched::Only(_) = watched {
                slot.watchers -= 1;
            }
            if !slot.watched(everything) {
                slot.departures += 1;
                unwatched.push((place, slot.departures));
            }
        }
        unwatched
    }

    /// Stops following the runtime at `place` if nobody came back since `departure`; its
    /// picture is forgotten.
    pub(super) fn reap(&mut self, place: usize, departure: u64) {
        let everything = self.everything;
        let Some(slot) = self.get_mut(place) else {
            return;
        };
        if !slot.watched(everything) && slot.departures == departure {
            slot.stop_upstream();
            slot.picture.clear();
        }
    }

    /// The longest call timeout among the runtimes `watched` names.
    pub(super) fn longest_timeout(&self, watched: &Watched) -> Duration {
        self.live()
            .filter(|(place, _)| watched.includes(*place))
            .map(|(_, slot)| slot.handle.descriptor().timeout)
            .max()
            .unwrap_or_default()
    }

    /// Whether every runtime `watched` names is known.
    pub(super) fn all_known(&self, watched: &Watched) -> bool {
        self.live()
            .filter(|(place, _)| watched.includes(*place))
            .all(|(_, slot)| slot.picture.is_known())
    }
}
