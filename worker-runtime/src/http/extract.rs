//! Extractors that reject in the project's error format: JSON bodies, query strings and worker
//! ids in paths (validated by the id rule before any handler runs).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::HttpError;
use super::json_body::parse_json_object;
use crate::WorkerId;

/// A JSON object body (see [`parse_json_object`]); a body over the limit is
/// `payload_too_large`, anything else wrong with it `invalid_input`.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, HttpError> {
        let headers = request.headers().clone();
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => HttpError::BodyTooLarge,
                    _ => HttpError::invalid(rejection.body_text()),
                })?;
        parse_json_object(&headers, &bytes)
            .map(Self)
            .map_err(HttpError::invalid)
    }
}

/// A query string; malformed or mistyped parameters are `invalid_input`.
pub(crate) struct RuntimeQuery<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for RuntimeQuery<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HttpError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(HttpError::invalid(rejection.body_text())),
        }
    }
}

/// The `{id}` of a worker route, validated.
pub(crate) struct WorkerPath(pub(crate) WorkerId);

impl<S: Send + Sync> FromRequestParts<S> for WorkerPath {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HttpError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| HttpError::invalid("the worker id in the path is malformed"))?;
        Ok(Self(WorkerId::new(id).map_err(crate::RuntimeError::from)?))
    }
}
