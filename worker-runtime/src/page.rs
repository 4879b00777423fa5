//! Page size rules shared by every paged listing.

use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;
use crate::id::WorkerId;

/// Page size used when a request names none.
pub const DEFAULT_PAGE_LIMIT: usize = 100;

/// The largest page size accepted; a larger one is `invalid_input`, not silently shortened.
pub const MAX_PAGE_LIMIT: usize = 1000;

/// Which page of the Worker listing to return.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageRequest {
    /// At most this many Workers ([`DEFAULT_PAGE_LIMIT`] when absent).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Start after this worker id (the previous page's `next_after`).
    #[serde(default)]
    pub after: Option<WorkerId>,
}

/// Resolves a requested page size against the default and the maximum.
pub(crate) fn page_limit(limit: Option<usize>) -> Result<usize, RuntimeError> {
    match limit.unwrap_or(DEFAULT_PAGE_LIMIT) {
        limit @ 1..=MAX_PAGE_LIMIT => Ok(limit),
        _ => Err(RuntimeError::InvalidInput(format!(
            "limit must be between 1 and {MAX_PAGE_LIMIT}"
        ))),
    }
}
