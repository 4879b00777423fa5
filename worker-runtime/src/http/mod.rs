//! The REST + SSE server of a standalone runtime process (feature `http-server`).
//!
//! [`router`] wraps the [`Runtime`] API one to one under `/v1`, so Worker semantics exist once;
//! [`serve`] serves a router (this one or the Backend's) on a listener.
//! Only the Workspace Backend talks to this server, never a browser.

mod auth;
mod error;
mod events;
mod extract;
mod feed;
mod json_body;
mod linger;
mod log;
mod log_writer;
mod routes;
mod serve;
mod sse;
mod tls;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio_util::sync::CancellationToken;

use crate::Runtime;
use crate::protocol::{DEFAULT_BODY_LIMIT, DEFAULT_KEEP_ALIVE};

pub use auth::{BearerToken, TokenError};
pub use json_body::parse_json_object;
pub use log_writer::{LogGuard, flush_log, init_logging};
pub use serve::{DEFAULT_HEADER_TIMEOUT, ServeOptions, default_max_connections, serve};
pub use sse::{ready_batches, sse_response, write_frame};
pub use tls::{TlsError, TlsFiles, server_config};

/// How the server behaves around the Runtime API.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Required as `Authorization: Bearer` on every route but `/v1/health`; `None` disables
    /// authentication.
    pub token: Option<BearerToken>,
    /// The largest request body accepted, in bytes; larger is `413 payload_too_large`.
    pub body_limit: usize,
    /// Idle event streams get a comment this often, so intermediaries keep them open.
    pub keep_alive: Duration,
    /// When cancelled, open event streams end, so a graceful shutdown can complete.
    pub shutdown: CancellationToken,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            token: None,
            body_limit: DEFAULT_BODY_LIMIT,
            keep_alive: DEFAULT_KEEP_ALIVE,
            shutdown: CancellationToken::new(),
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
struct HttpState {
    runtime: Runtime,
    keep_alive: Duration,
    shutdown: CancellationToken,
}

/// The `/v1` REST + SSE router over `runtime`.
pub fn router(runtime: Runtime, options: HttpOptions) -> Router {
    let state = HttpState {
        runtime,
        keep_alive: options.keep_alive,
        shutdown: options.shutdown,
    };
    routes::protected()
        .route_layer(axum::middleware::from_fn_with_state(
            options.token,
            auth::require_token,
        ))
        .merge(routes::open())
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::no_method)
        .layer(DefaultBodyLimit::max(options.body_limit))
        .layer(axum::middleware::from_fn(log::log_request))
        .with_state(state)
}
