//! One shared upstream subscription to a worker's events. A pump task reads the upstream stream,
//! renders each event once (the events that are ready together into one batch), keeps the most
//! recent frames for clients that join or resume, and broadcasts every batch to the clients. A
//! client that falls more than the buffer's number of broadcasts behind is told so by the
//! broadcast (`Lagged`) and closed; the others never wait for it.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use axum::body::Bytes;
use futures::StreamExt;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;
use worker_runtime::http::ready_batches;
use yoi_registry_core::{ErrorCode, RegistryError, RuntimeId, StreamItem, WorkerEvents, WorkerId};

use super::batch::{Batch, Batcher, READY_ITEMS};
use super::frame::{self, Frame};
use crate::lifetime::Lifetime;

/// A shared subscription.
pub(crate) struct Channel {
    runtime_id: RuntimeId,
    worker_id: WorkerId,
    state: Mutex<ChannelState>,
    sender: broadcast::Sender<Frame>,
    /// How many recent frames are kept for joining clients.
    buffer: usize,
    pump: OnceLock<AbortHandle>,
    /// The lifetime of the handle it reads from; it ends with it.
    lifetime: Lifetime,
}

/// What a channel knows about its worker's stream. Invariant: every event after `low` up to
/// `latest` is in `recent`, in order.
struct ChannelState {
    /// Opened without a cursor: it began with every event the runtime retains.
    from_start: bool,
    /// The newest sequence not (or no longer) held; `None` until known.
    low: Option<u64>,
    /// The newest sequence delivered (or the cursor it was opened after).
    latest: Option<u64>,
    /// Whether frames were dropped from `recent` to keep it bounded.
    evicted: bool,
    recent: VecDeque<(u64, Bytes)>,
    /// The `runtime_status` frame while the upstream connection is lost.
    lost: Option<Bytes>,
    /// The upstream stream ended; clients must open a new channel.
    finished: bool,
}

/// A client's start on a channel: what it missed, then the live frames.
pub(crate) struct Joined {
    /// Retained frames after the client's position (and the lost notice, if lost).
    pub(crate) backlog: VecDeque<Bytes>,
    /// The live frames from the moment of joining.
    pub(crate) receiver: broadcast::Receiver<Frame>,
    /// The newest sequence the client has after the backlog.
    pub(crate) last: Option<u64>,
}

impl Channel {
    /// Starts a channel over `upstream`, opened after `origin` through a handle of `lifetime`,
    /// keeping `buffer` recent frames; answers it with its first client, the one that opened it,
    /// joined before any frame.
    pub(crate) fn open(
        runtime_id: RuntimeId,
        worker_id: WorkerId,
        origin: Option<u64>,
        upstream: WorkerEvents,
        lifetime: &Lifetime,
        buffer: usize,
    ) -> (Arc<Self>, Joined) {
        let (sender, receiver) = broadcast::channel(buffer);
        let channel = Arc::new(Self {
            runtime_id,
            worker_id,
            state: Mutex::new(ChannelState {
                from_start: origin.is_none(),
                low: origin,
                latest: origin,
                evicted: false,
                recent: VecDeque::with_capacity(buffer.min(64)),
                lost: None,
                finished: false,
            }),
            sender,
            buffer,
            pump: OnceLock::new(),
            lifetime: lifetime.clone(),
        });
        let opener = Joined {
            backlog: VecDeque::new(),
            receiver,
            last: origin,
        };
        let task = tokio::spawn(Arc::clone(&channel).pump(upstream));
        channel
            .pump
            .set(task.abort_handle())
            .expect("a channel's pump starts once");
        (channel, opener)
    }

    /// Whether it still delivers (its upstream stream and its handle's lifetime have not
    /// ended).
    pub(crate) fn is_live(&self) -> bool {
        !self.lock().finished && !self.lifetime.is_ended()
    }

    /// Ends the pump, which closes the upstream subscription.
    pub(crate) fn close(&self) {
        if let Some(pump) = self.pump.get() {
            pump.abort();
        }
    }

    /// Joins a client that has every event up to `position` (none when `None`), when this
    /// channel can give it every later one. `proven`: the runtime has confirmed that `position`
    /// exists, so the channel may not have reached it yet.
    pub(crate) fn join(&self, position: Option<u64>, proven: bool) -> Option<Joined> {
        let state = self.lock();
        let covered = !state.finished
            && match position {
                None => state.from_start && !state.evicted,
                Some(position) => {
                    state.low.is_some_and(|low| position >= low)
                        && (proven || state.latest.is_some_and(|latest| position <= latest))
                }
            };
        if !covered {
            return None;
        }
        let mut backlog: VecDeque<Bytes> = state
            .recent
            .iter()
            .filter(|(sequence, _)| position.is_none_or(|position| *sequence > position))
            .map(|(_, bytes)| bytes.clone())
            .collect();
        // `None` orders before any sequence.
        let last = position.max(state.latest);
        backlog.extend(state.lost.clone());
        Some(Joined {
            backlog,
            receiver: self.sender.subscribe(),
            last,
        })
    }

