//! Runtime adapters, one file and one cargo feature each. Each file ends with one
//! `inventory::submit!` of its [`AdapterFactory`](yoi_registry_core::AdapterFactory), so the
//! registry finds it by name without a central list.
//!
//! A binary or test that needs the adapters must name this crate (`use yoi_adapters as _;`),
//! otherwise the linker drops it together with its submissions.

#[cfg(feature = "embedded")]
mod embedded;
#[cfg(feature = "http-client")]
mod http_client;
#[cfg(feature = "local-pod-compat")]
mod local_pod_compat;

mod lookup;

pub use lookup::{ADAPTER_NAMES, enabled_adapters, find};
