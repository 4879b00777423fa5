//! The mutations: create, input, stop, cancel. Each attempt is decided (ids, visibility,
//! read-only policy, body) and audited before it reaches the runtime; when the audit line cannot
//! be written, the mutation is not performed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::{Extension, Json};
use yoi_registry_core::{ErrorCode, RuntimeId, Timestamp, WorkerId};

use crate::audit::{AuditRecord, Operation, Outcome};
use worker_runtime::protocol::ErrorBody;

use crate::error::ApiError;
use crate::extract::{Body, PathIds};
use crate::request_log::RequestId;
use crate::state::AppState;
use crate::views::{CreateWorkerRequest, InputAccepted, InputRequest, WorkerBody};

/// One mutation attempt, as the audit log records it.
pub(crate) struct Attempt<'a> {
    pub(crate) state: &'a AppState,
    pub(crate) request_id: &'a str,
    pub(crate) operation: Operation,
    pub(crate) runtime_id: Option<RuntimeId>,
    pub(crate) worker_id: Option<WorkerId>,
    pub(crate) input_bytes: u64,
}

impl<'a> Attempt<'a> {
    fn new(
        state: &'a AppState,
        request_id: &'a RequestId,
        operation: Operation,
        ids: &PathIds,
        body: &Body,
    ) -> Self {
        Self {
            state,
            request_id: &request_id.0,
            operation,
            runtime_id: ids.runtime().ok(),
            worker_id: ids.worker().ok(),
            input_bytes: body.len(),
        }
    }

    /// Audits `decision`, then answers it; an allowed attempt whose line cannot be written is
    /// refused instead.
    pub(crate) fn audit<T>(&self, decision: Result<T, ApiError>) -> Result<T, ApiError> {
        let error_code = decision.as_ref().err().map(ApiError::code);
        let outcome = match error_code {
            None => Outcome::Allowed,
            Some(code) if code == ErrorCode::ForbiddenByPolicy.as_str() => Outcome::Denied,
            Some("unauthorized") => Outcome::Denied,
            Some(_) => Outcome::Rejected,
        };
        let record = AuditRecord {
            at: Timestamp::now(),
            request_id: self.request_id,
            runtime_id: self.runtime_id.as_ref(),
            worker_id: self.worker_id.as_ref(),
            operation: self.operation,
            outcome,
            error_code,
            input_bytes: self.input_bytes,
        };
        self.state
            .inner
            .audit
            .write(&record)
            .map_err(|_| ApiError::AuditFailed)?;
        decision
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
    Extension(request_id): Extension<RequestId>,
    ids: PathIds,
    body: Body,
) -> Result<
    (
        StatusCode,
        [(axum::http::HeaderName, String); 1],
        Json<WorkerBody>,
    ),
    ApiError,
> {
    let mut attempt = Attempt::new(&state, &request_id, Operation::CreateWorker, &ids, &body);
    let decision = ids.runtime().and_then(|id| {
        let handle = state.writable_runtime(&id)?;
        Ok((handle, body.json::<CreateWorkerRequest>()?))
    });
    if let Ok((_, request)) = &decision {
        attempt.worker_id.clone_from(&request.worker_id);
    }
    let (handle, request) = attempt.audit(decision)?;
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
    Extension(request_id): Extension<RequestId>,
    ids: PathIds,
    body: Body,
) -> Result<(StatusCode, Json<InputAccepted>), ApiError> {
    let attempt = Attempt::new(&state, &request_id, Operation::SendInput, &ids, &body);
    let decision = ids.runtime().and_then(|id| {
        let worker = ids.worker()?;
        let handle = state.writable_runtime(&id)?;
        Ok((handle, worker, body.json::<InputRequest>()?))
    });
    let (handle, worker, input) = attempt.audit(decision)?;
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
    request_id: Extension<RequestId>,
    ids: PathIds,
    body: Body,
) -> Result<Json<WorkerBody>, ApiError> {
    end_run(state, request_id, ids, body, Operation::StopWorker).await
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
    request_id: Extension<RequestId>,
    ids: PathIds,
    body: Body,
) -> Result<Json<WorkerBody>, ApiError> {
    end_run(state, request_id, ids, body, Operation::CancelWorker).await
}

/// Stop or cancel: no body is needed (one sent is ignored, but counted).
async fn end_run(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ids: PathIds,
    body: Body,
    operation: Operation,
) -> Result<Json<WorkerBody>, ApiError> {
    let attempt = Attempt::new(&state, &request_id, operation, &ids, &body);
    let decision = ids.runtime().and_then(|id| {
        let worker = ids.worker()?;
        body.bytes.clone()?;
        Ok((state.writable_runtime(&id)?, worker))
    });
    let (handle, worker) = attempt.audit(decision)?;
    let worker = match operation {
        Operation::StopWorker => handle.stop_worker(&worker).await?,
        _ => handle.cancel_worker(&worker).await?,
    };
    Ok(Json(WorkerBody::new(handle.descriptor(), worker)))
}
