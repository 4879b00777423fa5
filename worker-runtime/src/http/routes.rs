//! The REST routes: each handler is one call of the Runtime API.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::events::stream_events;
use super::extract::{ApiJson, ApiQuery, WorkerPath};
use crate::{
    CreateWorker, Diagnostic, Input, InputAck, PageRequest, RuntimeSummary, TranscriptPage,
    WorkerDetail, WorkerPage,
};

/// Routes that require the bearer token (when one is configured).
pub(super) fn protected() -> Router<AppState> {
    Router::new()
        .route("/v1/runtime", get(get_runtime))
        .route("/v1/workers", get(list_workers).post(create_worker))
        .route("/v1/workers/{id}", get(get_worker))
        .route("/v1/workers/{id}/input", post(send_input))
        .route("/v1/workers/{id}/stop", post(stop_worker))
        .route("/v1/workers/{id}/cancel", post(cancel_worker))
        .route("/v1/workers/{id}/transcript", get(get_transcript))
        .route("/v1/workers/{id}/events", get(stream_events))
}

/// Routes open to anyone who can reach the port.
pub(super) fn open() -> Router<AppState> {
    Router::new().route("/v1/health", get(health))
}

/// `GET /v1/runtime`: the summary plus diagnostics.
#[derive(Serialize)]
struct RuntimeInfo {
    #[serde(flatten)]
    summary: RuntimeSummary,
    diagnostics: Vec<Diagnostic>,
}

/// `?start=&limit=` of a transcript request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TranscriptQuery {
    #[serde(default)]
    start: u64,
    limit: Option<usize>,
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn get_runtime(State(state): State<AppState>) -> Json<RuntimeInfo> {
    Json(RuntimeInfo {
        summary: state.runtime.summary(),
        diagnostics: state.runtime.diagnostics(),
    })
}

async fn list_workers(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageRequest>,
) -> Result<Json<WorkerPage>, ApiError> {
    Ok(Json(state.runtime.list_workers(&page)?))
}

async fn create_worker(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateWorker>,
) -> Result<(StatusCode, Json<WorkerDetail>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.runtime.create_worker(request)?),
    ))
}

async fn get_worker(
    State(state): State<AppState>,
    WorkerPath(id): WorkerPath,
) -> Result<Json<WorkerDetail>, ApiError> {
    Ok(Json(state.runtime.get_worker(&id)?))
}

async fn send_input(
    State(state): State<AppState>,
    WorkerPath(id): WorkerPath,
    ApiJson(input): ApiJson<Input>,
) -> Result<(StatusCode, Json<InputAck>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(state.runtime.send_input(&id, input)?),
    ))
}

async fn stop_worker(
    State(state): State<AppState>,
    WorkerPath(id): WorkerPath,
) -> Result<Json<WorkerDetail>, ApiError> {
    Ok(Json(state.runtime.stop_worker(&id).await?))
}

async fn cancel_worker(
    State(state): State<AppState>,
    WorkerPath(id): WorkerPath,
) -> Result<Json<WorkerDetail>, ApiError> {
    Ok(Json(state.runtime.cancel_worker(&id).await?))
}

async fn get_transcript(
    State(state): State<AppState>,
    WorkerPath(id): WorkerPath,
    ApiQuery(query): ApiQuery<TranscriptQuery>,
) -> Result<Json<TranscriptPage>, ApiError> {
    Ok(Json(state.runtime.transcript(
        &id,
        query.start,
        query.limit,
    )?))
}
