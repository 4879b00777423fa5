//! Bearer-token authentication, compared in constant time. The token never appears in a log line,
//! a response or a `Debug` output.

use std::fmt;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::error::HttpError;

/// A secret that callers present as `Authorization: Bearer <token>`.
#[derive(Clone)]
pub struct BearerToken(String);

/// Why a string cannot be a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// It is empty (after trimming surrounding whitespace).
    #[error("the token is empty")]
    Empty,
    /// It contains whitespace or a control character, which no header could carry.
    #[error("the token contains whitespace or a control character")]
    Unprintable,
}

impl BearerToken {
    /// A token from its text; surrounding whitespace (a file's final newline) is trimmed.
    pub fn new(text: &str) -> Result<Self, TokenError> {
        let token = text.trim();
        if token.is_empty() {
            Err(TokenError::Empty)
        } else if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Err(TokenError::Unprintable)
        } else {
            Ok(Self(token.to_owned()))
        }
    }

    /// The secret, for a client that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `headers` carry `Authorization: Bearer <this token>`, compared in constant time.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        headers
            .get(AUTHORIZATION)
            .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
            .is_some_and(|presented| self.0.as_bytes().ct_eq(presented).into())
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// Lets a request through only with the right bearer token (or when no token is configured).
pub(crate) async fn require_token(
    State(token): State<Option<BearerToken>>,
    request: Request,
    next: Next,
) -> Result<Response, HttpError> {
    if token.is_some_and(|token| !token.admits(request.headers())) {
        return Err(HttpError::Unauthorized);
    }
    Ok(next.run(request).await)
}
