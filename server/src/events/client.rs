//! One browser's stream: frames from its shared channel (its backlog, then live), or from a
//! private upstream replay until it can join the channel. Events it already has are dropped by
//! sequence.

use std::collections::VecDeque;

use axum::body::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use worker_runtime::http::ready_batches;
use yoi_registry_core::{RegistryError, StreamItem, WorkerEvents};

use super::Attachment;
use super::batch::{Batch, Batcher, READY_ITEMS};
use super::channel::Joined;
use super::frame::{self, Frame};

/// A browser's stream of frames; dropping it releases its hold on the worker's channel.
pub(crate) struct ClientStream {
    attachment: Attachment,
    /// The newest sequence sent or queued in `outbox`.
    last: Option<u64>,
    /// Frames ready to send, in order, before anything more is read.
    outbox: VecDeque<Bytes>,
    source: Source,
}

enum Source {
    /// The shared channel's live frames.
    Shared(broadcast::Receiver<Frame>),
    /// A private replay from the runtime, until the channel covers where it is.
    Private(BoxStream<'static, Vec<Result<StreamItem, RegistryError>>>),
    /// Nothing more.
    Ended,
}

impl ClientStream {
    pub(super) fn shared(attachment: Attachment, joined: Joined) -> Self {
        Self {
            attachment,
            last: joined.last,
            outbox: joined.backlog,
            source: Source::Shared(joined.receiver),
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
            outbox: VecDeque::new(),
            source: Source::Private(ready_batches(upstream, READY_ITEMS).boxed()),
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
            if let Some(frame) = self.outbox.pop_front() {
                return Some(frame);
            }
            match &mut self.source {
                Source::Ended => return None,
                Source::Shared(receiver) => {
                    let received = receiver.recv().await;
                    self.on_channel(received);
                }
                Source::Private(upstream) => {
                    if let Some(joined) = self.attachment.join(self.last) {
                        self.last = self.last.max(joined.last);
                        self.outbox = joined.backlog;
                        self.source = Source::Shared(joined.receiver);
                        continue;
                    }
                    // A shared stream is ended by its channel; a private one by itself.
                    let next = tokio::select! {
                        biased;
                        () = self.attachment.lifetime.ended() => None,
                        items = upstream.next() => Some(items),
                    };
                    match next {
                        Some(items) => self.on_upstream(items),
                        None => {
                            let (runtime_id, worker_id) = &self.attachment.key;
                            let last = self.attachment.lifetime.end_frame(runtime_id, worker_id);
                            self.end(Some(last));
                        }
                    }
                }
            }
        }
    }

    /// Queues what the shared channel gave; events the browser already has are dropped.
    fn on_channel(&mut self, received: Result<Frame, RecvError>) {
        match received {
            Ok(Frame::Events(batch)) => self.outbox.extend(batch.after(&mut self.last)),
            Ok(Frame::Notice(bytes)) => self.outbox.push_back(bytes),
            Ok(Frame::End(last)) => self.end(last),
            Err(RecvError::Lagged(_)) => {
                let (runtime_id, worker_id) = &self.attachment.key;
                let reset = frame::fell_behind(runtime_id, worker_id);
                self.end(Some(reset));
            }
            Err(RecvError::Closed) => self.end(None),
        }
    }

    /// Queues what the private replay gave, the events that came together as one batch; an
    /// event the browser already has is skipped before it is rendered.
    fn on_upstream(&mut self, items: Option<Vec<Result<StreamItem, RegistryError>>>) {
        let Some(items) = items else {
            self.end(None);
            return;
        };
        let (runtime_id, worker_id) = &self.attachment.key;
        let mut batcher = Batcher::new(runtime_id, worker_id);
        for item in items {
            let notice = match item {
                Ok(StreamItem::Event(event)) => {
                    if advance(&mut self.last, event.sequence()) {
                        self.outbox
                            .extend(batcher.push(&event).map(Batch::into_bytes));
                    }
                    continue;
                }
                Ok(StreamItem::Lost(error)) => frame::status(runtime_id, worker_id, Some(&error)),
                Ok(StreamItem::Recovered) => frame::status(runtime_id, worker_id, None),
                Err(error) => {
                    self.outbox.extend(batcher.take().map(Batch::into_bytes));
                    let error = error.for_runtime(runtime_id).for_worker(worker_id);
                    self.end(Some(frame::failure(error)));
                    return;
                }
            };
            self.outbox.extend(batcher.take().map(Batch::into_bytes));
            self.outbox.push_back(notice);
        }
        self.outbox.extend(batcher.take().map(Batch::into_bytes));
    }

    /// Ends the stream after what is queued and `last`, when there is one.
    fn end(&mut self, last: Option<Bytes>) {
        self.outbox.extend(last);
        self.source = Source::Ended;
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
