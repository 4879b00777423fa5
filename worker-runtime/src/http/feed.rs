//! `GET /v1/feed`: the Runtime's feed as Server-Sent Events: `event: worker_status` with a
//! Worker's state, and `event: synced` after each whole picture. It has no `id:`: a client that
//! reconnects is sent the whole picture again.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use futures::StreamExt;

use super::HttpState;
use super::sse::{ready_batches, sse_response, write_frame};
use crate::FeedItem;
use crate::protocol::{SYNCED_EVENT, WORKER_STATUS_EVENT};

/// How many states that are ready together are rendered into one body chunk.
const READY_STATES: usize = 256;

pub(super) async fn stream_feed(State(state): State<HttpState>) -> Response {
    let frames = ready_batches(state.runtime.feed(), READY_STATES).map(|items| render(&items));
    sse_response(frames, state.keep_alive, state.shutdown)
}

/// The frames of states that were ready together, in one buffer.
fn render(items: &[FeedItem]) -> Bytes {
    let mut buffer = Vec::new();
    for item in items {
        match item {
            FeedItem::Worker(snapshot) => {
                write_frame(&mut buffer, None, WORKER_STATUS_EVENT, snapshot);
            }
            FeedItem::Synced => {
                write_frame(&mut buffer, None, SYNCED_EVENT, &serde_json::json!({}))
            }
        }
    }
    Bytes::from(buffer)
}
