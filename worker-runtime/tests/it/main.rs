//! Behaviour of the Runtime API, one module per area. Tests wait for conditions by polling with
//! a deadline, never by sleeping blindly.

/// Command engine: streaming, failures, cancel, timeout, process groups.
mod command;
/// RuntimeConfig from TOML and its validation.
mod config;
/// Echo engine runs and their event order.
mod echo;
/// Subscriptions: replay/live seam, retention, stream ends.
mod events;
/// The feed: every Worker's state, then each new one; a subscriber that falls behind.
mod feed;
/// Persistence: restart, crash recovery, corrupt lines.
#[cfg(feature = "fs-store")]
mod fs_store;
/// The REST + SSE server, through HTTP on 127.0.0.1.
#[cfg(feature = "http-server")]
mod http;
/// Id validation at every entry point.
mod ids;
/// Inputs: validation, busy, stopped, acks.
mod input;
/// Create, list, get, stop, cancel, summary.
mod lifecycle;
/// Model engines against a scripted provider: requests, streaming, usage, failures.
#[cfg(feature = "llm")]
mod llm;
/// Transcript pages and retention.
mod transcript;

mod support;
