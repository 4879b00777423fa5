//! One browser's stream: frames from its shared channel (its backlog, then live), or from a
//! private upstream replay until it can join the channel. Events it already has are dropped by
//! sequence.

use std::collections::VecDeque;

use axum::body::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use yoi_registry_core::{RegistryError, RuntimeId, StreamItem, WorkerEvents, WorkerId};

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
    /// The shared channel.
    Shared {
        backlog: VecDeque<Bytes>,
        receiver: tokio::sync::broadcast::Receiver<Frame>,
    },
    /// A private replay from the runtime, until the channel covers where it is.
    Private(WorkerEvents),
    /// Nothing more.
    Ended,
}

impl Source {
    /// The shared channel, from the backlog it gave on joining.
    fn shared(joined: Joined) -> Self {
        Self::Shared {
            backlog: joined.backlog,
            receiver: joined.receiver,
        }
    }
}

impl ClientStream {
    pub(super) fn shared(attachment: Attachment, joined: Joined) -> Self {
        Self {
            attachment,
            last: joined.last,
            source: Source::shared(joined),
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
                Source::Shared { backlog, receiver } => {
                    if let Some(frame) = backlog.pop_front() {
                        return Some(frame);
                    }
                    let received = receiver.recv().await;
                    self.on_channel(received)
                }
                Source::Private(upstream) => {
                    if let Some(joined) = self.attachment.join(self.last) {
                        self.last = self.last.max(joined.last);
                        self.source = Source::shared(joined);
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
            Ok(Frame::Event { sequence, bytes }) => match self.advance(sequence) {
                true => Step::Send(bytes),
                false => Step::Skip,
            },
            Ok(Frame::Notice(bytes)) => Step::Send(bytes),
            Ok(Frame::End(last)) => Step::End(last),
            Err(RecvError::Lagged(_)) => {
                let (runtime_id, worker_id) = self.key();
                Step::End(Some(frame::fell_behind(runtime_id, worker_id)))
            }
            Err(RecvError::Closed) => Step::End(None),
        }
    }

    /// What to do with what the private replay gave.
    fn on_upstream(&mut self, item: Option<Result<StreamItem, RegistryError>>) -> Step {
        // An event the browser already has is skipped before it is rendered.
        if let Some(Ok(StreamItem::Event(event))) = &item
            && !self.advance(event.sequence)
        {
            return Step::Skip;
        }
        let (runtime_id, worker_id) = self.key();
        match item {
            Some(Ok(StreamItem::Event(event))) => {
                Step::Send(frame::event(runtime_id, worker_id, &event))
            }
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

    /// Whether the event `sequence` is newer than any sent; if so, it is the newest sent now.
    fn advance(&mut self, sequence: u64) -> bool {
        if self.last.is_some_and(|last| sequence <= last) {
            return false;
        }
        self.last = Some(sequence);
        true
    }

    fn key(&self) -> (&RuntimeId, &WorkerId) {
        (&self.attachment.key.0, &self.attachment.key.1)
    }
}
