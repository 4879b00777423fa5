//! `RuntimeRegistry`: every runtime of the workspace by id, and listings that ask them all at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use worker_runtime::RuntimeId;

use crate::error::RegistryError;
use crate::handle::{RuntimeHandle, RuntimeOverview};

/// The runtimes of a workspace, in configuration order, found by id.
pub struct RuntimeRegistry {
    handles: Vec<Arc<dyn RuntimeHandle>>,
    by_id: HashMap<RuntimeId, usize>,
}

/// Two runtimes with one id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("runtime id {0} is used twice")]
pub struct DuplicateRuntime(pub RuntimeId);

impl RuntimeRegistry {
    /// A registry of `handles`; their ids must be distinct.
    pub fn new(handles: Vec<Arc<dyn RuntimeHandle>>) -> Result<Self, DuplicateRuntime> {
        let mut by_id = HashMap::with_capacity(handles.len());
        for (index, handle) in handles.iter().enumerate() {
            let id = &handle.descriptor().id;
            if by_id.insert(id.clone(), index).is_some() {
                return Err(DuplicateRuntime(id.clone()));
            }
        }
        Ok(Self { handles, by_id })
    }

    /// The runtime `id`, or `unknown_runtime`.
    pub fn get(&self, id: &RuntimeId) -> Result<&Arc<dyn RuntimeHandle>, RegistryError> {
        self.by_id
            .get(id)
            .map(|index| &self.handles[*index])
            .ok_or_else(|| RegistryError::unknown_runtime(id))
    }

    /// Every runtime, in configuration order.
    pub fn handles(&self) -> &[Arc<dyn RuntimeHandle>] {
        &self.handles
    }

    /// The overview of every runtime, asked concurrently. Each answer is awaited at most for its
    /// runtime's timeout, so one slow or dead runtime costs the listing at most that long and
    /// shows as `unavailable` instead of failing it.
    pub async fn overviews(&self) -> Vec<RuntimeOverview> {
        join_all(
            self.handles
                .iter()
                .map(|handle| overview_within_timeout(handle.as_ref())),
        )
        .await
    }
}

/// A little more than a runtime's timeout, so an adapter that bounds its own calls by it records
/// the failure itself before the listing gives up on it.
const LISTING_GRACE: Duration = Duration::from_millis(20);

/// A runtime's overview, or `unavailable` when it takes longer than its timeout.
async fn overview_within_timeout(handle: &dyn RuntimeHandle) -> RuntimeOverview {
    let timeout = handle.descriptor().timeout;
    match tokio::time::timeout(timeout + LISTING_GRACE, handle.overview()).await {
        Ok(overview) => overview,
        Err(_) => RuntimeOverview::unavailable(
            "runtime_timeout",
            format!(
                "the runtime did not answer within {} ms",
                timeout.as_millis()
            ),
        ),
    }
}
