//! The Runtime's feed: the state of every Worker, then each new state as it happens. A state is
//! a state, not a delta: applied in any order, keeping per Worker the one with the higher
//! `last_sequence` gives the right picture. A subscriber that falls behind is sent the whole
//! picture again, never left with a silent gap. Nobody subscribed costs nothing per change; any
//! number of subscribers cost one broadcast per change.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{BoxStream, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::event::Usage;
use crate::id::WorkerId;
use crate::time::Timestamp;
use crate::worker::WorkerStatus;

/// How many states a subscriber may fall behind before it is sent the whole picture again.
const FEED_BUFFER: usize = 1024;

/// A Worker's state, as the feed tells it: whenever the Worker is created, starts or ends a
/// run, or stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerSnapshot {
    /// The Worker's id.
    pub worker_id: WorkerId,
    /// Its status.
    pub status: WorkerStatus,
    /// The profile whose engine serves it.
    pub profile: String,
    /// A name for people, if it has one.
    pub display_name: Option<String>,
    /// The sequence of its newest event: of two states of a Worker, the one with the higher is
    /// the newer.
    pub last_sequence: u64,
    /// When its newest event happened.
    pub at: Timestamp,
    /// The tokens its runs used in all, when its engine's provider reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// One item of a [`Feed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// A Worker's state.
    Worker(WorkerSnapshot),
    /// Every Worker's state has been sent: the picture is complete; changes follow.
    Synced,
}

/// Where a Runtime announces new states.
#[derive(Debug)]
pub(crate) struct FeedSender(broadcast::Sender<WorkerSnapshot>);

impl FeedSender {
    pub(crate) fn new() -> Self {
        Self(broadcast::Sender::new(FEED_BUFFER))
    }

    /// Announces the state `snapshot` makes, built only when someone listens.
    pub(crate) fn announce(&self, snapshot: impl FnOnce() -> WorkerSnapshot) {
        if self.0.receiver_count() > 0 {
            // A subscriber that left in between is fine.
            let _ = self.0.send(snapshot());
        }
    }
}

/// The states of every Worker, then `synced`, then each new state; after falling behind, the
/// whole picture again (and `synced`). It ends when its Runtime is dropped.
pub struct Feed {
    inner: BoxStream<'static, FeedItem>,
}

/// A feed's position: what it has to send, and what it listens to.
struct Subscriber<P> {
    pending: VecDeque<FeedItem>,
    receiver: broadcast::Receiver<WorkerSnapshot>,
    /// The current picture, while its Runtime lives.
    picture: P,
}

impl Feed {
    /// A feed on `sender`, starting with the picture `picture` answers (`None` once the
    /// Runtime is gone). It listens before taking the picture, so no change falls in between.
    pub(crate) fn new<P>(sender: &FeedSender, picture: P) -> Self
    where
        P: Fn() -> Option<Vec<WorkerSnapshot>> + Send + 'static,
    {
        let receiver = sender.0.subscribe();
        let pending = picture_items(picture().unwrap_or_default());
        let subscriber = Subscriber {
            pending,
            receiver,
            picture,
        };
        Self {
            inner: futures::stream::unfold(subscriber, Subscriber::next).boxed(),
        }
    }
}

impl<P> Subscriber<P>
where
    P: Fn() -> Option<Vec<WorkerSnapshot>> + Send + 'static,
{
    async fn next(mut self) -> Option<(FeedItem, Self)> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some((item, self));
            }
            match self.receiver.recv().await {
                Ok(snapshot) => return Some((FeedItem::Worker(snapshot), self)),
                Err(RecvError::Lagged(_)) => self.pending = picture_items((self.picture)()?),
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// A picture's items: each state, then `synced`.
fn picture_items(snapshots: Vec<WorkerSnapshot>) -> VecDeque<FeedItem> {
    snapshots
        .into_iter()
        .map(FeedItem::Worker)
        .chain([FeedItem::Synced])
        .collect()
}

impl Stream for Feed {
    type Item = FeedItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<FeedItem>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").finish_non_exhaustive()
    }
}