    async fn pump(self: Arc<Self>, upstream: WorkerEvents) {
        // However the pump ends (a panic, an abort), the channel is finished, so that its clients
        // end and new ones open a fresh channel instead of waiting on this one.
        let _finish = FinishOnDrop(Arc::clone(&self));
        let mut upstream = pin!(ready_batches(upstream, READY_ITEMS));
        let mut batcher = Batcher::new(&self.runtime_id, &self.worker_id);
        let mut latest = self.lock().latest;
        let mut retired = pin!(self.lifetime.ended());
        loop {
            let items = tokio::select! {
                biased;
                () = &mut retired => {
                    let last = self.lifetime.end_frame(&self.runtime_id, &self.worker_id);
                    self.finish(Some(last));
                    return;
                }
                items = upstream.next() => items,
            };
            let Some(items) = items else {
                break;
            };
            for item in items {
                let event = match item {
                    Ok(StreamItem::Event(event)) => event,
                    Ok(StreamItem::Lost(error)) => {
                        self.publish_events(batcher.take());
                        self.publish_status(Some(&error));
                        continue;
                    }
                    Ok(StreamItem::Recovered) => {
                        self.publish_events(batcher.take());
                        self.publish_status(None);
                        continue;
                    }
                    Err(error) => {
                        self.publish_events(batcher.take());
                        let error = error
                            .for_runtime(&self.runtime_id)
                            .for_worker(&self.worker_id);
                        self.finish(Some(frame::failure(error)));
                        return;
                    }
                };
                // A duplicate (by sequence) is dropped.
                if latest.is_some_and(|latest| event.sequence() <= latest) {
                    continue;
                }
                latest = Some(event.sequence());
                self.publish_events(batcher.push(&event));
            }
            self.publish_events(batcher.take());
        }
        self.finish(None);
    }

    /// Records and broadcasts a batch of new event frames.
    fn publish_events(&self, batch: Option<Batch>) {
        let Some(batch) = batch else {
            return;
        };
        let mut state = self.lock();
        for (sequence, bytes) in batch.frames() {
            if state.low.is_none() {
                state.low = Some(sequence.saturating_sub(1));
            }
            state.latest = Some(sequence);
            state.recent.push_back((sequence, bytes));
            if state.recent.len() > self.buffer
                && let Some((dropped, _)) = state.recent.pop_front()
            {
                state.low = Some(dropped);
                state.evicted = true;
            }
        }
        self.send(Frame::Events(Arc::new(batch)));
    }

    /// Broadcasts a `runtime_status` frame, kept for joining clients while the runtime is lost.
    fn publish_status(&self, lost: Option<&RegistryError>) {
        let notice = frame::status(&self.runtime_id, &self.worker_id, lost);
        let mut state = self.lock();
        state.lost = lost.map(|_| notice.clone());
        self.send(Frame::Notice(notice));
    }

    fn finish(&self, last: Option<Bytes>) {
        let mut state = self.lock();
        if !state.finished {
            state.finished = true;
            self.send(Frame::End(last));
        }
    }

    /// Broadcasts a frame; called with the state locked, so joining clients see each frame
    /// either in their backlog or live, never both, never neither.
    fn send(&self, frame: Frame) {
        // No receiver is fine: the channel lingers for its grace period without clients.
        let _ = self.sender.send(frame);
    }

    fn lock(&self) -> MutexGuard<'_, ChannelState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Finishes a channel whose pump stopped without saying how.
struct FinishOnDrop(Arc<Channel>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        let channel = &self.0;
        if channel.lock().finished {
            return;
        }
        // Closed for a successor after its handle was retired: say so, not that it failed.
        if channel.lifetime.is_ended() {
            let last = channel
                .lifetime
                .end_frame(&channel.runtime_id, &channel.worker_id);
            channel.finish(Some(last));
            return;
        }
        let error = RegistryError::new(ErrorCode::Internal, "the event stream failed")
            .for_runtime(&channel.runtime_id)
            .for_worker(&channel.worker_id);
        channel.finish(Some(frame::failure(error)));
    }
}
