//! How long the Backend serves one runtime's handle: until a reload removes the runtime or
//! replaces its handle. Every event stream opened through a handle ends, with a
//! `runtime_status` frame saying why, when its lifetime does; the streams of runtimes a reload
//! left alone never notice it.

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use serde::Serialize;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use yoi_registry_core::{ErrorCode, RuntimeId, WorkerId};

use crate::events::frame::render;

/// Why a handle is no longer served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retirement {
    /// The runtime left the configuration, or became hidden.
    Removed,
    /// Its table changed: a new handle serves it.
    Reconfigured,
}

/// What browsers are told of a runtime a reload removed.
pub(crate) fn removed_message(runtime_id: &RuntimeId) -> String {
    format!("runtime {runtime_id} is no longer in the workspace's configuration")
}

/// The lifetime of one runtime's handle; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Lifetime {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    ended: CancellationToken,
    why: OnceLock<Retirement>,
}

/// `data:` of the `runtime_status` frame that ends a worker's stream.
#[derive(Serialize)]
struct EndData<'a> {
    runtime_id: &'a RuntimeId,
    worker_id: &'a WorkerId,
    status: &'static str,
    code: ErrorCode,
    message: String,
}

impl Lifetime {
    /// Ends it: every stream of the handle ends, saying `why`.
    pub(crate) fn end(&self, why: Retirement) {
        let _ = self.inner.why.set(why);
        self.inner.ended.cancel();
    }

    /// Whether it ended.
    pub(crate) fn is_ended(&self) -> bool {
        self.inner.ended.is_cancelled()
    }

    /// Resolves once it ended.
    pub(crate) fn ended(&self) -> WaitForCancellationFutureOwned {
        self.inner.ended.clone().cancelled_owned()
    }

    /// The last frame of a stream of `worker_id` whose handle's lifetime ended.
    pub(crate) fn end_frame(&self, runtime_id: &RuntimeId, worker_id: &WorkerId) -> Bytes {
        let why = self.inner.why.get().copied();
        let data = match why.unwrap_or(Retirement::Reconfigured) {
            Retirement::Removed => EndData {
                runtime_id,
                worker_id,
                status: "removed",
                code: ErrorCode::UnknownRuntime,
                message: removed_message(runtime_id),
            },
            Retirement::Reconfigured => EndData {
                runtime_id,
                worker_id,
                status: "unavailable",
                code: ErrorCode::RuntimeUnavailable,
                message: format!(
                    "runtime {runtime_id} was reconfigured; reconnect with Last-Event-ID to resume"
                ),
            },
        };
        render("runtime_status", &data)
    }
}
