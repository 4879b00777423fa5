//! The compatibility views of earlier versions, projected from the registry: `GET /api/workers`
//! (every visible worker of every runtime) and `GET /api/hosts` (one host per runtime).

use axum::Json;
use axum::extract::State;
use futures::future::join_all;
use worker_runtime::MAX_PAGE_LIMIT;
use worker_runtime::protocol::ErrorBody;
use yoi_registry_core::{PageRequest, RegistryError, RuntimeHandle, Severity, WorkerView};

use crate::error::body_of;
use crate::state::AppState;
use crate::views::{AllWorkers, HostBody, HostList, RuntimeDiagnosticBody, WorkerBody};

/// The most workers listed per runtime in the compatibility view.
const MAX_WORKERS_PER_RUNTIME: usize = 10_000;

/// Compatibility view: every visible worker of every runtime. Runtimes are listed concurrently,
/// each within its timeout; one that cannot be listed adds a diagnostic and the answer is
/// `partial`.
#[utoipa::path(
    get,
    path = "/api/workers",
    tag = "compatibility",
    responses(
        (status = 200, description = "Every visible worker", body = AllWorkers),
        (status = 401, description = "A browser token is required", body = ErrorBody),
    )
)]
pub(crate) async fn all_workers(State(state): State<AppState>) -> Json<AllWorkers> {
    let registry = state.registry();
    let listings = join_all(
        registry
            .visible()
            .map(|handle| async move { (handle, every_worker(handle.as_ref()).await) }),
    )
    .await;
    let mut all = AllWorkers::default();
    for (handle, listed) in listings {
        let descriptor = handle.descriptor();
        match listed {
            Ok((workers, complete)) => {
                all.workers.extend(
                    workers
                        .into_iter()
                        .map(|worker| WorkerBody::new(descriptor, worker)),
                );
                if !complete {
                    all.diagnostics.push(RuntimeDiagnosticBody {
                        runtime_id: descriptor.id.clone(),
                        code: "listing_truncated".into(),
                        severity: Severity::Warning,
                        message: format!(
                            "only the first {MAX_WORKERS_PER_RUNTIME} workers are listed; \
                             page through /api/runtimes/{}/workers for all",
                            descriptor.id
                        ),
                    });
                }
            }
            Err(error) => {
                let body = body_of(error.for_runtime(&descriptor.id).into());
                all.diagnostics.push(RuntimeDiagnosticBody {
                    runtime_id: descriptor.id.clone(),
                    code: body.error.code.into_owned(),
                    severity: Severity::Error,
                    message: body.error.message,
                });
            }
        }
    }
    all.partial = !all.diagnostics.is_empty();
    Json(all)
}

/// Every worker of one runtime, page by page, up to the cap; `false` when the cap cut it.
async fn every_worker(
    handle: &dyn RuntimeHandle,
) -> Result<(Vec<WorkerView>, bool), RegistryError> {
    let mut workers = Vec::new();
    let mut after = None;
    loop {
        let page = handle
            .list_workers(&PageRequest {
                limit: Some(MAX_PAGE_LIMIT),
                after,
            })
            .await?;
        workers.extend(page.workers);
        match page.next_after {
            None => return Ok((workers, true)),
            Some(_) if workers.len() >= MAX_WORKERS_PER_RUNTIME => {
                workers.truncate(MAX_WORKERS_PER_RUNTIME);
                return Ok((workers, false));
            }
            next => after = next,
        }
    }
}

/// Compatibility view: one host per visible runtime, with its status.
#[utoipa::path(
    get,
    path = "/api/hosts",
    tag = "compatibility",
    responses(
        (status = 200, description = "One host per visible runtime", body = HostList),
        (status = 401, description = "A browser token is required", body = ErrorBody),
    )
)]
pub(crate) async fn hosts(State(state): State<AppState>) -> Json<HostList> {
    let runtimes = super::runtimes::visible_runtimes(&state).await;
    Json(HostList {
        hosts: runtimes.into_iter().map(HostBody::from).collect(),
    })
}
