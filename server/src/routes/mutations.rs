//! The mutations: create, input, stop, cancel. Each attempt is decided (ids, visibility,
//! read-only policy, body) and audited before it reaches the runtime; when the audit line cannot
//! be written, the mutation is not performed.

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::routing::{MethodRouter, post};
use axum::{Extension, Json};
use worker_runtime::protocol::ErrorBody;
use yoi_registry_core::{ErrorCode, RegistryError};

use crate::audit::{Attempt, Operation};
use crate::error::ApiError;
use crate::extract::{Body, PathIds, declared_len};
use crate::request_log::RequestId;
use crate::state::AppState;
use crate::views::{CreateWorkerRequest, InputAccepted, InputRequest, WorkerBody};

/// The route of a mutation: `POST` to `handler`, which is told that it performs `operation`.
pub(crate) fn mutation<H, T>(operation: Operation, handler: H) -> MethodRouter<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    post(handler).layer(Extension(operation))
}

/// A mutation request: its attempt (ready to be audited), its path ids and its body. A request
/// without the browser token (when one is set) is audited as denied and refused here, before its
/// body is read.
pub(crate) struct Mutation {
    attempt: Attempt,
    ids: PathIds,
    body: Body,
}

impl FromRequest<AppState> for Mutation {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        let operation = parts
            .extensions
            .get::<Operation>()
            .copied()
            .ok_or_else(|| {
                ApiError::Registry(RegistryError::new(
                    ErrorCode::Internal,
                    "a mutation route does not state its operation",
                ))
            })?;
        let request_id = parts.extensions.get::<RequestId>().map(|id| id.0.clone());
        let ids = PathIds::from_request_parts(&mut parts, state).await?;
        let attempt = |input_bytes| Attempt {
            request_id: request_id.unwrap_or_default(),
            operation,
            runtime_id: ids.runtime().ok(),
            worker_id: ids.worker().ok(),
            input_bytes,
        };
        if !state.admits(&parts.headers) {
            let refused = attempt(declared_len(&parts.headers));
            // Refused either way: a failed audit line changes nothing for this request, and a
            // client without the token learns nothing of the audit log.
            let _ = refused
                .audit::<()>(state.audit(), Err(ApiError::Unauthorized))
                .await;
            return Err(ApiError::Unauthorized);
        }
        let body = Body::from_request(Request::from_parts(parts, body), state).await?;
        let attempt = attempt(body.len());
        Ok(Self { attempt, ids, body })
    }
}

/// Creates a worker.
#[utoipa::path(
    post,
    path = "/api/runtimes/{runtime_id}/workers",
    tag = "workers",
    params(("runtime_id" = String, Path, description = "The runtime")),
    request_body = CreateWorkerRequest,
    responses(
        (status = 201, description = "The new worker", body = WorkerBody),
        (status = 400, description = "`invalid_input`: a malformed id or body, an unknown profile", body = ErrorBody),
        (status = 403, description = "`forbidden_by_policy`: the runtime is read-only", body = ErrorBody),
        (status = 404, description = "`unknown_runtime`", body = ErrorBody),
        (status = 409, description = "`worker_exists`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 500, description = "`internal`: the audit log cannot be written", body = ErrorBody),
        (status = 501, description = "`unsupported_operation`", body = ErrorBody),
        (status = 502, description = "`runtime_auth_failed` or `runtime_protocol_error`", body = ErrorBody),
        (status = 503, description = "`runtime_unavailable`", body = ErrorBody),
        (status = 504, description = "`runtime_timeout`", body = ErrorBody),
    )
)]
pub(crate) async fn create_worker(
    State(state): State<AppState>,
    Mutation {
        mut attempt,
        ids,
        body,
    }: Mutation,
) -> Result<
    (
        StatusCode,
        [(axum::http::HeaderName, String); 1],
        Json<WorkerBody>,
    ),
    ApiError,
> {
    let decision = ids.runtime().and_then(|id| {
        let handle = state.writable_runtime(&id)?;
        Ok((handle, body.json::<CreateWorkerRequest>()?))
    });
    if let Ok((_, request)) = &decision {
        attempt.worker_id.clone_from(&request.worker_id);
    }
    let (handle, request) = attempt.audit(state.audit(), decision).await?;
    let descriptor = handle.descriptor();
    let worker = WorkerBody::new(descriptor, handle.create_worker(request.into()).await?);
    let location = format!(
        "/api/runtimes/{}/workers/{}",
        descriptor.id, worker.worker_id
    );
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(worker)))
}

