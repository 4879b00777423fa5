//! The optional browser token: when the Backend has one, every `/api` route requires
//! `Authorization: Bearer <token>`, compared in constant time. A mutation refused for want of it
//! is audited like any other attempt.

use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::Response;

use crate::audit::Operation;
use crate::error::ApiError;
use crate::extract::PathIds;
use crate::request_log::RequestId;
use crate::routes::mutations::Attempt;
use crate::state::AppState;

/// Lets a request through only with the right bearer token (or when no token is configured).
pub(crate) async fn require_token(
    State(state): State<AppState>,
    ids: PathIds,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = state.inner.options.token.as_ref();
    if token.is_some_and(|token| !token.admits(request.headers())) {
        if let Some(operation) = Operation::of(request.method(), request.uri().path()) {
            let request_id = request.extensions().get::<RequestId>();
            let attempt = Attempt {
                state: &state,
                request_id: request_id.map_or("", |id| id.0.as_str()),
                operation,
                runtime_id: ids.runtime().ok(),
                worker_id: ids.worker().ok(),
                input_bytes: request
                    .headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|value| value.to_str().ok()?.parse().ok())
                    .unwrap_or(0),
            };
            // Refused either way: a failed audit line changes nothing for this request.
            let _ = attempt.audit::<()>(Err(ApiError::Unauthorized));
        }
        return Err(ApiError::Unauthorized);
    }
    Ok(next.run(request).await)
}
