//! `GET /api/events`: the workspace feed, the live state of every visible runtime and Worker.

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use worker_runtime::http::sse_response;
use worker_runtime::protocol::ErrorBody;
use yoi_registry_core::{RegistryError, RuntimeId};

use crate::error::ApiError;
use crate::feed::Watched;
use crate::state::AppState;

/// The query parameter that narrows the feed to some runtimes (repeatable).
const RUNTIME_PARAMETER: &str = "runtime";

/// The workspace feed. First `event: runtime_status` for every visible runtime (`data:
/// {"runtime_id","kind","status","last_seen_at","read_only"}`, with `code` and `message` while it
/// is `unavailable`) and `event: worker_status` for each of their Workers (`data:
/// {"runtime_id","worker_id","status","profile","display_name","last_sequence","at","usage"?,
/// "display_ref"}`), then `event: synced` (`data: {}`), then changes as they happen: a Worker's
/// new state, a runtime going `unavailable` or coming back, and `event: worker_removed`
/// (`{"runtime_id","worker_id"}`) for a Worker its runtime no longer has. A state replaces the
/// one held; of two states of a Worker, the higher `last_sequence` is the newer. Frames carry no
/// `id:`: a reconnecting client is sent the whole picture again. A client that falls 1024 changes
/// behind is sent `event: reset` and closed. A runtime that has not answered within its timeout
/// is told `unavailable` (`runtime_timeout`) in the picture, and its states follow when it does.
/// `?runtime=ID` (repeatable) narrows the feed to those runtimes. When a reload of the
/// configuration removes a runtime (or hides it), its browsers are sent `event: runtime_status`
/// with `{"runtime_id","status":"removed","message"}`, and a feed narrowed to removed runtimes
/// only ends there; a runtime a reload adds joins every unnarrowed feed, its states following
/// once it answers. Comments keep an idle stream open. However many browsers watch, the Backend
/// follows each runtime once: a runtime process by its own feed (`GET /v1/feed`, the same
/// states), the compatibility store by listing it every 5 s.
#[utoipa::path(
    get,
    path = "/api/events",
    tag = "runtimes",
    params(
        ("runtime" = Option<Vec<String>>, Query, description = "Only these runtimes (repeat the parameter for several)", explode = true),
    ),
    responses(
        (status = 200, description = "The feed", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_input`: a malformed runtime id or an unknown parameter", body = ErrorBody),
        (status = 404, description = "`unknown_runtime`", body = ErrorBody),
    )
)]
pub(crate) async fn workspace_feed(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let places = match uri.query() {
        Some(query) => places_of(&state, query)?,
        None => Vec::new(),
    };
    let watched = match places.is_empty() {
        true => Watched::Everything,
        false => Watched::Only(places),
    };
    let client = state.inner.feed.subscribe(watched);
    let options = &state.inner.options;
    Ok(sse_response(
        client.frames(),
        options.keep_alive,
        options.shutdown.clone(),
    ))
}

/// The places of the runtimes the query names, sorted, each once; a runtime that is hidden or
/// does not exist is `unknown_runtime`.
fn places_of(state: &AppState, query: &str) -> Result<Vec<usize>, ApiError> {
    let mut places = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if name != RUNTIME_PARAMETER {
            return Err(ApiError::invalid(
                "the query string has an unknown, malformed or mistyped parameter",
            ));
        }
        let id = RuntimeId::new(value.into_owned())
            .map_err(|_| ApiError::invalid("the runtime in the query is not a valid id"))?;
        let place = state
            .inner
            .feed
            .place_of(&id)
            .ok_or_else(|| RegistryError::unknown_runtime(&id))?;
        places.push(place);
    }
    places.sort_unstable();
    places.dedup();
    Ok(places)
}
