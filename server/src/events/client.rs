//! One browser's stream: frames from its shared channel (its backlog, then live), or from a
//! private upstream replay until it can join the channel. Events it already has are dropped by
//! sequence.

use axum::body::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use yoi_registry_core::{RegistryError, StreamItem, WorkerEvents};

use super::Attachment;
use super::channel::Joined;
use super::frame::{self, Frame};

/// What one read from the source means for the browser.
enum Step {
    /// Send this frame.
    Send(Bytes),
    /// Nothing to send (an event the browser already has): read on.
    Skip,
    /// End the stream, after this last frame if there is one.
    End(Option<Bytes>),
}

/// A browser's stream of frames; dropping it releases its hold on the worker's channel.
pub(crate) struct ClientStream {
    attachment: Attachment,
    /// The newest sequence sent.
    last: Option<u64>,
    source: Source,
}

enum Source {
    /// The shared channel, from the backlog it gave on joining.
    Shared(Joined),
    /// A private replay from the runtime, until the channel covers where it is.
    Private(WorkerEvents),
    /// Nothing more.
    Ended,
}

impl ClientStream {
    pub(super) fn shared(attachment: Attachment, joined: Joined) -> Self {
        Self {
            attachment,
            last: joined.last,
            source: Source::Shared(joined),
        }
    }

    pub(super) fn private(
        attachment: Attachment,
        upstream: WorkerEvents,
        position: Option<u64>,
    ) -> Self {
        Self {
            attachment,
            last: position,
            source: Source::Private(upstream),
        }
    }

    /// The frames, in order, until the stream ends.
    pub(crate) fn frames(self) -> impl Stream<Item = Bytes> + Send + 'static {
        futures::stream::unfold(self, |mut client| async move {
            let frame = client.next_frame().await?;
            Some((frame, client))
        })
    }

    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            let step = match &mut self.source {
                Source::Ended => return None,
                Source::Shared(joined) => {
                    if let Some(frame) = joined.backlog.pop_front() {
                        return Some(frame);
                    }
                    let received = joined.receiver.recv().await;
                    self.on_channel(received)
                }
                Source::Private(upstream) => {
                    if let Some(joined) = self.attachment.join(self.last) {
                        self.last = self.last.max(joined.last);
                        self.source = Source::Shared(joined);
                        continue;
                    }
                    let item = upstream.next().await;
                    self.on_upstream(item)
                }
            };
            match step {
                Step::Send(bytes) => return Some(bytes),
                Step::Skip => {}
                Step::End(last) => {
                    self.source = Source::Ended;
                    return last;
                }
            }
        }
    }

    /// What to do with what the shared channel gave.
    fn on_channel(&mut self, received: Result<Frame, RecvError>) -> Step {
        match received {
            Ok(Frame::Event { sequence, bytes }) if advance(&mut self.last, sequence) => {
                Step::Send(bytes)
            }
            Ok(Frame::Event { .. }) => Step::Skip,
            Ok(Frame::Notice(bytes)) => Step::Send(bytes),
            Ok(Frame::End(last)) => Step::End(last),
            Err(RecvError::Lagged(_)) => {
                let (runtime_id, worker_id) = &self.attachment.key;
                Step::End(Some(frame::fell_behind(runtime_id, worker_id)))
            }
            Err(RecvError::Closed) => Step::End(None),
        }
    }

    /// What to do with what the private replay gave.
    fn on_upstream(&mut self, item: Option<Result<StreamItem, RegistryError>>) -> Step {
        let (runtime_id, worker_id) = &self.attachment.key;
        match item {
            // An event the browser already has is skipped before it is rendered.
            Some(Ok(StreamItem::Event(event))) if advance(&mut self.last, event.sequence) => {
                Step::Send(frame::event(runtime_id, worker_id, &event))
            }
            Some(Ok(StreamItem::Event(_))) => Step::Skip,
            Some(Ok(StreamItem::Lost(error))) => {
                Step::Send(frame::status(runtime_id, worker_id, Some(&error)))
            }
            Some(Ok(StreamItem::Recovered)) => {
                Step::Send(frame::status(runtime_id, worker_id, None))
            }
            Some(Err(error)) => {
                let error = error.for_runtime(runtime_id).for_worker(worker_id);
                Step::End(Some(frame::failure(error)))
            }
            None => Step::End(None),
        }
    }
}

/// Whether the event `sequence` is newer than `last`, the newest sent; if so, it is the newest
/// sent now.
fn advance(last: &mut Option<u64>, sequence: u64) -> bool {
    if last.is_some_and(|last| sequence <= last) {
        return false;
    }
    *last = Some(sequence);
    true
}
