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
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiQuery, WorkerPath};
use crate::{Event, RuntimeError};

/// The standard header a reconnecting SSE client sends.
const LAST_EVENT_ID: &str = "last-event-id";

/// `?cursor=` of an events request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    cursor: Option<u64>,
}

pub(super) async fn stream_events(
    State(state): State<AppState>,
    WorkerPath(id): WorkerPath,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    // A reconnect's Last-Event-ID is newer than the URL's cursor, so it wins.
    let cursor = match headers.get(LAST_EVENT_ID) {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::invalid("Last-Event-ID must be an event sequence"))?,
        ),
        None => query.cursor,
    };
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
        Err(error) => SseEvent::default().event("reset").data(
            serde_json::to_string(&ErrorBody::new(error.code(), error.to_string()))
                .expect("errors serialize to JSON"),
        ),
    }
}
