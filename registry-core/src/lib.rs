//! The Backend's `RuntimeRegistry`: the `RuntimeHandle` trait that every runtime adapter
//! implements, the registry that routes operations by `runtime_id + worker_id`, browser-neutral
//! projections, the typed `RegistryError`, and the `AdapterFactory` that adapters submit through
//! `inventory`.
//!
//! This crate knows nothing of HTTP servers, TOML files or concrete adapters. Its contents land
//! with the registry issue; until then it is intentionally empty.
