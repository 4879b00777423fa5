//! Validated identifiers. Every id that crosses a boundary matches
//! `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`, so an id can never name a path, carry a separator or be
//! empty.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest id accepted, in bytes (all accepted characters are ASCII).
pub const MAX_ID_LEN: usize = 64;

/// Why a string is not a valid id. The message describes the rule, never echoes the rejected
/// value, because a rejected value may be a path or anything else a caller tried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-', starting with a letter or digit ({problem})"
)]
pub struct IdError {
    what: &'static str,
    problem: &'static str,
}

/// Checks `value` against the id rule; `what` names the id in the error ("worker id").
pub fn validate_id(what: &'static str, value: &str) -> Result<(), IdError> {
    let problem = match value.as_bytes() {
        [] => "it is empty",
        bytes if bytes.len() > MAX_ID_LEN => "it is too long",
        [first, ..] if !first.is_ascii_alphanumeric() => "it starts with another character",
        bytes
            if !bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-') =>
        {
            "it contains another character"
        }
        _ => return Ok(()),
    };
    Err(IdError { what, problem })
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `value` and wraps it.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                validate_id($what, &value)?;
                Ok(Self(value))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(value: &str) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

define_id!(
    /// Names one Runtime; unique within a workspace.
    RuntimeId,
    "runtime id"
);

define_id!(
    /// Names one Worker; unique within its Runtime.
    WorkerId,
    "worker id"
);

/// The full address of a Worker: the pair the Backend routes by. Displayed and parsed as
/// `worker_id@runtime_id`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkerRef {
    /// The Runtime that owns the Worker.
    pub runtime_id: RuntimeId,
    /// The Worker within that Runtime.
    pub worker_id: WorkerId,
}

impl WorkerRef {
    /// Pairs a Runtime id with a Worker id.
    pub fn new(runtime_id: RuntimeId, worker_id: WorkerId) -> Self {
        Self {
            runtime_id,
            worker_id,
        }
    }
}

impl fmt::Display for WorkerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.worker_id, self.runtime_id)
    }
}

/// Why a string is not a `worker_id@runtime_id` reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerRefError {
    /// There is no `@` separating the two ids.
    #[error("a worker reference has the form worker_id@runtime_id")]
    MissingSeparator,
    /// One of the two ids breaks the id rule.
    #[error(transparent)]
    Id(#[from] IdError),
}

impl FromStr for WorkerRef {
    type Err = WorkerRefError;

    fn from_str(value: &str) -> Result<Self, WorkerRefError> {
        let (worker, runtime) = value
            .split_once('@')
            .ok_or(WorkerRefError::MissingSeparator)?;
        Ok(Self::new(runtime.parse()?, worker.parse()?))
    }
}
