//! `RegistryError`: one typed error for every registry operation, carrying a code of the DESIGN
//! error table. No HTTP status appears here; the server maps codes to statuses once.

use std::fmt;

use serde::{Deserialize, Serialize};
use worker_runtime::{RuntimeError, RuntimeId, WorkerId};

/// The codes of the DESIGN error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No such runtime, or it is not visible under policy.
    UnknownRuntime,
    /// The runtime is known, the worker is not.
    UnknownWorker,
    /// A bad id, bad JSON, empty input, unknown profile or bad cursor.
    InvalidInput,
    /// A body or input over the limit.
    PayloadTooLarge,
    /// A mutation on a read-only runtime, or an operation policy denies.
    ForbiddenByPolicy,
    /// Input while a run is active.
    WorkerBusy,
    /// Create with a worker id that is taken.
    WorkerExists,
    /// Input or cancel to a stopped worker.
    WorkerStopped,
    /// The adapter cannot do it.
    UnsupportedOperation,
    /// The resume point is no longer retained.
    CursorExpired,
    /// The runtime rejected the Backend's credential.
    RuntimeAuthFailed,
    /// The runtime answered something malformed.
    RuntimeProtocolError,
    /// The runtime cannot be reached.
    RuntimeUnavailable,
    /// The runtime did not answer in time.
    RuntimeTimeout,
    /// A bug.
    Internal,
}

impl ErrorCode {
    /// Every code, in table order.
    pub const ALL: [Self; 15] = [
        Self::UnknownRuntime,
        Self::UnknownWorker,
        Self::InvalidInput,
        Self::PayloadTooLarge,
        Self::ForbiddenByPolicy,
        Self::WorkerBusy,
        Self::WorkerExists,
        Self::WorkerStopped,
        Self::UnsupportedOperation,
        Self::CursorExpired,
        Self::RuntimeAuthFailed,
        Self::RuntimeProtocolError,
        Self::RuntimeUnavailable,
        Self::RuntimeTimeout,
        Self::Internal,
    ];

    /// The code as written in JSON (`worker_busy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownRuntime => "unknown_runtime",
            Self::UnknownWorker => "unknown_worker",
            Self::InvalidInput => "invalid_input",
            Self::PayloadTooLarge => "payload_too_large",
            Self::ForbiddenByPolicy => "forbidden_by_policy",
            Self::WorkerBusy => "worker_busy",
            Self::WorkerExists => "worker_exists",
            Self::WorkerStopped => "worker_stopped",
            Self::UnsupportedOperation => "unsupported_operation",
            Self::CursorExpired => "cursor_expired",
            Self::RuntimeAuthFailed => "runtime_auth_failed",
            Self::RuntimeProtocolError => "runtime_protocol_error",
            Self::RuntimeUnavailable => "runtime_unavailable",
            Self::RuntimeTimeout => "runtime_timeout",
            Self::Internal => "internal",
        }
    }

    /// The code written as `text`, if it is one of the table.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == text)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed registry operation: a code, a message for people, and which runtime and worker it
/// concerns. Messages never carry a URL, token, socket or filesystem path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RegistryError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// What happened, for people.
    pub message: String,
    /// The runtime concerned, if any.
    pub runtime_id: Option<RuntimeId>,
    /// The worker concerned, if any.
    pub worker_id: Option<WorkerId>,
    /// A narrower code for an operator's diagnostics (e.g. `tls_failed` for a
    /// `runtime_unavailable`), when the code alone says too little.
    pub diagnostic: Option<&'static str>,
}

impl RegistryError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            runtime_id: None,
            worker_id: None,
            diagnostic: None,
        }
    }

    /// The same error, its diagnostics under the narrower code `diagnostic`.
    pub fn with_diagnostic(mut self, diagnostic: &'static str) -> Self {
        self.diagnostic = Some(diagnostic);
        self
    }

    /// The code of the diagnostic an overview shows for this error.
    pub fn diagnostic_code(&self) -> &'static str {
        self.diagnostic.unwrap_or_else(|| self.code.as_str())
    }

    /// `unknown_runtime` for `id`.
    pub fn unknown_runtime(id: &RuntimeId) -> Self {
        Self::new(
            ErrorCode::UnknownRuntime,
            format!("runtime {id} does not exist"),
        )
        .for_runtime(id)
    }

    /// `unsupported_operation`: `runtime` cannot do `operation`.
    pub fn unsupported(runtime: &RuntimeId, operation: &str) -> Self {
        Self::new(
            ErrorCode::UnsupportedOperation,
            format!("runtime {runtime} does not support {operation}"),
        )
        .for_runtime(runtime)
    }

    /// The same error, naming the runtime it concerns.
    #[must_use]
    pub fn for_runtime(mut self, id: &RuntimeId) -> Self {
        self.runtime_id = Some(id.clone());
        self
    }

    /// The same error, naming the worker it concerns.
    #[must_use]
    pub fn for_worker(mut self, id: &WorkerId) -> Self {
        self.worker_id = Some(id.clone());
        self
    }
}

/// Each Runtime error's code of the DESIGN table, by variant, so that a new variant cannot be
/// left unmapped.
impl From<&RuntimeError> for ErrorCode {
    fn from(error: &RuntimeError) -> Self {
        match error {
            RuntimeError::InvalidInput(_) | RuntimeError::InvalidId(_) => Self::InvalidInput,
            RuntimeError::PayloadTooLarge { .. } => Self::PayloadTooLarge,
            RuntimeError::UnknownWorker(_) => Self::UnknownWorker,
            RuntimeError::WorkerExists(_) => Self::WorkerExists,
            RuntimeError::WorkerBusy(_) => Self::WorkerBusy,
            RuntimeError::WorkerStopped(_) => Self::WorkerStopped,
            RuntimeError::WorkerLimitReached { .. } => Self::ForbiddenByPolicy,
            RuntimeError::CursorExpired { .. } => Self::CursorExpired,
        }
    }
}

/// A Runtime's own error keeps its code; the message is the Runtime's (which never carries a
/// path or secret).
impl From<RuntimeError> for RegistryError {
    fn from(error: RuntimeError) -> Self {
        let code = ErrorCode::from(&error);
        let worker = match &error {
            RuntimeError::UnknownWorker(id)
            | RuntimeError::WorkerExists(id)
            | RuntimeError::WorkerBusy(id)
            | RuntimeError::WorkerStopped(id) => Some(id.clone()),
            _ => None,
        };
        let mut mapped = Self::new(code, error.to_string());
        mapped.worker_id = worker;
        mapped
    }
}
