//! The reads of a runtime's workers: list, detail, transcript.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use worker_runtime::protocol::{ErrorBody, TranscriptQuery};
use yoi_registry_core::PageRequest;

use crate::error::ApiError;
use crate::extract::{ApiQuery, PathIds};
use crate::state::AppState;
use crate::views::{TranscriptBody, WorkerBody, WorkerList};

/// `?limit=&after=` of a worker listing.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// How many workers per page (1 to 1000, default 100).
    limit: Option<usize>,
    /// The `next_after` of the previous page.
    after: Option<String>,
}

/// One page of a runtime's workers, in worker id order.
#[utoipa::path(
    get,
    path = "/api/runtimes/{runtime_id}/workers",
    tag = "workers",
    params(("runtime_id" = String, Path, description = "The runtime"), ListQuery),
    responses(
        (status = 200, description = "One page of workers", body = WorkerList),
        (status = 400, description = "`invalid_input`: a malformed id or query", body = ErrorBody),
        (status = 404, description = "`unknown_runtime`", body = ErrorBody),
        (status = 502, description = "`runtime_auth_failed` or `runtime_protocol_error`", body = ErrorBody),
        (status = 503, description = "`runtime_unavailable`", body = ErrorBody),
        (status = 504, description = "`runtime_timeout`", body = ErrorBody),
    )
)]
pub(crate) async fn list_workers(
    State(state): State<AppState>,
    ids: PathIds,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<WorkerList>, ApiError> {
    let handle = state.runtime(&ids.runtime()?)?;
    let after = query
        .after
        .map(|after| {
            yoi_registry_core::WorkerId::new(after)
                .map_err(|_| ApiError::invalid("after must be a worker id"))
        })
        .transpose()?;
    let page = handle
        .list_workers(&PageRequest {
            limit: query.limit,
            after,
        })
        .await?;
    let descriptor = handle.descriptor();
    Ok(Json(WorkerList {
        workers: page
            .workers
            .into_iter()
            .map(|worker| WorkerBody::new(descriptor, worker))
            .collect(),
        next_after: page.next_after,
    }))
}

/// One worker.
#[utoipa::path(
    get,
    path = "/api/runtimes/{runtime_id}/workers/{worker_id}",
    tag = "workers",
    params(
        ("runtime_id" = String, Path, description = "The runtime"),
        ("worker_id" = String, Path, description = "The worker"),
    ),
    responses(
        (status = 200, description = "The worker", body = WorkerBody),
        (status = 400, description = "`invalid_input`: a malformed id", body = ErrorBody),
        (status = 404, description = "`unknown_runtime` or `unknown_worker`", body = ErrorBody),
        (status = 502, description = "`runtime_auth_failed` or `runtime_protocol_error`", body = ErrorBody),
        (status = 503, description = "`runtime_unavailable`", body = ErrorBody),
        (status = 504, description = "`runtime_timeout`", body = ErrorBody),
    )
)]
pub(crate) async fn get_worker(
    State(state): State<AppState>,
    ids: PathIds,
) -> Result<Json<WorkerBody>, ApiError> {
    let handle = state.runtime(&ids.runtime()?)?;
    let worker = handle.get_worker(&ids.worker()?).await?;
    Ok(Json(WorkerBody::new(handle.descriptor(), worker)))
}

/// One page of a worker's transcript.
#[utoipa::path(
    get,
    path = "/api/runtimes/{runtime_id}/workers/{worker_id}/transcript",
    tag = "workers",
    params(
        ("runtime_id" = String, Path, description = "The runtime"),
        ("worker_id" = String, Path, description = "The worker"),
        TranscriptQuery,
    ),
    responses(
        (status = 200, description = "One page of the transcript", body = TranscriptBody),
        (status = 400, description = "`invalid_input`: a malformed id or query", body = ErrorBody),
        (status = 404, description = "`unknown_runtime` or `unknown_worker`", body = ErrorBody),
        (status = 501, description = "`unsupported_operation`", body = ErrorBody),
        (status = 502, description = "`runtime_auth_failed` or `runtime_protocol_error`", body = ErrorBody),
        (status = 503, description = "`runtime_unavailable`", body = ErrorBody),
        (status = 504, description = "`runtime_timeout`", body = ErrorBody),
    )
)]
pub(crate) async fn get_transcript(
    State(state): State<AppState>,
    ids: PathIds,
    ApiQuery(query): ApiQuery<TranscriptQuery>,
) -> Result<Json<TranscriptBody>, ApiError> {
    let handle = state.runtime(&ids.runtime()?)?;
    let page = handle
        .transcript(&ids.worker()?, query.start, query.limit)
        .await?;
    Ok(Json(page.into()))
}
