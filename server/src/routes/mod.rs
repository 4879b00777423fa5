//! The browser-facing routes (DESIGN "Browser-facing API") and the router around them.

pub(crate) mod compat;
pub(crate) mod events;
pub(crate) mod feed;
pub(crate) mod mutations;
pub(crate) mod runtimes;
pub(crate) mod workers;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router};

use crate::audit::Operation;
use crate::state::AppState;
use crate::{auth, console, error, openapi, request_log};
use mutations::mutation;

/// The Backend's router over `state`: every `/api` route (behind the browser token when one is
/// set), the console's page and files (without it), `GET /healthz`, request ids and logging, the
/// body limit, and errors in the project's format for unknown routes and methods. Reads are
/// behind the token layer when a token is set; each mutation route states its [`Operation`] and
/// checks the token in its extractor, so that it is audited.
pub fn app(state: AppState) -> Router {
    let body_limit = state.inner.options.body_limit;
    let workers = "/api/runtimes/{runtime_id}/workers";
    let worker = "/api/runtimes/{runtime_id}/workers/{worker_id}";
    let reads = Router::new()
        .route("/api/runtimes", get(runtimes::list_runtimes))
        .route("/api/runtimes/{runtime_id}", get(runtimes::get_runtime))
        .route("/api/events", get(feed::workspace_feed))
        .route(workers, get(workers::list_workers))
        .route(worker, get(workers::get_worker))
        .route(
            &format!("{worker}/transcript"),
            get(workers::get_transcript),
        )
        .route(&format!("{worker}/events"), get(events::stream_events))
        .route("/api/workers", get(compat::all_workers))
        .route("/api/hosts", get(compat::hosts))
        .route("/api/openapi.json", get(openapi::document));
    // Without a browser token every request is admitted: no layer to pass through.
    let reads = match state.requires_token() {
        true => reads.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        )),
        false => reads,
    };
    let mutations = Router::new()
        .route(
            workers,
            mutation(Operation::CreateWorker, mutations::create_worker),
        )
        .route(
            &format!("{worker}/input"),
            mutation(Operation::SendInput, mutations::send_input),
        )
        .route(
            &format!("{worker}/stop"),
            mutation(Operation::StopWorker, mutations::stop_worker),
        )
        .route(
            &format!("{worker}/cancel"),
            mutation(Operation::CancelWorker, mutations::cancel_worker),
        );
    reads
        .merge(mutations)
        .merge(console::routes())
        .route("/healthz", get(health))
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::no_method)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(request_log::log_request))
        .with_state(state)
}

/// `GET /healthz`: the Backend process answers (it says nothing about the runtimes).
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}
