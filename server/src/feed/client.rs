//! One browser's workspace feed: the picture of the runtimes it watches, then the changes of those
//! runtimes, the changes that are waiting joined into one body chunk. A browser that fell behind
//! the broadcast is sent the whole picture again (the states replace what it holds), never left
//! with a gap.

use std::sync::Arc;

use axum::body::Bytes;
use bytes::BytesMut;
use futures::Stream;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::{Change, HubShared};

/// The most waiting changes joined into one chunk.
const JOINED_CHANGES: usize = 64;

/// A browser's feed; dropping it releases its watch of each runtime.
pub(crate) struct FeedClient {
    hub: Arc<HubShared>,
    /// The places of the runtimes it watches, in order.
    places: Vec<usize>,
    /// The picture, until it is sent.
    picture: Option<Bytes>,
    receiver: broadcast::Receiver<Change>,
}

impl FeedClient {
    pub(super) fn new(
        hub: Arc<HubShared>,
        places: Vec<usize>,
        picture: Bytes,
        receiver: broadcast::Receiver<Change>,
    ) -> Self {
        Self {
            hub,
            places,
            picture: Some(picture),
            receiver,
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
        if let Some(picture) = self.picture.take() {
            return Some(picture);
        }
        loop {
            let first = match self.receiver.recv().await {
                Ok(change) => change,
                Err(RecvError::Lagged(_)) => return Some(self.rejoin()),
                Err(RecvError::Closed) => return None,
            };
            let mut chunk = BytesMut::new();
            self.add(&mut chunk, first);
            for _ in 1..JOINED_CHANGES {
                match self.receiver.try_recv() {
                    Ok(change) => self.add(&mut chunk, change),
                    Err(TryRecvError::Lagged(_)) => return Some(self.rejoin()),
                    Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                }
            }
            if !chunk.is_empty() {
                return Some(chunk.freeze());
            }
        }
    }

    /// Appends `change` when it is of a runtime this browser watches.
    fn add(&self, chunk: &mut BytesMut, change: Change) {
        if self.places.binary_search(&change.runtime).is_ok() {
            chunk.extend_from_slice(&change.frames);
        }
    }

    /// The whole picture again, with a fresh receiver; what was waiting is superseded by it.
    fn rejoin(&mut self) -> Bytes {
        let (picture, receiver) = self.hub.join(&self.places);
        self.receiver = receiver;
        picture
    }
}

impl Drop for FeedClient {
    fn drop(&mut self) {
        self.hub.release(&self.places);
    }
}
