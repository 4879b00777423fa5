//! The runtime protocol, written down once: the `/v1` paths, the error body, the names of stream
//! control events, how a resume point is read, and the defaults both servers share. It needs no
//! HTTP crate, so the runtime's server (`http`), the Backend's http-client adapter, the Backend
//! itself and the CLI all speak it from this one module.
//!
//! The error body is also the Backend's: `{"error":{"code","message","runtime_id","worker_id"}}`,
//! where a runtime process never sets the two ids.

use std::borrow::Cow;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;
use crate::id::{RuntimeId, WorkerId};
use crate::summary::{Diagnostic, RuntimeSummary};

/// `GET`: whether the process answers; open without a token.
pub const HEALTH: &str = "/v1/health";

/// `GET`: the Runtime's summary and diagnostics ([`RuntimeInfo`]).
pub const RUNTIME: &str = "/v1/runtime";

/// `GET`: a page of Workers (`?limit=&after=`); `POST`: create one.
pub const WORKERS: &str = "/v1/workers";

/// `GET`: the feed (SSE): a [`WORKER_STATUS_EVENT`] for every Worker, then [`SYNCED_EVENT`],
/// then one for each new state; after falling behind, the whole picture again.
pub const FEED: &str = "/v1/feed";

/// The feed's event of a Worker's state; its data is a `WorkerSnapshot`.
pub const WORKER_STATUS_EVENT: &str = "worker_status";

/// The feed's event that ends a whole picture; its data is `{}`.
pub const SYNCED_EVENT: &str = "synced";

/// The default request body limit of both servers: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The default interval of SSE keep-alive comments of both servers.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The event that ends a stream which cannot go on without a gap; its data is an [`ErrorBody`].
pub const RESET_EVENT: &str = "reset";

/// The header a reconnecting SSE client sends (lower case, as HTTP/2 and `http` spell it).
pub const LAST_EVENT_ID: &str = "last-event-id";

/// The routes of one Worker, by what follows `/v1/workers/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerRoute {
    /// `GET`: the Worker's detail.
    Detail,
    /// `POST`: an input.
    Input,
    /// `POST`: stop the Worker.
    Stop,
    /// `POST`: cancel its active run.
    Cancel,
    /// `GET`: a transcript page ([`TranscriptQuery`]).
    Transcript,
    /// `GET`: its events as SSE ([`EventsQuery`] or [`LAST_EVENT_ID`]).
    Events,
}

impl WorkerRoute {
    /// The path of this route for Worker `id`.
    pub fn path(self, id: &WorkerId) -> String {
        format!("{WORKERS}/{id}{}", self.suffix())
    }

    /// The route as a router matches it, the id as the parameter `{id}`.
    pub fn template(self) -> String {
        format!("{WORKERS}/{{id}}{}", self.suffix())
    }

    fn suffix(self) -> &'static str {
        match self {
            Self::Detail => "",
            Self::Input => "/input",
            Self::Stop => "/stop",
            Self::Cancel => "/cancel",
            Self::Transcript => "/transcript",
            Self::Events => "/events",
        }
    }
}

/// The body of `GET /v1/runtime`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// Who the Runtime is and what it can do.
    #[serde(flatten)]
    pub summary: RuntimeSummary,
    /// What its operator should know.
    pub diagnostics: Vec<Diagnostic>,
}

/// `?start=&limit=` of a transcript request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct TranscriptQuery {
    /// The first entry's index (default 0); pass the previous page's `next_start`.
    #[serde(default)]
    pub start: u64,
    /// How many entries per page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// `?cursor=` of an events request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Resume after this sequence on first connect (a reconnect's `Last-Event-ID` wins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<u64>,
}

/// Where an event stream resumes: after the `Last-Event-ID` header's sequence when one was sent
/// (a reconnect's, newer than the URL's), after `?cursor=` otherwise. A header that is not a
/// sequence is `invalid_input`.
pub fn resume_point(
    last_event_id: Option<&[u8]>,
    query: EventsQuery,
) -> Result<Option<u64>, RuntimeError> {
    let Some(header) = last_event_id else {
        return Ok(query.cursor);
    };
    std::str::from_utf8(header)
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| RuntimeError::InvalidInput("Last-Event-ID must be an event sequence".into()))
}

/// The JSON body of every error, of a runtime process and of the Backend alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// One code of the error table (plus `unauthorized`, `not_found`, `method_not_allowed`).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "worker_busy"))]
    pub code: Cow<'static, str>,
    /// What happened, for people. Never a URL, token, socket or filesystem path.
    pub message: String,
    /// The runtime concerned, if any (the Backend's answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub runtime_id: Option<RuntimeId>,
    /// The worker concerned, if any (the Backend's answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub worker_id: Option<WorkerId>,
}

impl ErrorBody {
    /// A body with `code` and `message` and no ids.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                runtime_id: None,
                worker_id: None,
            },
        }
    }
}

impl From<&RuntimeError> for ErrorBody {
    fn from(error: &RuntimeError) -> Self {
        Self::new(error.code(), error.to_string())
    }
}
