//! The REST routes: each handler is one call of the Runtime API.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::HttpState;
use super::error::HttpError;
use super::events::stream_events;
use super::extract::{ApiJson, RuntimeQuery, WorkerPath};
use super::feed::stream_feed;
use crate::protocol::{FEED, HEALTH, RUNTIME, RuntimeInfo, TranscriptQuery, WORKERS, WorkerRoute};
use crate::{CreateWorker, Input, InputAck, PageRequest, TranscriptPage, WorkerDetail, WorkerPage};

/// Routes that require the bearer token (when one is configured).
pub(super) fn protected() -> Router<HttpState> {
    Router::new()
        .route(RUNTIME, get(get_runtime))
        .route(WORKERS, get(list_workers).post(create_worker))
        .route(&WorkerRoute::Detail.template(), get(get_worker))
        .route(&WorkerRoute::Input.template(), post(send_input))
        .route(&WorkerRoute::Stop.template(), post(stop_worker))
        .route(&WorkerRoute::Cancel.template(), post(cancel_worker))
        .route(&WorkerRoute::Transcript.template(), get(get_transcript))
        .route(&WorkerRoute::Events.template(), get(stream_events))
        .route(FEED, get(stream_feed))
}

/// Routes open to anyone who can reach the port.
pub(super) fn open() -> Router<HttpState> {
    Router::new().route(HEALTH, get(health))
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn get_runtime(State(state): State<HttpState>) -> Json<RuntimeInfo> {
    Json(RuntimeInfo {
        summary: state.runtime.summary(),
        diagnostics: state.runtime.diagnostics(),
    })
}

async fn list_workers(
    State(state): State<HttpState>,
    RuntimeQuery(page): RuntimeQuery<PageRequest>,
) -> Result<Json<WorkerPage>, HttpError> {
    Ok(Json(state.runtime.list_workers(&page)?))
}

async fn create_worker(
    State(state): State<HttpState>,
    ApiJson(request): ApiJson<CreateWorker>,
) -> Result<(StatusCode, Json<WorkerDetail>), HttpError> {
    Ok((
        StatusCode::CREATED,
        Json(state.runtime.create_worker(request).await?),
    ))
}

async fn get_worker(
    State(state): State<HttpState>,
    WorkerPath(id): WorkerPath,
) -> Result<Json<WorkerDetail>, HttpError> {
    Ok(Json(state.runtime.get_worker(&id)?))
}

async fn send_input(
    State(state): State<HttpState>,
    WorkerPath(id): WorkerPath,
    ApiJson(input): ApiJson<Input>,
) -> Result<(StatusCode, Json<InputAck>), HttpError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(state.runtime.send_input(&id, input).await?),
    ))
}

async fn stop_worker(
    State(state): State<HttpState>,
    WorkerPath(id): WorkerPath,
) -> Result<Json<WorkerDetail>, HttpError> {
    Ok(Json(state.runtime.stop_worker(&id).await?))
}

async fn cancel_worker(
    State(state): State<HttpState>,
    WorkerPath(id): WorkerPath,
) -> Result<Json<WorkerDetail>, HttpError> {
    Ok(Json(state.runtime.cancel_worker(&id).await?))
}

async fn get_transcript(
    State(state): State<HttpState>,
    WorkerPath(id): WorkerPath,
    RuntimeQuery(query): RuntimeQuery<TranscriptQuery>,
) -> Result<Json<TranscriptPage>, HttpError> {
    Ok(Json(state.runtime.transcript(
        &id,
        query.start,
        query.limit,
    )?))
}
