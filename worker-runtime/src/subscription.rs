//! [`EventStream`]: the retained events after a cursor, then live ones, read from the Worker's
//! log by cursor so that each sequence arrives exactly once and in order.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll};

use futures::stream::{BoxStream, Stream, StreamExt};
use tokio::sync::watch;

use crate::error::RuntimeError;
use crate::event::Event;
use crate::worker_cell::{NewEvents, WorkerCell};

/// How many events a subscriber copies out of the log per lock.
const BATCH: usize = 256;

/// A Worker's events after a cursor: first the retained ones, then live ones as they happen.
///
/// The stream ends after the Worker's `worker_stopped` event, or when its Runtime is dropped.
/// A subscriber that falls so far behind that the events after its cursor were dropped by
/// retention receives one `Err(RuntimeError::CursorExpired)` and then the stream ends: it never
/// skips events silently.
pub struct EventStream {
    inner: BoxStream<'static, Result<Event, RuntimeError>>,
}

/// The subscriber's position and what it has copied but not yet yielded.
struct Subscriber {
    /// Weak, so a dropped Runtime ends its streams instead of being kept alive by them.
    cell: Weak<WorkerCell>,
    cursor: u64,
    pending: VecDeque<Event>,
    news: watch::Receiver<u64>,
    finished: bool,
}

impl EventStream {
    /// Streams the events of `cell` after `cursor`.
    pub(crate) fn new(cell: &std::sync::Arc<WorkerCell>, cursor: u64) -> Self {
        let subscriber = Subscriber {
            cell: std::sync::Arc::downgrade(cell),
            cursor,
            pending: VecDeque::new(),
            news: cell.watch(),
            finished: false,
        };
        Self {
            inner: futures::stream::unfold(subscriber, Subscriber::next).boxed(),
        }
    }
}

impl Subscriber {
    async fn next(mut self) -> Option<(Result<Event, RuntimeError>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.cursor = event.sequence;
                return Some((Ok(event), self));
            }
            if self.finished {
                return None;
            }
            let cell = self.cell.upgrade()?;
            // Mark the signal seen before reading, so an event recorded after the read wakes us.
            self.news.borrow_and_update();
            match cell.events_after(self.cursor, BATCH) {
                NewEvents::Events(events) => self.pending = events.into(),
                NewEvents::Expired { oldest } => {
                    self.finished = true;
                    let cursor = self.cursor;
                    return Some((Err(RuntimeError::CursorExpired { cursor, oldest }), self));
                }
                NewEvents::UpToDate { stopped: true } => return None,
                NewEvents::UpToDate { stopped: false } => {
                    drop(cell);
                    // An error means the Worker (and its Runtime) is gone: end the stream.
                    self.news.changed().await.ok()?;
                }
            }
        }
    }
}

impl Stream for EventStream {
    type Item = Result<Event, RuntimeError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}
