//! `GET /api/openapi.json`: the OpenAPI 3 document of the browser-facing API, generated from the
//! handlers and the types they answer with.

use std::sync::OnceLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa::OpenApi;

use crate::routes::{compat, events, feed, mutations, runtimes, workers};
use crate::views::{
    AllWorkers, CapabilitiesBody, CreateWorkerRequest, DiagnosticBody, EntryBody, HostBody,
    HostList, InputAccepted, InputRequest, RuntimeBody, RuntimeDiagnosticBody, RuntimeList,
    TranscriptBody, WorkerBody, WorkerCountsBody, WorkerList,
};
use worker_runtime::protocol::{ErrorBody, ErrorDetail};

/// The document's source.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "yoi Workspace Backend",
        description = "One browser-facing API over every runtime of a workspace. Runtimes and \
                       workers are named by id only; errors answer \
                       {\"error\":{\"code\",\"message\",\"runtime_id\",\"worker_id\"}}."
    ),
    paths(
        runtimes::list_runtimes,
        runtimes::get_runtime,
        feed::workspace_feed,
        workers::list_workers,
        mutations::create_worker,
        workers::get_worker,
        mutations::send_input,
        mutations::stop_worker,
        mutations::cancel_worker,
        workers::get_transcript,
        events::stream_events,
        compat::all_workers,
        compat::hosts,
    ),
    components(schemas(
        AllWorkers,
        CapabilitiesBody,
        CreateWorkerRequest,
        DiagnosticBody,
        EntryBody,
        ErrorBody,
        ErrorDetail,
        HostBody,
        HostList,
        InputAccepted,
        InputRequest,
        RuntimeBody,
        RuntimeDiagnosticBody,
        RuntimeList,
        TranscriptBody,
        WorkerBody,
        WorkerCountsBody,
        WorkerList,
    ))
)]
pub struct ApiDoc;

/// The document, rendered once.
pub(crate) async fn document() -> impl IntoResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let json = DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serializes")
    });
    ([(CONTENT_TYPE, "application/json")], json.as_str())
}

/// Schemas of the enums the API shares with the registry, by their JSON names.
pub(crate) mod schema {
    use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

    fn one_of(values: &[&str]) -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values.iter().copied()))
            .build()
    }

    /// `RuntimeKind`.
    pub(crate) fn runtime_kind() -> Object {
        one_of(&["embedded", "remote_http", "local_compatibility"])
    }

    /// `RuntimeStatus`.
    pub(crate) fn runtime_status() -> Object {
        one_of(&["available", "degraded", "unavailable"])
    }

    /// `WorkerState`.
    pub(crate) fn worker_state() -> Object {
        one_of(&["idle", "running", "stopped", "active", "metadata_only"])
    }

    /// `Severity`.
    pub(crate) fn severity() -> Object {
        one_of(&["info", "warning", "error"])
    }

    /// `Role`.
    pub(crate) fn role() -> Object {
        one_of(&["user", "system", "assistant"])
    }

    /// `InputKind`.
    pub(crate) fn input_kind() -> Object {
        one_of(&["user", "system"])
    }
}
