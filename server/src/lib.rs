//! The browser-facing Workspace Backend. Today it builds the `RuntimeRegistry` from a
//! workspace's configuration ([`build_registry`]); the HTTP API, the SSE proxy, policy and audit
//! land with the Backend API issue.

mod registry_builder;

pub use registry_builder::build_registry;
