//! Finding an adapter by name, and explaining what this build left out.

use yoi_registry_core::{AdapterFactory, AdapterLookupError, adapter_factories, find_adapter};

/// Every adapter this crate can provide; each is also the name of the cargo feature that adds it.
pub const ADAPTER_NAMES: [&str; 3] = ["embedded", "http-client", "local-pod-compat"];

/// The adapters compiled into this build, sorted (or why they cannot be told apart).
pub fn enabled_adapters() -> Result<Vec<&'static str>, AdapterLookupError> {
    Ok(adapter_factories()?.keys().copied().collect())
}

/// The factory named `name`. An adapter this crate has but this build left out is explained
/// with the cargo feature that adds it.
pub fn find(name: &str) -> Result<&'static AdapterFactory, String> {
    find_adapter(name).map_err(|error| match error {
        AdapterLookupError::Unknown { .. } if ADAPTER_NAMES.contains(&name) => format!(
            "adapter `{name}` is not compiled into this build (enable cargo feature `{name}`)"
        ),
        other => other.to_string(),
    })
}
