//! Worker events: what happened, in order. Every event carries its Worker's `sequence`, which
//! starts at 1 and grows by one per event; it is the cursor a subscriber resumes from.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// Who a transcript entry or message is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A person.
    User,
    /// The system around the Worker.
    System,
    /// The Worker's engine.
    Assistant,
}

/// Tokens a model read and wrote, as its provider reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    /// Tokens of the request (prompt and conversation).
    pub input_tokens: u64,
    /// Tokens of the answer.
    pub output_tokens: u64,
}

impl Usage {
    /// `self` plus `other`, saturating.
    #[must_use]
    pub fn plus(self, other: Self) -> Self {
        Self {
            input_tokens: self.input_tokens.saturating_add(other.input_tokens),
            output_tokens: self.output_tokens.saturating_add(other.output_tokens),
        }
    }
}

/// One event of one Worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the Worker's event log (1, 2, 3, ...).
    pub sequence: u64,
    /// When it happened.
    pub at: Timestamp,
    /// What happened (serialized as `"kind": "..."` plus the kind's fields).
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The Worker was created.
    WorkerCreated {
        /// Its profile.
        profile: String,
        /// Its display name, if any.
        display_name: Option<String>,
    },
    /// An input was accepted; a run starts next.
    InputAccepted {
        /// `user` or `system`.
        role: Role,
        /// The input.
        content: String,
    },
    /// A run started.
    RunStarted,
    /// A piece of the run's output, as it streams.
    OutputDelta {
        /// The text of this piece.
        text: String,
    },
    /// A complete transcript entry from the engine.
    Message {
        /// Always `assistant` today.
        role: Role,
        /// The whole output of the run.
        content: String,
    },
    /// The run ended well.
    RunCompleted {
        /// The tokens the run used, when its engine's provider reports them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
    },
    /// The run ended badly.
    RunFailed {
        /// Why, for people ("exited with status 3", "timed out after 200 ms").
        reason: String,
        /// The program's exit status, when it exited on its own.
        exit_code: Option<i32>,
        /// The end of what the program wrote to stderr (bounded).
        stderr_tail: String,
    },
    /// The run was cancelled (by `cancel`, or by `stop`).
    RunCancelled,
    /// The Worker stopped; no event follows this one.
    WorkerStopped,
}

impl EventKind {
    /// Every kind's name, in the order of the kinds.
    pub const NAMES: [&'static str; 9] = [
        "worker_created",
        "input_accepted",
        "run_started",
        "output_delta",
        "message",
        "run_completed",
        "run_failed",
        "run_cancelled",
        "worker_stopped",
    ];

    /// The name of a kind, as [`EventKind::NAMES`] spells it; `None` when no kind has it.
    pub fn named(name: &str) -> Option<&'static str> {
        Self::NAMES.into_iter().find(|known| *known == name)
    }

    /// The kind's name, as in JSON and in an SSE `event:` field.
    pub fn name(&self) -> &'static str {
        match self {
            Self::WorkerCreated { .. } => "worker_created",
            Self::InputAccepted { .. } => "input_accepted",
            Self::RunStarted => "run_started",
            Self::OutputDelta { .. } => "output_delta",
            Self::Message { .. } => "message",
            Self::RunCompleted { .. } => "run_completed",
            Self::RunFailed { .. } => "run_failed",
            Self::RunCancelled => "run_cancelled",
            Self::WorkerStopped => "worker_stopped",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{EventKind, Role};

    #[test]
    fn the_names_are_the_names_of_the_kinds_in_order() {
        let kinds = [
            EventKind::WorkerCreated {
                profile: "p".into(),
                display_name: None,
            },
            EventKind::InputAccepted {
                role: Role::User,
                content: "c".into(),
            },
            EventKind::RunStarted,
            EventKind::OutputDelta { text: "t".into() },
            EventKind::Message {
                role: Role::Assistant,
                content: "c".into(),
            },
            EventKind::RunCompleted { usage: None },
            EventKind::RunFailed {
                reason: "r".into(),
                exit_code: None,
                stderr_tail: String::new(),
            },
            EventKind::RunCancelled,
            EventKind::WorkerStopped,
        ];
        assert_eq!(kinds.each_ref().map(EventKind::name), EventKind::NAMES);
        for kind in &kinds {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json["kind"], kind.name());
            assert_eq!(EventKind::named(kind.name()), Some(kind.name()));
        }
        assert_eq!(EventKind::named("output_deltas"), None);
    }
}
