//! One browser's stream: frames from its shared channel (its backlog, then live), or from a
//! private upstream replay until it can join the channel. Events it already has are dropped by
//! sequence.

use std::collections::VecDeque;

use axum::body::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use yoi_registry_core::{EventStream, RuntimeId, StreamItem, WorkerId};

use super::Attachment;
use super::channel::Joined;
use super::frame::{self, Frame};

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
    Private(EventStream),
    /// Nothing more.
    Ended,
}

impl ClientStream {
    pub(super) fn shared(attachment: Attachment, joined: Joined) -> Self {
        Self {
            attachment,
            last: joined.last,
            source: Source::Shared {
                backlog: joined.backlog,
                receiver: joined.receiver,
            },
        }
    }

    pub(super) fn private(
        attachment: Attachment,
        upstream: EventStream,
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
            match &mut self.source {
                Source::Ended => return None,
                Source::Shared { backlog, receiver } => {
                    if let Some(frame) = backlog.pop_front() {
                        return Some(frame);
                    }
                    match receiver.recv().await {
                        Ok(Frame::Event { sequence, bytes }) => {
                            if self.last.is_some_and(|last| sequence <= last) {
                                continue;
                            }
                            self.last = Some(sequence);
                            return Some(bytes);
                        }
                        Ok(Frame::Notice(bytes)) => return Some(bytes),
                        Ok(Frame::End(last)) => {
                            self.source = Source::Ended;
                            return last;
                        }
                        Err(RecvError::Lagged(_)) => {
                            self.source = Source::Ended;
                            let (runtime_id, worker_id) = self.key();
                            return Some(frame::fell_behind(runtime_id, worker_id));
                        }
                        Err(RecvError::Closed) => {
                            self.source = Source::Ended;
                            return None;
                        }
                    }
                }
                Source::Private(upstream) => {
                    if let Some(joined) = self.attachment.join(self.last) {
                        self.last = self.last.max(joined.last);
                        self.source = Source::Shared {
                            backlog: joined.backlog,
                            receiver: joined.receiver,
                        };
                        continue;
                    }
                    let item = upstream.next().await;
                    let (runtime_id, worker_id) = self.key();
                    match item {
                        Some(Ok(StreamItem::Event(event))) => {
                            if self.last.is_some_and(|last| event.sequence <= last) {
                                continue;
                            }
                            let bytes = frame::event(runtime_id, worker_id, &event);
                            self.last = Some(event.sequence);
                            return Some(bytes);
                        }
                        Some(Ok(StreamItem::Lost(error))) => {
                            return Some(frame::status(runtime_id, worker_id, Some(&error)));
                        }
                        Some(Ok(StreamItem::Recovered)) => {
                            return Some(frame::status(runtime_id, worker_id, None));
                        }
                        Some(Err(error)) => {
                            let error = error.for_runtime(runtime_id).for_worker(worker_id);
                            self.source = Source::Ended;
                            return Some(frame::failure(error));
                        }
                        None => {
                            self.source = Source::Ended;
                            return None;
                        }
                    }
                }
            }
        }
    }

    fn key(&self) -> (&RuntimeId, &WorkerId) {
        (&self.attachment.key.0, &self.attachment.key.1)
    }
}
