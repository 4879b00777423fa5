//! `GET .../events`: a worker's events as Server-Sent Events, through the shared subscription.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use worker_runtime::http::sse_response;
use worker_runtime::protocol::{ErrorBody, EventsQuery, LAST_EVENT_ID, resume_point};
use yoi_registry_core::RegistryError;

use crate::error::ApiError;
use crate::extract::{ApiQuery, PathIds};
use crate::state::AppState;

/// A worker's events: those retained after the resume point, then live ones. Each frame is
/// `id: <sequence>`, `event: <kind>`, `data: {"runtime_id","worker_id","sequence","kind",...}`.
/// `event: runtime_status` tells that the connection to the runtime was lost or is back;
/// `event: reset` ends a stream that cannot continue without a gap (reconnect with
/// `Last-Event-ID`); `event: error` ends a stream the runtime failed. The stream ends after
/// `worker_stopped`; resuming a stopped worker's stream after its last event answers 204, which
/// tells an `EventSource` to stop reconnecting. A reload of the configuration ends the stream of
/// a runtime it removed with `event: runtime_status` and `status: "removed"` (code
/// `unknown_runtime`), and that of a runtime it changed with `status: "unavailable"` (code
/// `runtime_unavailable`): reconnect with `Last-Event-ID` to resume on its new handle. Comments
/// keep an idle stream open.
#[utoipa::path(
    get,
    path = "/api/runtimes/{runtime_id}/workers/{worker_id}/events",
    tag = "workers",
    params(
        ("runtime_id" = String, Path, description = "The runtime"),
        ("worker_id" = String, Path, description = "The worker"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this sequence"),
        EventsQuery,
    ),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 204, description = "The worker is stopped and the resume point is its last event: nothing more will come"),
        (status = 400, description = "`invalid_input`: a malformed id or resume point, a cursor beyond the newest event", body = ErrorBody),
        (status = 404, description = "`unknown_runtime` or `unknown_worker`", body = ErrorBody),
        (status = 410, description = "`cursor_expired`: the resume point is no longer retained", body = ErrorBody),
        (status = 501, description = "`unsupported_operation`", body = ErrorBody),
        (status = 502, description = "`runtime_auth_failed` or `runtime_protocol_error`", body = ErrorBody),
        (status = 503, description = "`runtime_unavailable`", body = ErrorBody),
        (status = 504, description = "`runtime_timeout`", body = ErrorBody),
    )
)]
pub(crate) async fn stream_events(
    State(state): State<AppState>,
    ids: PathIds,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (handle, lifetime) = state.runtime_for_events(&ids.runtime()?)?;
    let worker = ids.worker()?;
    let last_event_id = headers.get(LAST_EVENT_ID).map(|value| value.as_bytes());
    let position = resume_point(last_event_id, query).map_err(RegistryError::from)?;
    let Some(client) = state
        .inner
        .hub
        .subscribe((&handle, &lifetime), &worker, position)
        .await?
    else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let options = &state.inner.options;
    Ok(sse_response(
        client.frames(),
        options.keep_alive,
        options.shutdown.clone(),
    ))
}
