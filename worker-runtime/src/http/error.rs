//! The one error type of the REST server and its status table. Every failure answers
//! `{"error":{"code","message"}}`; nothing answers in axum's plain text.

use crate::RuntimeError;
use crate::protocol::ErrorBody;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    /// The status follows the error (see [`HttpError::status`]).
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

impl HttpError {
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

    /// The HTTP status (the DESIGN table, plus the protocol's own 401, 404 and 405).
    fn status(&self) -> StatusCode {
        match self {
            Self::Runtime(error) => match error {
                RuntimeError::InvalidInput(_) | RuntimeError::InvalidId(_) => {
                    StatusCode::BAD_REQUEST
                }
                RuntimeError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                RuntimeError::UnknownWorker(_) => StatusCode::NOT_FOUND,
                RuntimeError::WorkerExists(_)
                | RuntimeError::WorkerBusy(_)
                | RuntimeError::WorkerStopped(_) => StatusCode::CONFLICT,
                RuntimeError::WorkerLimitReached { .. } => StatusCode::FORBIDDEN,
                RuntimeError::CursorExpired { .. } => StatusCode::GONE,
            },
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::NoMethod => StatusCode::METHOD_NOT_ALLOWED,
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = ErrorBody::new(self.code(), self.to_string());
        (self.status(), Json(body)).into_response()
    }
}

/// Answers a path that matches no route.
pub(crate) async fn no_route() -> HttpError {
    HttpError::NoRoute
}

/// Answers a route called with a method it does not have.
pub(crate) async fn no_method() -> HttpError {
    HttpError::NoMethod
}
