//! Request parts, each refused in the project's error format: the ids of a path (validated by the
//! id rule), query strings, bodies (with the size limit) and the resume point of an event stream.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use yoi_registry_core::{ErrorCode, RegistryError, RuntimeId, WorkerId};

use crate::error::ApiError;

/// The `{runtime_id}` and `{worker_id}` of a route, as sent. Extraction never fails, so that a
/// mutation with a bad id is still audited; [`PathIds::runtime`] and [`PathIds::worker`]
/// validate.
pub(crate) struct PathIds {
    runtime: Option<String>,
    worker: Option<String>,
    /// The parameter whose segment did not decode to UTF-8 (the router then gives none).
    undecodable: Option<String>,
}

impl PathIds {
    /// The runtime id, or `invalid_input`.
    pub(crate) fn runtime(&self) -> Result<RuntimeId, ApiError> {
        self.runtime
            .as_deref()
            .and_then(|id| RuntimeId::new(id).ok())
            .ok_or_else(|| self.invalid("runtime_id"))
    }

    /// The worker id, or `invalid_input`.
    pub(crate) fn worker(&self) -> Result<WorkerId, ApiError> {
        self.worker
            .as_deref()
            .and_then(|id| WorkerId::new(id).ok())
            .ok_or_else(|| self.invalid("worker_id"))
    }

    /// The refusal of parameter `name` (`runtime_id` or `worker_id`); a segment that did not
    /// decode is named instead, whichever id was asked for.
    fn invalid(&self, name: &str) -> ApiError {
        let (name, problem) = match self.undecodable.as_deref() {
            Some(undecodable) => (undecodable, "not valid UTF-8"),
            None => (name, "not a valid id"),
        };
        let which = name.trim_end_matches("_id");
        ApiError::invalid(format!("the {which} id in the path is {problem}"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = Path::<HashMap<String, String>>::from_request_parts(parts, state).await;
        let undecodable = match &params {
            Err(PathRejection::FailedToDeserializePathParams(error)) => match error.kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => Some(key.clone()),
                _ => None,
            },
            _ => None,
        };
        let mut params = params.map(|Path(params)| params).unwrap_or_default();
        Ok(Self {
            runtime: params.remove("runtime_id"),
            worker: params.remove("worker_id"),
            undecodable,
        })
    }
}

/// A query string; malformed or mistyped parameters are `invalid_input`.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Query::try_from_uri(&parts.uri)
            .map(|Query(value)| Self(value))
            .map_err(|_| {
                ApiError::invalid(
                    "the query string has an unknown, malformed or mistyped parameter",
                )
            })
    }
}

/// A request body within the server's limit, with its headers. Extraction never fails, so that a
/// refused body is still audited; [`Body::bytes`] holds the refusal.
pub(crate) struct Body {
    /// The request's headers (the content type decides how the body is read).
    pub(crate) headers: HeaderMap,
    /// The body, or `payload_too_large` / `invalid_input`.
    pub(crate) bytes: Result<Bytes, RegistryError>,
}

impl Body {
    /// How many bytes were sent (the declared length when the body was refused).
    pub(crate) fn len(&self) -> u64 {
        match &self.bytes {
            Ok(bytes) => bytes.len() as u64,
            Err(_) => declared_len(&self.headers),
        }
    }

    /// The body as a JSON object of type `T`.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let bytes = self.bytes.as_ref().map_err(|error| error.clone())?;
        worker_runtime::http::parse_json_object(&self.headers, bytes).map_err(ApiError::invalid)
    }
}

/// The length a request declares for its body (0 when it declares none).
pub(crate) fn declared_len(headers: &HeaderMap) -> u64 {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse().ok())
        .unwrap_or(0)
}

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let headers = request.headers().clone();
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => RegistryError::new(
                    ErrorCode::PayloadTooLarge,
                    "the request body is over the limit of this server",
                ),
                _ => RegistryError::new(
                    ErrorCode::InvalidInput,
                    "the request body could not be read",
                ),
            });
        Ok(Self { headers, bytes })
    }
}
