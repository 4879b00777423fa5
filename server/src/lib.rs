//! The browser-facing Workspace Backend: an axum router over the `RuntimeRegistry`, the SSE event
//! proxy, policy, audit, and the one place where typed errors become HTTP status codes.
//!
//! The server lands with the Backend API issue; until then this crate is intentionally empty.
