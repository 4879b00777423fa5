//! Worker-facing request and response types of the Runtime API.

use serde::{Deserialize, Serialize};

use crate::event::Usage;
use crate::id::WorkerId;
use crate::time::Timestamp;

/// Where a Worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerStatus {
    /// Waiting for input.
    Idle,
    /// A run is active; input answers `worker_busy`.
    Running,
    /// Ended for good; input and cancel answer `worker_stopped`.
    Stopped,
}

/// What the Runtime tells about one Worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerDetail {
    /// The Worker's id.
    pub worker_id: WorkerId,
    /// A name for people, if the creator gave one.
    pub display_name: Option<String>,
    /// The profile whose engine serves the Worker.
    pub profile: String,
    /// Its status.
    pub status: WorkerStatus,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its last event happened.
    pub updated_at: Timestamp,
    /// The sequence of its newest event: a cursor that subscribes to what comes next.
    pub last_sequence: u64,
    /// The tokens its runs used in all, when its engine's provider reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// A request to create a Worker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWorker {
    /// The id to use; the Runtime picks a free one when absent.
    #[serde(default)]
    pub worker_id: Option<WorkerId>,
    /// The profile to run; `default` when absent.
    #[serde(default)]
    pub profile: Option<String>,
    /// A name for people.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// Who an input speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// A person talking to the Worker.
    User,
    /// Instructions from the system around the Worker.
    System,
}

/// An input to a Worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Who speaks.
    pub kind: InputKind,
    /// What is said; must not be blank.
    pub content: String,
}

impl Input {
    /// An input from a person.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            kind: InputKind::User,
            content: content.into(),
        }
    }

    /// An input from the system.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            kind: InputKind::System,
            content: content.into(),
        }
    }
}

/// The answer to an accepted input: the sequence of its `input_accepted` event. The run proceeds
/// on its own task; subscribe after `sequence - 1` to watch it from the input on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputAck {
    /// The Worker that took the input.
    pub worker_id: WorkerId,
    /// The sequence of the `input_accepted` event.
    pub sequence: u64,
}

/// One page of a Worker listing, in worker id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerPage {
    /// The Workers on this page.
    pub workers: Vec<WorkerDetail>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub next_after: Option<WorkerId>,
}