/// Sends an input to a worker; the run proceeds asynchronously (follow it on the event stream).
#[utoipa::path(
    post,
    path = "/api/runtimes/{runtime_id}/workers/{worker_id}/input",
    tag = "workers",
    params(
        ("runtime_id" = String, Path, description = "The runtime"),
        ("worker_id" = String, Path, description = "The worker"),
    ),
    request_body = InputRequest,
    responses(
        (status = 202, description = "Accepted, with the sequence of its `input_accepted` event", body = InputAccepted),
        (status = 400, description = "`invalid_input`: a malformed id or body, empty input", body = ErrorBody),
        (status = 403, description = "`forbidden_by_policy`: the runtime is read-only", body = ErrorBody),
        (status = 404, description = "`unknown_runtime` or `unknown_worker`", body = ErrorBody),
        (status = 409, description = "`worker_busy` or `worker_stopped`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 500, description = "`internal`: the audit log cannot be written", body = ErrorBody),
        (status = 501, description = "`unsupported_operation`", body = ErrorBody),
        (status = 502, description = "`runtime_auth_failed` or `runtime_protocol_error`", body = ErrorBody),
        (status = 503, description = "`runtime_unavailable`", body = ErrorBody),
        (status = 504, description = "`runtime_timeout`", body = ErrorBody),
    )
)]
pub(crate) async fn send_input(
    State(state): State<AppState>,
    Mutation { attempt, ids, body }: Mutation,
) -> Result<(StatusCode, Json<InputAccepted>), ApiError> {
    let decision = ids.runtime().and_then(|id| {
        let worker = ids.worker()?;
        let handle = state.writable_runtime(&id)?;
        Ok((handle, worker, body.json::<InputRequest>()?))
    });
    let (handle, worker, input) = attempt.audit(state.audit(), decision).await?;
    let ack = handle.send_input(&worker, input.into()).await?;
    let accepted = InputAccepted::new(handle.descriptor().id.clone(), ack);
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Stops a worker for good (its active run is cancelled).
#[utoipa::path(
    post,
    path = "/api/runtimes/{runtime_id}/workers/{worker_id}/stop",
    tag = "workers",
    params(
        ("runtime_id" = String, Path, description = "The runtime"),
        ("worker_id" = String, Path, description = "The worker"),
    ),
    responses(
        (status = 200, description = "The stopped worker", body = WorkerBody),
        (status = 400, description = "`invalid_input`: a malformed id", body = ErrorBody),
        (status = 403, description = "`forbidden_by_policy`: the runtime is read-only", body = ErrorBody),
        (status = 404, description = "`unknown_runtime` or `unknown_worker`", body = ErrorBody),
        (status = 500, description = "`internal`: the audit log cannot be written", body = ErrorBody),
        (status = 501, description = "`unsupported_operation`", body = ErrorBody),
        (status = 502, description = "`runtime_auth_failed` or `runtime_protocol_error`", body = ErrorBody),
        (status = 503, description = "`runtime_unavailable`", body = ErrorBody),
        (status = 504, description = "`runtime_timeout`", body = ErrorBody),
    )
)]
pub(crate) async fn stop_worker(
    state: State<AppState>,
    mutation: Mutation,
) -> Result<Json<WorkerBody>, ApiError> {
    end_run(state, mutation).await
}

/// Cancels a worker's active run; the worker stays, idle.
#[utoipa::path(
    post,
    path = "/api/runtimes/{runtime_id}/workers/{worker_id}/cancel",
    tag = "workers",
    params(
        ("runtime_id" = String, Path, description = "The runtime"),
        ("worker_id" = String, Path, description = "The worker"),
    ),
    responses(
        (status = 200, description = "The worker after the cancel", body = WorkerBody),
        (status = 400, description = "`invalid_input`: a malformed id", body = ErrorBody),
        (status = 403, description = "`forbidden_by_policy`: the runtime is read-only", body = ErrorBody),
        (status = 404, description = "`unknown_runtime` or `unknown_worker`", body = ErrorBody),
        (status = 409, description = "`worker_stopped`", body = ErrorBody),
        (status = 500, description = "`internal`: the audit log cannot be written", body = ErrorBody),
        (status = 501, description = "`unsupported_operation`", body = ErrorBody),
        (status = 502, description = "`runtime_auth_failed` or `runtime_protocol_error`", body = ErrorBody),
        (status = 503, description = "`runtime_unavailable`", body = ErrorBody),
        (status = 504, description = "`runtime_timeout`", body = ErrorBody),
    )
)]
pub(crate) async fn cancel_worker(
    state: State<AppState>,
    mutation: Mutation,
) -> Result<Json<WorkerBody>, ApiError> {
    end_run(state, mutation).await
}

/// Stop or cancel: no body is needed (one sent is ignored, but counted).
async fn end_run(
    State(state): State<AppState>,
    Mutation { attempt, ids, body }: Mutation,
) -> Result<Json<WorkerBody>, ApiError> {
    let decision = ids.runtime().and_then(|id| {
        let worker = ids.worker()?;
        body.bytes.clone()?;
        Ok((state.writable_runtime(&id)?, worker))
    });
    let (handle, worker) = attempt.audit(state.audit(), decision).await?;
    let worker = match attempt.operation {
        Operation::StopWorker => handle.stop_worker(&worker).await?,
        _ => handle.cancel_worker(&worker).await?,
    };
    Ok(Json(WorkerBody::new(handle.descriptor(), worker)))
}
