//! `RuntimeHandle`: what every adapter makes of one runtime, and the projections it answers with.
//! Projections name runtimes and workers by id only; they never carry a URL, token, socket,
//! session or filesystem path.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use worker_runtime::{
    Capabilities, CreateWorker, Diagnostic, Event, Input, InputAck, PageRequest, RuntimeId,
    Timestamp, TranscriptPage, Usage, WorkerCounts, WorkerDetail, WorkerId, WorkerPage,
    WorkerSnapshot, WorkerStatus,
};

use crate::error::RegistryError;
use crate::stream_event::StreamEvent;

/// Which kind of adapter serves a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeKind {
    /// A `worker_runtime::Runtime` inside the Backend, called directly.
    Embedded,
    /// A `worker-runtime` process reached over HTTP and SSE.
    RemoteHttp,
    /// The legacy local pod store, read-only; never the Runtime authority.
    LocalCompatibility,
}

/// What the workspace's operator decided about a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// `false`: the runtime answers exactly like a nonexistent one.
    pub visible: bool,
    /// `true`: create, input, stop and cancel are refused.
    pub read_only: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            visible: true,
            read_only: false,
        }
    }
}

/// A runtime's identity in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeDescriptor {
    /// Its id, unique in the workspace.
    pub id: RuntimeId,
    /// Its name for people.
    pub display_name: String,
    /// Which adapter serves it.
    pub kind: RuntimeKind,
    /// Visibility and read-only policy.
    pub policy: Policy,
    /// How long one call to it may take; a listing waits no longer for it.
    pub timeout: Duration,
}

/// Whether a runtime can be used right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeStatus {
    /// It answers.
    Available,
    /// It answers, but something is wrong (see the diagnostics).
    Degraded,
    /// It does not answer.
    Unavailable,
}

/// What a runtime says about itself at the moment, as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeOverview {
    /// Whether it can be used.
    pub status: RuntimeStatus,
    /// What it can do.
    pub capabilities: Capabilities,
    /// When it last answered, if ever.
    pub last_seen_at: Option<Timestamp>,
    /// What an operator should know.
    pub diagnostics: Vec<Diagnostic>,
    /// Its Workers by status, when known.
    pub workers: Option<WorkerCounts>,
}

impl RuntimeStatus {
    /// `degraded` when any diagnostic is more than informational, `available` otherwise.
    pub fn from_diagnostics(diagnostics: &[Diagnostic]) -> Self {
        let serious = diagnostics
            .iter()
            .any(|diagnostic| diagnostic.severity != worker_runtime::Severity::Info);
        if serious {
            Self::Degraded
        } else {
            Self::Available
        }
    }
}

impl RuntimeOverview {
    /// Capabilities of a runtime that can do nothing (right now, or ever).
    pub fn no_capabilities() -> Capabilities {
        Capabilities {
            create_worker: false,
            send_input: false,
            stop_worker: false,
            cancel_worker: false,
            transcript: false,
            events: false,
            max_input_bytes: 0,
            engines: Vec::new(),
            profiles: Vec::new(),
        }
    }

    /// An unavailable runtime with one diagnostic.
    pub fn unavailable(code: &str, message: impl Into<String>) -> Self {
        Self {
            status: RuntimeStatus::Unavailable,
            capabilities: Self::no_capabilities(),
            last_seen_at: None,
            diagnostics: vec![Diagnostic {
                code: code.to_owned(),
                severity: worker_runtime::Severity::Error,
                message: message.into(),
            }],
            workers: None,
        }
    }
}

/// A Worker's status as the registry shows it: a Runtime's statuses, plus those of the
/// compatibility store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Waiting for input.
    Idle,
    /// A run is active.
    Running,
    /// Ended for good.
    Stopped,
    /// A legacy pod with an active session.
    Active,
    /// A legacy pod known only by its metadata.
    MetadataOnly,
}

impl From<WorkerStatus> for WorkerState {
    fn from(status: WorkerStatus) -> Self {
        match status {
            WorkerStatus::Idle => Self::Idle,
            WorkerStatus::Running => Self::Running,
            WorkerStatus::Stopped => Self::Stopped,
        }
    }
}

/// One Worker as the registry shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerView {
    /// Its id within its runtime.
    pub worker_id: WorkerId,
    /// A name for people.
    pub display_name: Option<String>,
    /// Its status.
    pub status: WorkerState,
    /// The profile (or, for a legacy pod, the profile selector) it runs.
    pub profile: Option<String>,
    /// A legacy pod's role.
    pub role: Option<String>,
    /// When it was created, when known.
    pub created_at: Option<Timestamp>,
    /// When it last changed, when known.
    pub updated_at: Option<Timestamp>,
    /// The sequence of its newest event, when it has events.
    pub last_sequence: Option<u64>,
    /// The tokens its runs used in all, when its engine's provider reports them.
    pub usage: Option<Usage>,
}

