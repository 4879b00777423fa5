//! `RuntimeRegistry`: every runtime of the workspace by id, and listings that ask them all at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use worker_runtime::RuntimeId;

use crate::error::{ErrorCode, RegistryError};
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

    /// The runtime `id` if policy lets it be seen; a hidden one is `unknown_runtime`, exactly as
    /// if it did not exist.
    pub fn get_visible(&self, id: &RuntimeId) -> Result<&Arc<dyn RuntimeHandle>, RegistryError> {
        self.get(id)
            .ok()
            .filter(|handle| handle.descriptor().policy.visible)
            .ok_or_else(|| RegistryError::unknown_runtime(id))
    }

    /// Every runtime, in configuration order.
    pub fn handles(&self) -> &[Arc<dyn RuntimeHandle>] {
        &self.handles
    }

    /// The runtimes policy lets be seen, in configuration order.
    pub fn visible(&self) -> impl Iterator<Item = &Arc<dyn RuntimeHandle>> {
        self.handles
            .iter()
            .filter(|handle| handle.descriptor().policy.visible)
    }

    /// The overview of every visible runtime, asked concurrently. Each answer is awaited at most
    /// for its runtime's timeout, so one slow or dead runtime costs the listing at most that long
    /// and shows as `unavailable` instead of failing it.
    pub async fn overviews(&self) -> Vec<(&Arc<dyn RuntimeHandle>, RuntimeOverview)> {
        join_all(
            self.visible()
                .map(|handle| async move { (handle, overview_of(handle.as_ref()).await) }),
        )
        .await
    }
}

/// `handle`'s overview, awaited at most for its timeout; `unavailable` when it takes longer.
pub async fn overview_of(handle: &dyn RuntimeHandle) -> RuntimeOverview {
    bounded(handle, handle.overview())
        .await
        .unwrap_or_else(|error| RuntimeOverview::unavailable(error.code.as_str(), error.message))
}

/// A little more than a runtime's timeout, so an adapter that bounds its own calls by it records
/// the failure itself before the listing gives up on it.
const LISTING_GRACE: Duration = Duration::from_millis(20);

/// `future`, a call to `handle`, awaited at most for the runtime's timeout (plus a little grace
/// for the adapter to time out first); longer is `runtime_timeout`. Only the listing uses it: it
/// must answer even when an adapter breaks its promise to bound its own calls.
async fn bounded<T>(
    handle: &dyn RuntimeHandle,
    future: impl Future<Output = T>,
) -> Result<T, RegistryError> {
    let descriptor = handle.descriptor();
    tokio::time::timeout(descriptor.timeout + LISTING_GRACE, future)
        .await
        .map_err(|_| {
            RegistryError::new(
                ErrorCode::RuntimeTimeout,
                format!(
                    "the runtime did not answer within {} ms",
                    descriptor.timeout.as_millis()
                ),
            )
            .for_runtime(&descriptor.id)
        })
}
