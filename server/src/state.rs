//! What every handler can reach: the runtimes served (replaced whole by a reload), the event
//! hub, the workspace feed, the audit log and the options.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use worker_runtime::http::BearerToken;
use worker_runtime::protocol::{DEFAULT_BODY_LIMIT, DEFAULT_KEEP_ALIVE};
use yoi_registry_core::{ErrorCode, RegistryError, RuntimeHandle, RuntimeId, RuntimeRegistry};

use yoi_config::{ConfigErrors, WorkspaceConfig};

use crate::audit::{AuditError, AuditLog};
use crate::error::ApiError;
use crate::events::EventHub;
use crate::feed::FeedHub;
use crate::lifetime::Lifetime;
use crate::registry_builder::build_runtimes;
use crate::served::Served;

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
    /// Replaced whole by a reload.
    served: RwLock<Arc<Served>>,
    /// Held by a reload, so that two never interleave.
    pub(crate) reloading: tokio::sync::Mutex<()>,
    pub(crate) hub: EventHub,
    pub(crate) feed: FeedHub,
    pub(crate) audit: AuditLog,
    pub(crate) options: ServerOptions,
}

/// Why a Backend cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// workspace.toml is malformed, or a runtime in it cannot be built.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The audit log cannot be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl AppState {
    /// The state of a Backend over `registry`. Fails when the audit log cannot be opened for
    /// appending. A reload rebuilds every runtime of such a registry.
    pub fn new(registry: RuntimeRegistry, options: ServerOptions) -> Result<Self, AuditError> {
        Self::serving(Served::of_registry(registry), options)
    }

    /// The state of a Backend over the runtimes of `config`, which a reload can compare with
    /// the file's next version.
    pub fn configured(
        config: &WorkspaceConfig,
        options: ServerOptions,
    ) -> Result<Self, StartError> {
        let built = build_runtimes(config, &|_| None)?;
        Ok(Self::serving(Served::of_built(built, None), options)?)
    }

    fn serving(served: Served, options: ServerOptions) -> Result<Self, AuditError> {
        let audit = AuditLog::open(options.audit_path.clone())?;
        Ok(Self {
            inner: Arc::new(Shared {
                feed: FeedHub::new(&served.registry, options.stream_grace),
                served: RwLock::new(Arc::new(served)),
                reloading: tokio::sync::Mutex::new(()),
                hub: EventHub::new(options.stream_grace, options.stream_buffer),
                audit,
                options,
            }),
        })
    }

    /// The registry this Backend serves now.
    pub fn registry(&self) -> Arc<RuntimeRegistry> {
        Arc::clone(&self.served().registry)
    }

    /// How many upstream event subscriptions are shared right now.
    pub fn shared_streams(&self) -> usize {
        self.inner.hub.open_channels()
    }

    /// The runtimes served now.
    pub(crate) fn served(&self) -> Arc<Served> {
        Arc::clone(&self.read_served())
    }

    /// The runtimes served now, for a look that needs no snapshot of its own (a request's
    /// handle): no reference count is taken.
    fn read_served(&self) -> RwLockReadGuard<'_, Arc<Served>> {
        self.inner
            .served
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves `served` from now on.
    pub(crate) fn replace_served(&self, served: Arc<Served>) {
        let mut current = self
            .inner
            .served
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *current = served;
    }

    /// The audit log.
    pub(crate) fn audit(&self) -> &AuditLog {
        &self.inner.audit
    }

    /// Whether the Backend has a browser token (which every `/api` request must then carry).
    pub(crate) fn requires_token(&self) -> bool {
        self.inner.options.token.is_some()
    }

    /// Whether `headers` carry the browser token (always, when none is set).
    pub(crate) fn admits(&self, headers: &axum::http::HeaderMap) -> bool {
        let token = self.inner.options.token.as_ref();
        token.is_none_or(|token| token.admits(headers))
    }

    /// The runtime `id` if it is visible; `unknown_runtime` otherwise.
    pub(crate) fn runtime(&self, id: &RuntimeId) -> Result<Arc<dyn RuntimeHandle>, ApiError> {
        Ok(Arc::clone(self.read_served().registry.get_visible(id)?))
    }

    /// The visible runtime `id` with the lifetime of its handle, for an event stream.
    pub(crate) fn runtime_for_events(
        &self,
        id: &RuntimeId,
    ) -> Result<(Arc<dyn RuntimeHandle>, Lifetime), ApiError> {
        let served = self.read_served();
        let handle = Arc::clone(served.registry.get_visible(id)?);
        let lifetime = served
            .lifetime(id)
            .expect("every runtime served has a lifetime");
        Ok((handle, lifetime))
    }

    /// The runtime `id` if it is visible and policy lets it be changed.
    pub(crate) fn writable_runtime(
        &self,
        id: &RuntimeId,
    ) -> Result<Arc<dyn RuntimeHandle>, ApiError> {
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
