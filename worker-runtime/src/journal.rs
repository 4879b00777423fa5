//! Where a Worker's history goes besides memory. The Runtime calls its journal under the Worker's
//! lock, so what a journal receives is in sequence order. Memory-only Runtimes have none; the
//! `fs-store` feature writes one to disk.

use std::sync::Arc;

use tokio::sync::watch;

use crate::event::Event;
use crate::id::WorkerId;
use crate::transcript::TranscriptEntry;
use crate::worker::WorkerDetail;

/// Where a Worker's subscribers learn the newest sequence they may read. A journal sets it once
/// an event is written, so nobody sees an event that is not yet kept.
pub(crate) type Published = Arc<watch::Sender<u64>>;

/// Receives a Worker's history as it is recorded. Implementations report their own failures (as
/// diagnostics); a failed write never fails the operation that caused it, and its event is
/// still published.
pub(crate) trait Journal: Send + Sync {
    /// An event was recorded; publish its sequence to `published` once it is kept.
    fn append_event(&self, event: Event, published: Published);
    /// A transcript entry was recorded.
    fn append_turn(&self, entry: TranscriptEntry);
    /// The Worker was created or its lasting state (stopped) changed.
    fn save_worker(&self, detail: WorkerDetail);
}

/// Hands out the journal of each Worker of a Runtime.
pub(crate) trait Store: Send + Sync {
    /// The journal of Worker `id`.
    fn journal(&self, id: &WorkerId) -> Box<dyn Journal>;

    /// Waits until everything journaled so far is kept.
    fn flush(&self) -> futures::future::BoxFuture<'_, ()>;
}
