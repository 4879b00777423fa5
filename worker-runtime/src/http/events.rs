//! `GET /v1/workers/{id}/events`: the Worker's events as Server-Sent Events.
//!
//! Each event is `id: <sequence>`, `event: <kind>`, `data: <event JSON>`. A client resumes with
//! `Last-Event-ID` (or `?cursor=` on first connect): retained events after the cursor, then live
//! ones. A cursor outside the retained window answers `410 cursor_expired` before the stream
//! starts; falling behind mid-stream ends the stream with `event: reset`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use futures::StreamExt;

use super::HttpState;
use super::error::HttpError;
use super::extract::{RuntimeQuery, WorkerPath};
use super::sse::{ready_batches, sse_response, write_frame};
use crate::protocol::{ErrorBody, EventsQuery, LAST_EVENT_ID, RESET_EVENT, resume_point};
use crate::{Event, RuntimeError};

/// How many events that are ready together are rendered into one body chunk.
const READY_EVENTS: usize = 256;

/// Room made for each frame of a chunk before rendering: enough for a typical delta.
const FRAME_BYTES: usize = 192;

pub(super) async fn stream_events(
    State(state): State<HttpState>,
    WorkerPath(id): WorkerPath,
    RuntimeQuery(query): RuntimeQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let last_event_id = headers.get(LAST_EVENT_ID).map(|value| value.as_bytes());
    let cursor = resume_point(last_event_id, query)?;
    let events = state.runtime.subscribe(&id, cursor)?;
    let frames = ready_batches(events, READY_EVENTS).map(|items| render(&items));
    Ok(sse_response(frames, state.keep_alive, state.shutdown))
}

/// The frames of events that were ready together, in one buffer: each event, or the `reset` that
/// ends a stream which fell behind.
fn render(items: &[Result<Event, RuntimeError>]) -> Bytes {
    let mut buffer = Vec::with_capacity(FRAME_BYTES * items.len());
    for item in items {
        match item {
            Ok(event) => write_frame(&mut buffer, Some(event.sequence), event.kind.name(), event),
            Err(error) => write_frame(&mut buffer, None, RESET_EVENT, &ErrorBody::from(error)),
        }
    }
    Bytes::from(buffer)
}
