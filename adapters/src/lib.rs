//! Runtime adapters, one file and one cargo feature each: `embedded` (a `worker_runtime::Runtime`
//! called directly), `http-client` (a remote `worker-runtime` process over HTTP and SSE) and
//! `local-pod-compat` (the legacy on-disk pod store, read-only). Each registers itself with
//! `inventory`.
//!
//! The adapters land with the registry issue; until then this crate is intentionally empty.