impl From<WorkerDetail> for WorkerView {
    fn from(detail: WorkerDetail) -> Self {
        Self {
            worker_id: detail.worker_id,
            display_name: detail.display_name,
            status: detail.status.into(),
            profile: Some(detail.profile),
            role: None,
            created_at: Some(detail.created_at),
            updated_at: Some(detail.updated_at),
            last_sequence: Some(detail.last_sequence),
            usage: detail.usage,
        }
    }
}

/// One page of a runtime's Workers, in worker id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerViewPage {
    /// The Workers on this page.
    pub workers: Vec<WorkerView>,
    /// Pass as `after` for the next page; `None` on the last.
    pub next_after: Option<WorkerId>,
}

impl From<WorkerPage> for WorkerViewPage {
    fn from(page: WorkerPage) -> Self {
        Self {
            workers: page.workers.into_iter().map(WorkerView::from).collect(),
            next_after: page.next_after,
        }
    }
}

/// One item of a Worker's event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// The Worker's next event.
    Event(StreamEvent),
    /// The connection to the runtime was lost. The stream keeps trying to resume after the last
    /// event it delivered; the error says why it cannot yet.
    Lost(RegistryError),
    /// The connection is back after a [`StreamItem::Lost`]; events continue without a gap.
    Recovered,
}

impl StreamItem {
    /// The event, decoded, if this item is one (and, from a runtime process, decodes as one).
    pub fn into_event(self) -> Option<Event> {
        match self {
            Self::Event(event) => event.into_event(),
            Self::Lost(_) | Self::Recovered => None,
        }
    }
}

/// A Worker's events: retained ones after the cursor, then live ones, with notice of a lost and
/// recovered connection where the adapter has one. An `Err` item ends it.
pub type WorkerEvents = BoxStream<'static, Result<StreamItem, RegistryError>>;

/// One item of a runtime's feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    /// A Worker's state; of two states of a Worker, the one with the higher `last_sequence` is
    /// the newer.
    Worker(WorkerSnapshot),
    /// Every Worker's state has been sent: at the start, and again whenever the feed had to send
    /// the whole picture again (it fell behind, or its connection came back).
    Synced,
    /// The connection to the runtime was lost. The feed keeps trying; `Resync`, the whole
    /// picture and `Synced` follow when it is back.
    Lost(RegistryError),
    /// A new connection to the runtime (which may have restarted): the states until the next
    /// `Synced` are the whole picture; a Worker not among them is gone, and a Worker's state
    /// among them replaces the one held, whatever its `last_sequence` (a runtime restarted
    /// without its data numbers events from 1 again).
    Resync,
}

/// A runtime's feed: every Worker's state, `Synced`, then each new state. An `Err` item ends it.
pub type RuntimeFeed = BoxStream<'static, Result<FeedEvent, RegistryError>>;

/// One runtime in the registry, whatever its kind. Every call is bounded in time by the adapter
/// (a remote runtime's timeout); errors carry codes of the DESIGN table.
#[async_trait]
pub trait RuntimeHandle: Send + Sync {
    /// Its identity, kind and policy.
    fn descriptor(&self) -> &RuntimeDescriptor;

    /// Its status, capabilities and diagnostics. Never fails: an unreachable runtime is an
    /// `unavailable` overview.
    async fn overview(&self) -> RuntimeOverview;

    /// One page of its Workers.
    async fn list_workers(&self, page: &PageRequest) -> Result<WorkerViewPage, RegistryError>;

    /// One Worker.
    async fn get_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError>;

    /// Creates a Worker.
    async fn create_worker(&self, request: CreateWorker) -> Result<WorkerView, RegistryError>;

    /// Sends an input; answers with the `input_accepted` sequence.
    async fn send_input(&self, worker: &WorkerId, input: Input) -> Result<InputAck, RegistryError>;

    /// Stops a Worker for good.
    async fn stop_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError>;

    /// Cancels a Worker's active run.
    async fn cancel_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError>;

    /// A page of a Worker's transcript.
    async fn transcript(
        &self,
        worker: &WorkerId,
        start: u64,
        limit: Option<usize>,
    ) -> Result<TranscriptPage, RegistryError>;

    /// A Worker's events after `after` (all retained ones when `None`), then live ones.
    async fn subscribe(
        &self,
        worker: &WorkerId,
        after: Option<u64>,
    ) -> Result<WorkerEvents, RegistryError>;

    /// The runtime's feed; `unsupported_operation` for an adapter that has none.
    async fn feed(&self) -> Result<RuntimeFeed, RegistryError> {
        Err(RegistryError::unsupported(&self.descriptor().id, "a feed"))
    }

    /// Called once when the Backend shuts down, or a reload retires the handle: a runtime it
    /// hosts ends its active runs, records them, and refuses later calls. Remote and read-only
    /// runtimes have nothing to do.
    async fn shutdown(&self) {}
}
