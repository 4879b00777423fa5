//! What browsers see: the server's own JSON shapes, projected from the registry. They name
//! runtimes and workers by id and say which adapter kind serves them; they never carry a base URL,
//! token, socket, session or filesystem path. They deserialize too, for the CLI, which reads
//! the API through them.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use yoi_registry_core::{
    Capabilities, CreateWorker, Diagnostic, Input, InputAck, InputKind, Role, RuntimeDescriptor,
    RuntimeId, RuntimeKind, RuntimeOverview, RuntimeStatus, Severity, Timestamp, TranscriptEntry,
    TranscriptPage, Usage, WorkerCounts, WorkerId, WorkerState, WorkerView,
};

use crate::openapi::schema;

/// Who holds the identity of every runtime and worker the API shows.
const AUTHORITY: &str = "registry";

/// `GET /api/runtimes`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RuntimeList {
    /// Every visible runtime, in configuration order.
    pub runtimes: Vec<RuntimeBody>,
}

/// One runtime.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RuntimeBody {
    /// Its id in the workspace.
    #[schema(value_type = String)]
    pub runtime_id: RuntimeId,
    /// Its name for people.
    pub display_name: String,
    /// Which adapter kind serves it.
    #[schema(schema_with = schema::runtime_kind)]
    pub kind: RuntimeKind,
    /// Whether it can be used now.
    #[schema(schema_with = schema::runtime_status)]
    pub status: RuntimeStatus,
    /// What it can do through this Backend (policy applied: a read-only runtime cannot create,
    /// send, stop or cancel).
    pub capabilities: CapabilitiesBody,
    /// When it last answered, if ever.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_seen_at: Option<Timestamp>,
    /// What an operator should know.
    pub diagnostics: Vec<DiagnosticBody>,
    /// Its workers by status, when known.
    pub workers: Option<WorkerCountsBody>,
    /// Whether policy refuses mutations.
    pub read_only: bool,
    /// `true` for the legacy pod store: a read-only compatibility view, never the Runtime
    /// authority.
    pub compatibility_adapter: bool,
    /// Who holds the identity of this runtime and its workers: always `registry`.
    #[schema(value_type = String, example = "registry")]
    pub authority: Cow<'static, str>,
}

impl RuntimeBody {
    /// The body of a runtime with its current overview.
    pub(crate) fn new(descriptor: &RuntimeDescriptor, overview: RuntimeOverview) -> Self {
        let read_only = descriptor.policy.read_only;
        let capabilities = overview.capabilities;
        Self {
            runtime_id: descriptor.id.clone(),
            display_name: descriptor.display_name.clone(),
            kind: descriptor.kind,
            status: overview.status,
            capabilities: Capabilities {
                create_worker: capabilities.create_worker && !read_only,
                send_input: capabilities.send_input && !read_only,
                stop_worker: capabilities.stop_worker && !read_only,
                cancel_worker: capabilities.cancel_worker && !read_only,
                ..capabilities
            },
            last_seen_at: overview.last_seen_at,
            diagnostics: overview
                .diagnostics
                .into_iter()
                .map(DiagnosticBody::from)
                .collect(),
            workers: overview.workers.map(WorkerCountsBody::from),
            read_only,
            compatibility_adapter: descriptor.kind == RuntimeKind::LocalCompatibility,
            authority: Cow::Borrowed(AUTHORITY),
        }
    }
}

/// What a runtime can do through this Backend: the Runtime's own shape, with policy applied.
pub type CapabilitiesBody = Capabilities;

/// Something an operator should know about a runtime.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DiagnosticBody {
    /// A stable code, e.g. `runtime_timeout`.
    pub code: String,
    /// How serious it is.
    #[schema(schema_with = schema::severity)]
    pub severity: Severity,
    /// What it means, for people.
    pub message: String,
}

impl From<Diagnostic> for DiagnosticBody {
    fn from(diagnostic: Diagnostic) -> Self {
        Self {
            code: diagnostic.code,
            severity: diagnostic.severity,
            message: diagnostic.message,
        }
    }
}

