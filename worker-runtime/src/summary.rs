//! What a Runtime says about itself: identity, counts, capabilities and diagnostics.

use serde::{Deserialize, Serialize};

use crate::id::RuntimeId;

/// A Runtime's self-description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeSummary {
    /// The Runtime's id.
    pub runtime_id: RuntimeId,
    /// Its name for people (the id when none is configured).
    pub display_name: String,
    /// The `worker-runtime` version serving it.
    pub version: String,
    /// How many Workers it holds, by status.
    pub workers: WorkerCounts,
    /// What it can do.
    pub capabilities: Capabilities,
    /// The profile names a create request may pick.
    pub profiles: Vec<String>,
}

/// Worker counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerCounts {
    /// Workers waiting for input.
    pub idle: usize,
    /// Workers with an active run.
    pub running: usize,
    /// Workers that have stopped.
    pub stopped: usize,
}

/// What a Runtime can do, so a client can enable or hide operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// The Backend's API shows it too, under the name that API has always given it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CapabilitiesBody))]
pub struct Capabilities {
    /// `create_worker` is available.
    pub create_worker: bool,
    /// `send_input` is available.
    pub send_input: bool,
    /// `stop_worker` is available.
    pub stop_worker: bool,
    /// `cancel_worker` is available.
    pub cancel_worker: bool,
    /// Transcripts can be read.
    pub transcript: bool,
    /// Events can be subscribed to, with resume.
    pub events: bool,
    /// The largest input accepted, in bytes.
    pub max_input_bytes: usize,
    /// The engines its profiles use.
    pub engines: Vec<String>,
    /// Each profile a create request may pick, with its engine and model (never its URL).
    #[serde(default)]
    pub profiles: Vec<ProfileInfo>,
}

/// One profile, as a client choosing among them sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileInfo {
    /// The profile's name.
    pub name: String,
    /// Its engine (`echo`, `command`, `openai`, `anthropic`).
    pub engine: String,
    /// The model a model profile talks to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Something works less well than configured.
    Warning,
    /// Something does not work.
    Error,
}

/// A condition an operator should know about. Messages never carry a path, URL or secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// A stable machine-readable code (`program_not_found`).
    pub code: String,
    /// How serious it is.
    pub severity: Severity,
    /// What it means, for people.
    pub message: String,
}
