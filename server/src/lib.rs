//! The browser-facing Workspace Backend: one HTTP API over every runtime of a workspace.
//!
//! - [`build_registry`]: the `RuntimeRegistry` from `workspace.toml`.
//! - [`AppState`] and [`app`]: the routes of DESIGN "Browser-facing API", with visibility and
//!   read-only policy, the optional browser token, request ids, the audit log of mutations, the
//!   error table, the SSE proxy that shares one upstream subscription per worker, and the
//!   workspace feed (`GET /api/events`) that follows each runtime once for every browser.
//! - [`AppState::reload`]: serves a new version of the configuration while serving, keeping
//!   the runtimes whose tables did not change as they are.
//! - [`ApiDoc`]: the OpenAPI document, served at `GET /api/openapi.json`.
//! - The Worker Console at `/`: the Backend's own web page, embedded, a client of the `/api`
//!   routes like any other.
//!
//! Browsers name runtimes and workers by id only; no response carries a runtime's URL, token,
//! socket, session or filesystem path.

mod audit;
mod auth;
mod console;
mod error;
mod events;
mod extract;
mod feed;
mod lifetime;
mod openapi;
mod registry_builder;
mod reload;
mod request_log;
mod routes;
mod served;
mod state;
mod views;

pub use audit::AuditError;
pub use openapi::ApiDoc;
pub use registry_builder::build_registry;
pub use reload::{ReloadError, ReloadReport};
pub use routes::app;
pub use state::{AppState, DEFAULT_STREAM_BUFFER, DEFAULT_STREAM_GRACE, ServerOptions, StartError};
pub use views::{
    AllWorkers, CapabilitiesBody, CreateWorkerRequest, DiagnosticBody, EntryBody, HostBody,
    HostList, InputAccepted, InputRequest, RuntimeBody, RuntimeDiagnosticBody, RuntimeList,
    TranscriptBody, WorkerBody, WorkerCountsBody, WorkerList,
};
