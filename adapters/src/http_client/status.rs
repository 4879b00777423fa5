//! What the Backend last knew of a remote runtime, refreshed by every call and by a background
//! probe of `/v1/health`. A runtime known to be down is listed from here at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use worker_runtime::Timestamp;
use yoi_registry_core::{ErrorCode, RegistryError, RuntimeOverview};

use super::Remote;

/// The last outcome of talking to the runtime.
#[derive(Default)]
pub(crate) struct StatusCache {
    known: Mutex<Known>,
    probing: AtomicBool,
}

#[derive(Default)]
struct Known {
    last_seen_at: Option<Timestamp>,
    /// Why the runtime is down, while it is.
    down: Option<RegistryError>,
}

impl StatusCache {
    /// Records a call's outcome. Any answer, even an error the runtime typed, means it is up;
    /// only failing to reach it means it is down.
    pub(crate) fn record(&self, outcome: Result<(), &RegistryError>) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Err(error)
                if matches!(
                    error.code,
                    ErrorCode::RuntimeUnavailable | ErrorCode::RuntimeTimeout
                ) =>
            {
                known.down = Some(error.clone());
            }
            _ => {
                known.last_seen_at = Some(Timestamp::now());
                known.down = None;
            }
        }
    }

    /// The overview of a runtime known to be down, if it is.
    pub(crate) fn known_down(&self) -> Option<RuntimeOverview> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known
            .down
            .as_ref()
            .map(|error| overview(error, known.last_seen_at))
    }

    /// The overview after `error`.
    pub(crate) fn unavailable_overview(&self, error: &RegistryError) -> RuntimeOverview {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        overview(error, known.last_seen_at)
    }
}

fn overview(error: &RegistryError, last_seen_at: Option<Timestamp>) -> RuntimeOverview {
    let mut overview = RuntimeOverview::unavailable(error.diagnostic_code(), error.message.clone());
    overview.last_seen_at = last_seen_at;
    overview
}

/// Marks the probe as gone when its task ends, however it ends.
struct ProbeGuard(Weak<Remote>);

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        if let Some(remote) = self.0.upgrade() {
            remote.status.probing.store(false, Ordering::Relaxed);
        }
    }
}

/// Starts the background probe of `remote` once (when a Tokio runtime is running). It holds only
/// a weak reference, so it ends when the handle is dropped.
pub(crate) fn ensure_probe(remote: &Arc<Remote>) {
    let Ok(tokio) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if remote.status.probing.swap(true, Ordering::Relaxed) {
        return;
    }
    let weak = Arc::downgrade(remote);
    let interval = remote.probe_interval;
    tokio.spawn(async move {
        // If this task is dropped (its Tokio runtime shut down), the next call starts another.
        let _restart = ProbeGuard(weak.clone());
        loop {
            tokio::time::sleep(interval).await;
            let Some(remote) = weak.upgrade() else {
                return;
            };
            let outcome = remote.caller.health().await;
            remote.status.record(outcome.as_ref().map(|_| ()));
        }
    });
}
