//! The optional browser token: when the Backend has one, every `/api` route requires
//! `Authorization: Bearer <token>`, compared in constant time. Reads are refused here; a mutation
//! checks the token itself (`routes::mutations::Mutation`), so that its refusal is audited like
//! any other attempt.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ApiError;
use crate::state::AppState;

/// Lets a request through only with the right bearer token (a layer only when one is set).
pub(crate) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if !state.admits(request.headers()) {
        return Err(ApiError::Unauthorized);
    }
    Ok(next.run(request).await)
}
