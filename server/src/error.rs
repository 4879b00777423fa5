//! The one error type of the browser-facing API and its status table (DESIGN "Errors"). Every
//! failure answers `{"error":{"code","message","runtime_id","worker_id"}}`. The message of a
//! 500, 502, 503 or 504 is composed here from the code and the runtime id; the adapter's own
//! message goes to the log only.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use worker_runtime::protocol::ErrorBody;
use yoi_registry_core::{ErrorCode, RegistryError};

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// Any code of the DESIGN table.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// 401 `unauthorized`: the Backend requires a browser token and none (or another) was sent.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// 404 `not_found`: no such route.
    #[error("no such route")]
    NoRoute,
    /// 405 `method_not_allowed`: the route exists with other methods.
    #[error("method not allowed on this route")]
    NoMethod,
    /// 500 `internal`: the audit line of a mutation cannot be written, so it was not performed.
    #[error("the audit log cannot be written, so the operation was not performed")]
    AuditFailed,
}

impl ApiError {
    /// `invalid_input` with a message.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Registry(RegistryError::new(ErrorCode::InvalidInput, message))
    }

    /// The code as written in the body.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::Registry(error) => error.code.as_str(),
            Self::Unauthorized => "unauthorized",
            Self::NoRoute => "not_found",
            Self::NoMethod => "method_not_allowed",
            Self::AuditFailed => ErrorCode::Internal.as_str(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Registry(error) => status_of(error.code),
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::NoMethod => StatusCode::METHOD_NOT_ALLOWED,
            Self::AuditFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The DESIGN table: each code's HTTP status.
fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::UnknownRuntime | ErrorCode::UnknownWorker => StatusCode::NOT_FOUND,
        ErrorCode::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::ForbiddenByPolicy => StatusCode::FORBIDDEN,
        ErrorCode::WorkerBusy | ErrorCode::WorkerExists | ErrorCode::WorkerStopped => {
            StatusCode::CONFLICT
        }
        ErrorCode::UnsupportedOperation => StatusCode::NOT_IMPLEMENTED,
        ErrorCode::CursorExpired => StatusCode::GONE,
        ErrorCode::RuntimeAuthFailed | ErrorCode::RuntimeProtocolError => StatusCode::BAD_GATEWAY,
        ErrorCode::RuntimeUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::RuntimeTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The diagnostic code of a failed TLS handshake with a runtime.
const TLS_FAILED: &str = "tls_failed";

/// What a browser is told about a server-side failure; `None` when the error's own message
/// (written by the Backend or a Runtime, never carrying a secret or path) is shown.
pub(crate) fn public_message(error: &RegistryError) -> Option<String> {
    let runtime = error
        .runtime_id
        .as_ref()
        .map_or_else(|| "the runtime".to_owned(), |id| format!("runtime {id}"));
    // A failed TLS handshake is told by its cause: the adapter's message for it comes from a
    // fixed table and names neither a URL nor a path.
    if error.diagnostic == Some(TLS_FAILED) {
        return None;
    }
    let message = match error.code {
        ErrorCode::RuntimeAuthFailed => format!("{runtime} rejected the Backend's credential"),
        ErrorCode::RuntimeProtocolError => format!("{runtime} answered something malformed"),
        ErrorCode::RuntimeUnavailable => format!("{runtime} cannot be reached"),
        ErrorCode::RuntimeTimeout => format!("{runtime} did not answer in time"),
        ErrorCode::Internal => "internal error; the server log has the details".to_owned(),
        _ => return None,
    };
    Some(message)
}

/// The body of `error`; logs what a browser must not see.
pub(crate) fn body_of(error: ApiError) -> ErrorBody {
    let code = error.code();
    match error {
        ApiError::Registry(error) => {
            let message = match public_message(&error) {
                Some(public) => {
                    tracing::warn!(
                        request_id = %crate::request_log::current_request_id(),
                        code,
                        detail = %error.message,
                        "runtime call failed"
                    );
                    public
                }
                None => error.message,
            };
            let mut body = ErrorBody::new(code, message);
            body.error.runtime_id = error.runtime_id;
            body.error.worker_id = error.worker_id;
            body
        }
        other => ErrorBody::new(code, other.to_string()),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        (status, Json(body_of(self))).into_response()
    }
}

/// Answers a path that matches no route.
pub(crate) async fn no_route() -> ApiError {
    ApiError::NoRoute
}

/// Answers a route called with a method it does not have.
pub(crate) async fn no_method() -> ApiError {
    ApiError::NoMethod
}
