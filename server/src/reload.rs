//! Reloading the configuration while serving. The new file is built whole first, each runtime
//! whose recipe did not change keeping its running handle; an invalid file changes nothing. An
//! applied reload retires the handles of removed and changed runtimes (their event streams end,
//! saying so) and shuts them down, then serves the new runtimes, and the workspace feed follows.
//! Every reload, applied or refused, is one audit line, written once the file is built (which
//! touches nothing: handles open what they need on first use) and before anything is served.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;

use yoi_config::{ConfigErrors, WorkspaceConfig};
use yoi_registry_core::{RuntimeHandle, RuntimeId};

use crate::lifetime::Retirement;
use crate::registry_builder::build_runtimes;
use crate::served::Served;
use crate::state::AppState;

/// What a reload changed, by runtime id, in configuration order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// New in the file.
    pub added: Vec<RuntimeId>,
    /// No longer in the file.
    pub removed: Vec<RuntimeId>,
    /// In both, with a different table: served by a new handle.
    pub changed: Vec<RuntimeId>,
    /// How many kept their handle, their connections and their browsers' streams.
    pub unchanged: usize,
}

impl fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |ids: &[RuntimeId]| match ids {
            [] => String::new(),
            ids => {
                let names: Vec<&str> = ids.iter().map(RuntimeId::as_str).collect();
                format!(" ({})", names.join(", "))
            }
        };
        write!(
            f,
            "{} added{}, {} removed{}, {} changed{}, {} unchanged",
            self.added.len(),
            list(&self.added),
            self.removed.len(),
            list(&self.removed),
            self.changed.len(),
            list(&self.changed),
            self.unchanged
        )
    }
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file is malformed, or a runtime in it cannot be built.
    #[error("{0}")]
    Invalid(ConfigErrors),
    /// The audit line cannot be written.
    #[error("the audit log cannot be written ({0}), so the reload is refused")]
    AuditFailed(std::io::ErrorKind),
}

impl AppState {
    /// Serves the runtimes of `config` from now on, or (when it is an error, or cannot be
    /// built) goes on serving the current ones. Answers what changed.
    pub async fn reload(
        &self,
        config: Result<WorkspaceConfig, ConfigErrors>,
    ) -> Result<ReloadReport, ReloadError> {
        let _one_at_a_time = self.inner.reloading.lock().await;
        let current = self.served();
        let built =
            config.and_then(|config| build_runtimes(&config, &|recipe| current.running(recipe)));
        let audited = self.audit().reload(built.is_ok()).await;
        let built = built.map_err(ReloadError::Invalid)?;
        audited.map_err(ReloadError::AuditFailed)?;
        let next = Arc::new(Served::of_built(built, Some(&current)));
        let report = compare(&current, &next);
        let retired = retire(&current, &next, &report);
        // Before a new handle is served: a changed embedded runtime's new handle opens the
        // store its old one must have flushed and let go.
        join_all(retired.iter().map(|handle| shut_down(handle.as_ref()))).await;
        self.replace_served(Arc::clone(&next));
        let visible: Vec<Arc<dyn RuntimeHandle>> = next.registry.visible().cloned().collect();
        self.inner.feed.reconcile(&visible);
        Ok(report)
    }
}

/// How long a retired handle may take to shut down before the reload goes on without it.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);

/// Shuts `handle` down, at most for [`SHUTDOWN_LIMIT`] (it is no longer served either way).
async fn shut_down(handle: &dyn RuntimeHandle) {
    if tokio::time::timeout(SHUTDOWN_LIMIT, handle.shutdown())
        .await
        .is_err()
    {
        let runtime = &handle.descriptor().id;
        tracing::warn!(%runtime, "reload: the runtime's old handle did not shut down in time");
    }
}

/// What changed from `current` to `next`, as browsers see it: a runtime that became hidden is
/// removed, one that became visible is added.
fn compare(current: &Served, next: &Served) -> ReloadReport {
    let visible_in = |served: &Served, id: &RuntimeId| {
        served
            .registry
            .get(id)
            .is_ok_and(|handle| handle.descriptor().policy.visible)
    };
    let mut report = ReloadReport::default();
    for handle in next.registry.handles() {
        let id = &handle.descriptor().id;
        let (before, now) = (visible_in(current, id), visible_in(next, id));
        if current.serves(handle) {
            report.unchanged += 1;
        } else if now && !before {
            report.added.push(id.clone());
        } else if before && !now {
            report.removed.push(id.clone());
        } else if current.registry.get(id).is_ok() {
            report.changed.push(id.clone());
        } else {
            // A new runtime that is hidden: nobody sees it come.
            report.added.push(id.clone());
        }
    }
    for handle in current.registry.handles() {
        let id = &handle.descriptor().id;
        if next.registry.get(id).is_err() {
            report.removed.push(id.clone());
        }
    }
    report
}

/// Ends the lifetimes of the handles of `current` that `next` no longer serves (a runtime
/// removed, or now hidden: `Removed`; any other: `Reconfigured`); answers those handles, to be
/// shut down.
fn retire(current: &Served, next: &Served, report: &ReloadReport) -> Vec<Arc<dyn RuntimeHandle>> {
    let mut retired = Vec::new();
    for handle in current.registry.handles() {
        if next.serves(handle) {
            continue;
        }
        let id = &handle.descriptor().id;
        let why = match report.removed.contains(id) {
            true => Retirement::Removed,
            false => Retirement::Reconfigured,
        };
        if let Some(lifetime) = current.lifetime(id) {
            lifetime.end(why);
        }
        retired.push(Arc::clone(handle));
    }
    retired
}
