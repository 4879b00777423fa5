//! `yoi workers --follow`: the workspace feed (`GET /api/events`). Prints the picture as the
//! `workers` table once it is complete, then one line per change: a worker's new state on stdout,
//! a runtime lost or back and a worker removed as notes on stderr. After a lost connection it
//! reconnects with the watch's backoff, and of the picture it is sent again prints only what
//! changed meanwhile. It runs until interrupted.

use std::collections::HashMap;

use futures::StreamExt;
use reqwest::header::ACCEPT;
use reqwest::{Method, Response};
use serde::Deserialize;
use sse_stream::{Sse, SseByteStream};
use yoi_registry_core::{RuntimeId, RuntimeStatus, WorkerId, WorkerState};

use super::commands::{WORKER_COLUMNS, name, warn};
use super::http::{Backend, ClientError, api_error};
use super::table;
use super::watch::{FIRST_BACKOFF, MAX_BACKOFF, write_out};

/// A worker's state, as the feed tells it.
#[derive(Deserialize)]
struct WorkerStatusData {
    runtime_id: RuntimeId,
    worker_id: WorkerId,
    status: WorkerState,
    profile: Option<String>,
    display_ref: String,
}

/// A runtime's status, as the feed tells it.
#[derive(Deserialize)]
struct RuntimeStatusData {
    runtime_id: RuntimeId,
    status: RuntimeStatus,
    message: Option<String>,
}

/// A worker its runtime no longer has.
#[derive(Deserialize)]
struct RemovedData {
    runtime_id: RuntimeId,
    worker_id: WorkerId,
}

/// Follows the feed of `runtime` (every runtime when `None`); a typed refusal (an unknown
/// runtime, a missing token) ends it.
pub(crate) async fn follow(
    backend: &Backend,
    runtime: Option<&RuntimeId>,
    json: bool,
) -> Result<(), ClientError> {
    let path = match runtime {
        Some(runtime) => format!("/api/events?runtime={runtime}"),
        None => "/api/events".to_owned(),
    };
    let mut picture = Picture {
        json,
        shown: HashMap::new(),
        pending: Some(Vec::new()),
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        let request = backend
            .request(Method::GET, &path)
            .header(ACCEPT, "text/event-stream");
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                backoff = FIRST_BACKOFF;
                picture.read(response).await;
                warn("the connection to the backend was lost; reconnecting");
            }
            Ok(response) if response.status().is_server_error() => {
                warn(&format!("{}; retrying", api_error(response).await));
            }
            Ok(response) => return Err(api_error(response).await),
            Err(error) => warn(&format!("{}; retrying", backend.unreachable(&error))),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// What has been shown, across connections.
struct Picture {
    json: bool,
    /// Each worker's row as last printed, by runtime and worker.
    shown: HashMap<(RuntimeId, WorkerId), Vec<String>>,
    /// Before the first `synced`: the rows of the table to print then.
    pending: Option<Vec<Vec<String>>>,
}

impl Picture {
    /// Prints what one connection tells, until it ends.
    async fn read(&mut self, response: Response) {
        let mut frames = SseByteStream::new(response.bytes_stream());
        while let Some(Ok(frame)) = frames.next().await {
            self.frame(&frame);
        }
    }

    fn frame(&mut self, frame: &Sse) {
        let (Some(event), Some(data)) = (frame.event.as_deref(), frame.data.as_deref()) else {
            return;
        };
        if self.json {
            let event = serde_json::to_string(event).expect("a string serializes");
            write_out(&format!("{{\"event\":{event},\"data\":{data}}}\n"));
            return;
        }
        match event {
            "worker_status" => {
                if let Ok(state) = serde_json::from_str::<WorkerStatusData>(data) {
                    self.worker(state);
                }
            }
            "runtime_status" => {
                let notice = serde_json::from_str::<RuntimeStatusData>(data).ok();
                // While the picture comes, only a runtime that is not available is worth a note.
                let picture = self.pending.is_some();
                let notice =
                    notice.filter(|notice| !picture || notice.status != RuntimeStatus::Available);
                if let Some(notice) = notice {
                    let message = notice.message.map(|message| format!(": {message}"));
                    warn(&format!(
                        "runtime {}: {}{}",
                        notice.runtime_id,
                        name(&notice.status),
                        message.unwrap_or_default()
                    ));
                }
            }
            "worker_removed" => {
                if let Ok(removed) = serde_json::from_str::<RemovedData>(data) {
                    let key = (removed.runtime_id, removed.worker_id);
                    self.shown.remove(&key);
                    warn(&format!("{} on {}: removed", key.1, key.0));
                }
            }
            "synced" => {
                if let Some(mut rows) = self.pending.take() {
                    rows.sort();
                    write_out(&table::render(&WORKER_COLUMNS, &rows));
                }
            }
            _ => {}
        }
    }

    /// Shows a worker's state: in the table while the first picture comes, as a line after,
    /// unless it is what was shown last.
    fn worker(&mut self, state: WorkerStatusData) {
        let row = vec![
            state.runtime_id.to_string(),
            state.worker_id.to_string(),
            name(&state.status),
            state.profile.unwrap_or_else(|| "-".to_owned()),
            state.display_ref,
        ];
        let key = (state.runtime_id, state.worker_id);
        if self.shown.get(&key) == Some(&row) {
            return;
        }
        self.shown.insert(key, row.clone());
        match &mut self.pending {
            Some(rows) => rows.push(row),
            None => write_out(&format!("{}\n", row.join("  "))),
        }
    }
}
