//! `GET /api/runtimes` and `GET /api/runtimes/{runtime_id}`.

use axum::Json;
use axum::extract::State;
use worker_runtime::protocol::ErrorBody;
use yoi_registry_core::overview_of;

use crate::error::ApiError;
use crate::extract::PathIds;
use crate::state::AppState;
use crate::views::{RuntimeBody, RuntimeList};

/// Every visible runtime with its status and diagnostics. Runtimes are asked concurrently, each
/// for at most its timeout; one that does not answer is listed `unavailable`.
#[utoipa::path(
    get,
    path = "/api/runtimes",
    tag = "runtimes",
    responses(
        (status = 200, description = "Every visible runtime", body = RuntimeList),
        (status = 401, description = "A browser token is required", body = ErrorBody),
    )
)]
pub(crate) async fn list_runtimes(State(state): State<AppState>) -> Json<RuntimeList> {
    Json(RuntimeList {
        runtimes: visible_runtimes(&state).await,
    })
}

/// Every visible runtime's body, its overview asked concurrently.
pub(crate) async fn visible_runtimes(state: &AppState) -> Vec<RuntimeBody> {
    let registry = state.registry();
    registry
        .overviews()
        .await
        .into_iter()
        .map(|(handle, overview)| RuntimeBody::new(handle.descriptor(), overview))
        .collect()
}

/// One runtime with its status and diagnostics.
#[utoipa::path(
    get,
    path = "/api/runtimes/{runtime_id}",
    tag = "runtimes",
    params(("runtime_id" = String, Path, description = "The runtime")),
    responses(
        (status = 200, description = "The runtime", body = RuntimeBody),
        (status = 400, description = "`invalid_input`: a malformed id", body = ErrorBody),
        (status = 404, description = "`unknown_runtime`", body = ErrorBody),
    )
)]
pub(crate) async fn get_runtime(
    State(state): State<AppState>,
    ids: PathIds,
) -> Result<Json<RuntimeBody>, ApiError> {
    let handle = state.runtime(&ids.runtime()?)?;
    let overview = overview_of(handle.as_ref()).await;
    Ok(Json(RuntimeBody::new(handle.descriptor(), overview)))
}
