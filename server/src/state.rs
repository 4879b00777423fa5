//! What every handler can reach: the registry, the event hub, the workspace feed, the audit log
//! and the options.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use worker_runtime::http::BearerToken;
use worker_runtime::protocol::{DEFAULT_BODY_LIMIT, DEFAULT_KEEP_ALIVE};
use yoi_registry_core::{ErrorCode, RegistryError, RuntimeHandle, RuntimeId, RuntimeRegistry};

use crate::audit::{AuditError, AuditLog};
use crate::error::ApiError;
use crate::events::EventHub;
use crate::feed::FeedHub;

/// How many recent events a shared upstream subscription keeps for browsers that resume, which
/// is also how far a browser may fall behind before its stream is reset.
pub const DEFAULT_STREAM_BUFFER: usize = 1024;

/// How long a shared upstream event subscription stays open after its last browser left, so
/// that a page reload does not reopen it.
pub const DEFAULT_STREAM_GRACE: Duration = Duration::from_secs(5);

/// How the Backend behaves around the registry.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Required as `Authorization: Bearer` on every `/api` route; `None` disables it.
    pub token: Option<BearerToken>,
    /// The largest request body accepted, in bytes; larger is `413 payload_too_large`.
    pub body_limit: usize,
    /// Idle event streams get a comment this often, so intermediaries keep them open.
    pub keep_alive: Duration,
    /// How long an upstream subscription outlives its last browser.
    pub stream_grace: Duration,
    /// How many recent events a subscription keeps; how far a browser may fall behind.
    pub stream_buffer: usize,
    /// The audit log: one JSON line per mutation attempt.
    pub audit_path: PathBuf,
    /// When cancelled, open event streams end, so a graceful shutdown can complete.
    pub shutdown: CancellationToken,
}

impl ServerOptions {
    /// Defaults, with the audit log at `audit_path`.
    pub fn new(audit_path: PathBuf) -> Self {
        Self {
            token: None,
            body_limit: DEFAULT_BODY_LIMIT,
            keep_alive: DEFAULT_KEEP_ALIVE,
            stream_grace: DEFAULT_STREAM_GRACE,
            stream_buffer: DEFAULT_STREAM_BUFFER,
            audit_path,
            shutdown: CancellationToken::new(),
        }
    }
}

/// The Backend's shared state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) registry: RuntimeRegistry,
    pub(crate) hub: EventHub,
    pub(crate) feed: FeedHub,
    pub(crate) audit: AuditLog,
    pub(crate) options: ServerOptions,
}

impl AppState {
    /// The state of a Backend over `registry`. Fails when the audit log cannot be opened for
    /// appending.
    pub fn new(registry: RuntimeRegistry, options: ServerOptions) -> Result<Self, AuditError> {
        let audit = AuditLog::open(options.audit_path.clone())?;
        Ok(Self {
            inner: Arc::new(Shared {
                feed: FeedHub::new(&registry, options.stream_grace),
                registry,
                hub: EventHub::new(options.stream_grace, options.stream_buffer),
                audit,
                options,
            }),
        })
    }

    /// The registry this Backend serves.
    pub fn registry(&self) -> &RuntimeRegistry {
        &self.inner.registry
    }

    /// How many upstream event subscriptions are shared right now.
    pub fn shared_streams(&self) -> usize {
        self.inner.hub.open_channels()
    }

    /// The audit log.
    pub(crate) fn audit(&self) -> &AuditLog {
        &self.inner.audit
    }

    /// Whether `headers` carry the browser token (always, when none is set).
    pub(crate) fn admits(&self, headers: &axum::http::HeaderMap) -> bool {
        let token = self.inner.options.token.as_ref();
        token.is_none_or(|token| token.admits(headers))
    }

    /// The runtime `id` if it is visible; `unknown_runtime` otherwise.
    pub(crate) fn runtime(&self, id: &RuntimeId) -> Result<&Arc<dyn RuntimeHandle>, ApiError> {
        Ok(self.inner.registry.get_visible(id)?)
    }

    /// The runtime `id` if it is visible and policy lets it be changed.
    pub(crate) fn writable_runtime(
        &self,
        id: &RuntimeId,
    ) -> Result<&Arc<dyn RuntimeHandle>, ApiError> {
        let handle = self.runtime(id)?;
        if handle.descriptor().policy.read_only {
            return Err(RegistryError::new(
                ErrorCode::ForbiddenByPolicy,
                format!("runtime {id} is read-only"),
            )
            .for_runtime(id)
            .into());
        }
        Ok(handle)
    }
}