/// A runtime's workers by status.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WorkerCountsBody {
    /// Waiting for input.
    pub idle: usize,
    /// Running.
    pub running: usize,
    /// Stopped.
    pub stopped: usize,
}

impl From<WorkerCounts> for WorkerCountsBody {
    fn from(counts: WorkerCounts) -> Self {
        Self {
            idle: counts.idle,
            running: counts.running,
            stopped: counts.stopped,
        }
    }
}

/// `GET /api/runtimes/{runtime_id}/workers`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WorkerList {
    /// One page of workers, in worker id order.
    pub workers: Vec<WorkerBody>,
    /// Pass as `after` for the next page; `null` on the last.
    #[schema(value_type = Option<String>)]
    pub next_after: Option<WorkerId>,
}

/// One worker.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WorkerBody {
    /// The runtime that owns it.
    #[schema(value_type = String)]
    pub runtime_id: RuntimeId,
    /// Its id within that runtime.
    #[schema(value_type = String)]
    pub worker_id: WorkerId,
    /// A name for people, if it has one.
    pub display_name: Option<String>,
    /// `name@runtime`, for people; never an authority.
    #[schema(example = "reviewer@gpu-box")]
    pub display_ref: String,
    /// Its status.
    #[schema(schema_with = schema::worker_state)]
    pub status: WorkerState,
    /// Which adapter kind serves its runtime.
    #[schema(schema_with = schema::runtime_kind)]
    pub kind: RuntimeKind,
    /// The profile it runs, when known.
    pub profile: Option<String>,
    /// A legacy pod's role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// When it was created, when known.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_at: Option<Timestamp>,
    /// When it last changed, when known.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<Timestamp>,
    /// The sequence of its newest event: the cursor of its event stream.
    pub last_sequence: Option<u64>,
    /// The tokens its runs used in all; absent when its engine's provider reports none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl WorkerBody {
    /// The body of `worker` of the runtime `descriptor`.
    pub(crate) fn new(descriptor: &RuntimeDescriptor, worker: WorkerView) -> Self {
        let name = worker
            .display_name
            .as_deref()
            .unwrap_or(worker.worker_id.as_str());
        Self {
            display_ref: format!("{name}@{}", descriptor.id),
            runtime_id: descriptor.id.clone(),
            worker_id: worker.worker_id,
            display_name: worker.display_name,
            status: worker.status,
            kind: descriptor.kind,
            profile: worker.profile,
            role: worker.role,
            created_at: worker.created_at,
            updated_at: worker.updated_at,
            last_sequence: worker.last_sequence,
            usage: worker.usage,
        }
    }
}

/// `POST .../input`: the input is accepted; the run proceeds asynchronously.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct InputAccepted {
    /// The runtime.
    #[schema(value_type = String)]
    pub runtime_id: RuntimeId,
    /// The worker.
    #[schema(value_type = String)]
    pub worker_id: WorkerId,
    /// The sequence of its `input_accepted` event.
    pub sequence: u64,
}

impl InputAccepted {
    pub(crate) fn new(runtime_id: RuntimeId, ack: InputAck) -> Self {
        Self {
            runtime_id,
            worker_id: ack.worker_id,
            sequence: ack.sequence,
        }
    }
}

/// `GET .../transcript`: one page of a worker's transcript.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TranscriptBody {
    /// The entries, oldest first.
    pub entries: Vec<EntryBody>,
    /// Pass as `start` for the next page; `null` on the last.
    pub next_start: Option<u64>,
}

impl From<TranscriptPage> for TranscriptBody {
    fn from(page: TranscriptPage) -> Self {
        Self {
            entries: page.entries.into_iter().map(EntryBody::from).collect(),
            next_start: page.next_start,
        }
    }
}

/// One transcript entry.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct EntryBody {
    /// The sequence of the event that recorded it.
    pub sequence: u64,
    /// Who it is from.
    #[schema(schema_with = schema::role)]
    pub role: Role,
    /// What was said.
    pub content: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

