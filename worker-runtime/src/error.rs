//! The one error type of the Runtime API. Each variant has a stable `code` from the DESIGN error
//! table; protocol layers map codes to statuses, so no HTTP concept appears here.

use crate::id::{IdError, WorkerId};

/// Everything a Runtime operation can refuse. Messages never carry a path, URL or secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// Code `invalid_input`: a malformed id, unknown profile, empty input, bad page or cursor.
    #[error("{0}")]
    InvalidInput(String),
    /// Code `invalid_input`: an id breaks the id rule.
    #[error(transparent)]
    InvalidId(#[from] IdError),
    /// Code `payload_too_large`: an input over the Runtime's `max_input_bytes`.
    #[error("input is {size} bytes; this runtime accepts at most {limit}")]
    PayloadTooLarge {
        /// Size of the refused input in bytes.
        size: usize,
        /// The configured limit in bytes.
        limit: usize,
    },
    /// Code `unknown_worker`: no Worker with this id.
    #[error("worker {0} does not exist")]
    UnknownWorker(WorkerId),
    /// Code `worker_exists`: create with an id that is taken.
    #[error("worker {0} already exists")]
    WorkerExists(WorkerId),
    /// Code `worker_busy`: input while a run is active.
    #[error("worker {0} is running; wait for the run to end or cancel it")]
    WorkerBusy(WorkerId),
    /// Code `worker_stopped`: input or cancel to a stopped (or stopping) Worker.
    #[error("worker {0} is stopped")]
    WorkerStopped(WorkerId),
    /// Code `forbidden_by_policy`: the Runtime already holds its configured maximum of Workers.
    #[error("this runtime holds at most {limit} workers")]
    WorkerLimitReached {
        /// The configured `max_workers`.
        limit: usize,
    },
    /// Code `cursor_expired`: events after the cursor are no longer retained, so resuming there
    /// would leave a silent gap.
    #[error("events after sequence {cursor} are no longer retained (oldest retained: {oldest})")]
    CursorExpired {
        /// The cursor the caller asked to resume after.
        cursor: u64,
        /// The oldest sequence still retained.
        oldest: u64,
    },
}

impl RuntimeError {
    /// The stable machine-readable code of the DESIGN error table.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) | Self::InvalidId(_) => "invalid_input",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnknownWorker(_) => "unknown_worker",
            Self::WorkerExists(_) => "worker_exists",
            Self::WorkerBusy(_) => "worker_busy",
            Self::WorkerStopped(_) => "worker_stopped",
            Self::WorkerLimitReached { .. } => "forbidden_by_policy",
            Self::CursorExpired { .. } => "cursor_expired",
        }
    }
}
