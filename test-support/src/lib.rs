//! The one test kit of the workspace, a dev-dependency of every crate whose tests need it.
//!
//! Without features it offers only the deadline and the polling every test waits with, so that
//! `worker-runtime`'s tests use it without any other crate of the workspace. The features add
//! the Backend's HTTP API as a browser calls it (`http`), an instrumented runtime handle
//! (`handle`), Backends served on 127.0.0.1 (`backend`), child processes watched
//! through their output (`process`), a scripted LLM provider (`provider`) and a headless
//! Chromium driven through WebDriver (`browser`). Tests wait by polling with
//! [`DEADLINE`], never by sleeping blindly.

use std::future::Future;
use std::time::{Duration, Instant};

#[cfg(feature = "http")]
mod api;
#[cfg(feature = "backend")]
mod backend;
#[cfg(feature = "browser")]
pub mod browser;
#[cfg(feature = "handle")]
mod handle;
#[cfg(feature = "process")]
mod process;
#[cfg(feature = "provider")]
mod provider;
#[cfg(feature = "http")]
mod raw;
#[cfg(feature = "http")]
mod sse;

#[cfg(feature = "http")]
pub use api::Api;
#[cfg(feature = "backend")]
pub use backend::{
    ServedBackend, load_registry, serve_backend, serve_backend_with, serve_workspace,
};
#[cfg(feature = "handle")]
pub use handle::{Instrumented, Overview};
#[cfg(feature = "process")]
pub use process::{Process, Stream};
#[cfg(feature = "provider")]
pub use provider::{Recorded, Reply, ScriptedProvider};
#[cfg(feature = "http")]
pub use raw::send_all_then_read;
#[cfg(feature = "http")]
pub use sse::{Frame, Frames, frames_of, open_events, sequences, until};

/// How long any one wait may take before it counts as a hang: wide, so that a loaded machine
/// cannot reach it while anything still makes progress.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How often the polling helpers look again.
const POLL: Duration = Duration::from_millis(10);

/// Awaits `future`, failing the test with `what` if it takes longer than [`DEADLINE`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("not within {DEADLINE:?}: {what}"))
}

/// Polls `condition` until it holds; fails the test with `what` after [`DEADLINE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never within {DEADLINE:?}: {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Blocks the thread, polling `found` until it gives a value; fails the test with what
/// `describe` says after [`DEADLINE`]. For tests that watch processes from plain threads.
pub fn wait_for<T>(mut found: impl FnMut() -> Option<T>, describe: impl Fn() -> String) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "not within {DEADLINE:?}: {}",
            describe()
        );
        std::thread::sleep(POLL);
    }
}
