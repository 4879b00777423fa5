//! `GET /v1/workers/{id}/events`: the Worker's events as Server-Sent Events.
//!
//! Each event is `id: <sequence>`, `event: <kind>`, `data: <event JSON>`. A client resumes with
//! `Last-Event-ID` (or `?cursor=` on first connect): retained events after the cursor, then live
//! ones. A cursor outside the retained window answers `410 cursor_expired` before the stream
//! starts; falling behind mid-stream ends the stream with `event: reset`.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt};

use super::HttpState;
use super::error::HttpError;
use super::extract::{RuntimeQuery, WorkerPath};
use crate::protocol::{ErrorBody, EventsQuery, LAST_EVENT_ID, RESET_EVENT, resume_point};
use crate::{Event, RuntimeError};

pub(super) async fn stream_events(
    State(state): State<HttpState>,
    WorkerPath(id): WorkerPath,
    RuntimeQuery(query): RuntimeQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, HttpError> {
    let last_event_id = headers.get(LAST_EVENT_ID).map(|value| value.as_bytes());
    let cursor = resume_point(last_event_id, query)?;
    let events = state.runtime.subscribe(&id, cursor)?;
    let stream = events
        .map(|item| Ok(to_sse(item)))
        .take_until(state.shutdown.cancelled_owned());
    Ok(Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(state.keep_alive)
            .text("keep-alive"),
    ))
}

/// One SSE frame: an event, or the `reset` that ends a stream which fell behind.
fn to_sse(item: Result<Event, RuntimeError>) -> SseEvent {
    match item {
        Ok(event) => SseEvent::default()
            .id(event.sequence.to_string())
            .event(event.kind.name())
            .data(serde_json::to_string(&event).expect("events serialize to JSON")),
        Err(error) => SseEvent::default().event(RESET_EVENT).data(
            serde_json::to_string(&ErrorBody::from(&error)).expect("errors serialize to JSON"),
        ),
    }
}
