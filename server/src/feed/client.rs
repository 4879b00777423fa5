//! One browser's workspace feed: once every runtime it watches is known, their picture, then the
//! changes of those runtimes, the changes that are waiting joined into one body chunk (a browser
//! that watches some runtimes by name is done once a reload removed them all). A browser
//! that fell behind the broadcast is sent `reset` and closed, never left with a gap: reconnecting
//! gives it the whole picture again.

use std::collections::VecDeque;

use axum::body::Bytes;
use bytes::BytesMut;
use futures::Stream;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use yoi_registry_core::{ErrorCode, RegistryError};

use super::{Change, Watch, Watched};
use crate::events::frame;

/// The most waiting changes joined into one chunk.
const JOINED_CHANGES: usize = 64;

/// A browser's feed; dropping it releases its watch of each runtime.
pub(crate) struct FeedClient {
    watch: Watch,
    /// The chunks of the picture not sent yet.
    picture: VecDeque<Bytes>,
    state: State,
}

/// Where a feed is.
enum State {
    /// Waiting for the runtimes' first pictures.
    Joining,
    /// The picture is taken; the changes after it come from here.
    Live(broadcast::Receiver<Change>),
    /// Nothing more.
    Ended,
}

/// Frames joined into one body chunk; a chunk of one frame is passed on without a copy.
#[derive(Default)]
struct Chunk {
    single: Option<Bytes>,
    joined: BytesMut,
}

impl Chunk {
    fn push(&mut self, frames: Bytes) {
        if self.single.is_none() && self.joined.is_empty() {
            self.single = Some(frames);
            return;
        }
        if let Some(single) = self.single.take() {
            self.joined.extend_from_slice(&single);
        }
        self.joined.extend_from_slice(&frames);
    }

    fn finish(self) -> Option<Bytes> {
        match self.single {
            Some(single) => Some(single),
            None => (!self.joined.is_empty()).then(|| self.joined.freeze()),
        }
    }
}

impl FeedClient {
    pub(super) fn new(watch: Watch) -> Self {
        Self {
            watch,
            picture: VecDeque::new(),
            state: State::Joining,
        }
    }

    /// The frames, in order, until the Backend shuts the stream down.
    pub(crate) fn frames(self) -> impl Stream<Item = Bytes> + Send + 'static {
        futures::stream::unfold(self, |mut client| async move {
            let chunk = client.next_chunk().await?;
            Some((chunk, client))
        })
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(picture) = self.picture_chunk() {
                return Some(picture);
            }
            let receiver = match &mut self.state {
                State::Ended => return None,
                State::Joining => {
                    let (hub, watched) = (&self.watch.hub, &mut self.watch.watched);
                    hub.wait_known(watched).await;
                    let (picture, receiver) = hub.join(watched);
                    self.picture = picture;
                    self.state = receiver.map_or(State::Ended, State::Live);
                    continue;
                }
                State::Live(receiver) => receiver,
            };
            let first = match receiver.recv().await {
                Ok(change) => change,
                Err(RecvError::Lagged(_)) => return self.fell_behind(),
                Err(RecvError::Closed) => return None,
            };
            let watched = &mut self.watch.watched;
            let mut chunk = Chunk::default();
            let mut nothing_left = add(watched, &mut chunk, first);
            for _ in 1..JOINED_CHANGES {
                if nothing_left {
                    break;
                }
                match receiver.try_recv() {
                    Ok(change) => nothing_left = add(watched, &mut chunk, change),
                    Err(TryRecvError::Lagged(_)) => return self.fell_behind(),
                    Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                }
            }
            if nothing_left {
                // Every runtime it watched left the workspace: that was its last frame.
                self.state = State::Ended;
            }
            if let Some(chunk) = chunk.finish() {
                return Some(chunk);
            }
        }
    }

    /// The `reset` that ends the feed of a browser that fell behind (what it had gathered is
    /// superseded by the picture it gets when it reconnects).
    fn fell_behind(&mut self) -> Option<Bytes> {
        self.state = State::Ended;
        let error = RegistryError::new(
            ErrorCode::CursorExpired,
            "this client fell behind the workspace feed; reconnect to get the whole picture again",
        );
        Some(frame::failure(error))
    }

    /// The next chunk of the picture, while some is left to send.
    fn picture_chunk(&mut self) -> Option<Bytes> {
        self.picture.pop_front()
    }
}

/// Appends `change` when it is of a runtime `watched` names; answers whether it removed the
/// last of them.
fn add(watched: &mut Watched, chunk: &mut Chunk, change: Change) -> bool {
    if !watched.includes(change.runtime) {
        return false;
    }
    chunk.push(change.frames);
    change.removed && watched.forget(change.runtime)
}
