//! Where a Worker's history goes besides memory. The Runtime calls its journal under the Worker's
//! lock, so what a journal receives is in sequence order. Memory-only Runtimes have none; the
//! `fs-store` feature writes one to disk.

use crate::event::Event;
use crate::id::WorkerId;
use crate::transcript::TranscriptEntry;
use crate::worker::WorkerDetail;

/// Receives a Worker's history as it is recorded. Implementations report their own failures (as
/// diagnostics); a failed write never fails the operation that caused it.
pub(crate) trait Journal: Send + Sync {
    /// An event was recorded.
    fn append_event(&self, event: &Event);
    /// A transcript entry was recorded.
    fn append_turn(&self, entry: &TranscriptEntry);
    /// The Worker was created or its lasting state (stopped) changed.
    fn save_worker(&self, detail: &WorkerDetail);
}

/// Hands out the journal of each Worker of a Runtime.
pub(crate) trait Store: Send + Sync {
    /// The journal of Worker `id`.
    fn journal(&self, id: &WorkerId) -> Box<dyn Journal>;
}