impl From<TranscriptEntry> for EntryBody {
    fn from(entry: TranscriptEntry) -> Self {
        Self {
            sequence: entry.sequence,
            role: entry.role,
            content: entry.content,
            at: entry.at,
        }
    }
}

/// `GET /api/workers`: a compatibility view of every visible worker of every runtime, projected
/// from the registry.
#[derive(Default, Serialize, Deserialize, ToSchema)]
pub struct AllWorkers {
    /// The workers, runtime by runtime in configuration order.
    pub workers: Vec<WorkerBody>,
    /// Whether some runtime could not be listed (its diagnostic says why).
    pub partial: bool,
    /// One entry per runtime that could not be listed completely.
    pub diagnostics: Vec<RuntimeDiagnosticBody>,
}

/// A diagnostic about one runtime.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RuntimeDiagnosticBody {
    /// The runtime.
    #[schema(value_type = String)]
    pub runtime_id: RuntimeId,
    /// A stable code (an error code for a failed listing).
    pub code: String,
    /// How serious it is.
    #[schema(schema_with = schema::severity)]
    pub severity: Severity,
    /// What it means, for people.
    pub message: String,
}

/// `GET /api/hosts`: a compatibility view with one host per runtime, projected from the
/// registry.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct HostList {
    /// One host per visible runtime, in configuration order.
    pub hosts: Vec<HostBody>,
}

/// A runtime, shown as the host of earlier versions.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct HostBody {
    /// The runtime id, which is the host's id.
    #[schema(value_type = String)]
    pub host_id: RuntimeId,
    /// The runtime behind this host.
    #[schema(value_type = String)]
    pub runtime_id: RuntimeId,
    /// Its name for people.
    pub display_name: String,
    /// Which adapter kind serves it.
    #[schema(schema_with = schema::runtime_kind)]
    pub kind: RuntimeKind,
    /// Whether it can be used now.
    #[schema(schema_with = schema::runtime_status)]
    pub status: RuntimeStatus,
    /// How many workers it has, when known.
    pub worker_count: Option<usize>,
    /// Whether policy refuses mutations.
    pub read_only: bool,
    /// `true` for the legacy pod store.
    pub compatibility_adapter: bool,
    /// What an operator should know.
    pub diagnostics: Vec<DiagnosticBody>,
}

impl From<RuntimeBody> for HostBody {
    fn from(runtime: RuntimeBody) -> Self {
        Self {
            host_id: runtime.runtime_id.clone(),
            runtime_id: runtime.runtime_id,
            display_name: runtime.display_name,
            kind: runtime.kind,
            status: runtime.status,
            worker_count: runtime
                .workers
                .map(|counts| counts.idle + counts.running + counts.stopped),
            read_only: runtime.read_only,
            compatibility_adapter: runtime.compatibility_adapter,
            diagnostics: runtime.diagnostics,
        }
    }
}

/// `POST /api/runtimes/{runtime_id}/workers`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkerRequest {
    /// The profile to run (the runtime's default when absent).
    #[serde(default)]
    #[schema(example = "default")]
    pub profile: Option<String>,
    /// The id to give it (generated when absent).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub worker_id: Option<WorkerId>,
    /// A name for people.
    #[serde(default)]
    pub display_name: Option<String>,
}

impl From<CreateWorkerRequest> for CreateWorker {
    fn from(request: CreateWorkerRequest) -> Self {
        Self {
            worker_id: request.worker_id,
            profile: request.profile,
            display_name: request.display_name,
        }
    }
}

/// `POST .../input`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputRequest {
    /// `user` or `system`.
    #[schema(schema_with = schema::input_kind)]
    pub kind: InputKind,
    /// The input; not empty.
    pub content: String,
}

impl From<InputRequest> for Input {
    fn from(request: InputRequest) -> Self {
        Self {
            kind: request.kind,
            content: request.content,
        }
    }
}
