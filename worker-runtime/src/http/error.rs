//! The one error type of the REST server and its status table. Every failure answers
//! `{"error":{"code","message"}}`; nothing answers in axum's plain text.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::RuntimeError;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The status follows the error's code (see [`status_of`]).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// 401 `unauthorized`: no bearer token, or the wrong one.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// 413 `payload_too_large`: the body is over the server's limit.
    #[error("the request body is over the limit of this server")]
    BodyTooLarge,
    /// 404 `not_found`: no such route.
    #[error("no such route")]
    NoRoute,
    /// 405 `method_not_allowed`: the route exists with other methods.
    #[error("method not allowed on this route")]
    NoMethod,
}

impl ApiError {
    /// `invalid_input` with a message.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Runtime(RuntimeError::InvalidInput(message.into()))
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Runtime(error) => error.code(),
            Self::Unauthorized => "unauthorized",
            Self::BodyTooLarge => "payload_too_large",
            Self::NoRoute => "not_found",
            Self::NoMethod => "method_not_allowed",
        }
    }
}

/// The HTTP status of an error code (the DESIGN table).
pub(crate) fn status_of(code: &str) -> StatusCode {
    match code {
        "invalid_input" => StatusCode::BAD_REQUEST,
        "unauthorized" => StatusCode::UNAUTHORIZED,
        "forbidden_by_policy" => StatusCode::FORBIDDEN,
        "unknown_worker" | "not_found" => StatusCode::NOT_FOUND,
        "method_not_allowed" => StatusCode::METHOD_NOT_ALLOWED,
        "worker_busy" | "worker_exists" | "worker_stopped" => StatusCode::CONFLICT,
        "cursor_expired" => StatusCode::GONE,
        "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON body of an error.
#[derive(Serialize)]
pub(crate) struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
}

impl<'a> ErrorBody<'a> {
    pub(crate) fn new(code: &'a str, message: String) -> Self {
        Self {
            error: ErrorDetail { code, message },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        let body = ErrorBody::new(code, self.to_string());
        (status_of(code), Json(body)).into_response()
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
