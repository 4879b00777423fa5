//! `yoi runtimes`, `workers`, `create`, `send`, `transcript`, `watch`, `stop`, `cancel`.

use reqwest::Method;
use serde_json::{Value, json};
use yoi_registry_core::{RuntimeId, WorkerId};

use super::http::{Backend, ClientError};
use super::table;

/// A client command.
#[derive(clap::Subcommand)]
pub(crate) enum ClientCommand {
    /// List the runtimes with their status.
    Runtimes,
    /// List the workers of one runtime, or of every runtime.
    Workers {
        /// Only this runtime's workers.
        runtime: Option<RuntimeId>,
    },
    /// Create a worker.
    Create {
        /// The runtime that will own it.
        runtime: RuntimeId,
        /// The profile it runs (the runtime's default when absent).
        #[arg(long)]
        profile: Option<String>,
        /// Its id (generated when absent).
        #[arg(long)]
        id: Option<WorkerId>,
        /// A name for people.
        #[arg(long)]
        name: Option<String>,
    },
    /// Send a user input to a worker; the run proceeds in the background (see `watch`).
    Send {
        /// The runtime.
        runtime: RuntimeId,
        /// The worker.
        worker: WorkerId,
        /// The input.
        text: String,
    },
    /// Print a worker's transcript.
    Transcript {
        /// The runtime.
        runtime: RuntimeId,
        /// The worker.
        worker: WorkerId,
    },
    /// Follow a worker's events, printing its output as it arrives; resumes after a lost
    /// connection and ends when the worker stops.
    Watch {
        /// The runtime.
        runtime: RuntimeId,
        /// The worker.
        worker: WorkerId,
    },
    /// Stop a worker for good.
    Stop {
        /// The runtime.
        runtime: RuntimeId,
        /// The worker.
        worker: WorkerId,
    },
    /// Cancel a worker's active run.
    Cancel {
        /// The runtime.
        runtime: RuntimeId,
        /// The worker.
        worker: WorkerId,
    },
}

/// Runs `command` against the Backend at `backend`; `json` prints the API's JSON.
pub(crate) fn run(command: ClientCommand, backend: &str, json: bool) -> Result<(), ClientError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| ClientError::Unexpected(error.to_string()))?;
    runtime.block_on(async {
        let backend = Backend::new(backend)?;
        execute(command, &backend, json).await
    })
}

async fn execute(command: ClientCommand, backend: &Backend, json: bool) -> Result<(), ClientError> {
    let report = match command {
        ClientCommand::Runtimes => {
            let body = backend.json(Method::GET, "/api/runtimes", None).await?;
            output(json, &body, runtimes_table)
        }
        ClientCommand::Workers { runtime: None } => {
            let body = backend.json(Method::GET, "/api/workers", None).await?;
            for diagnostic in array(&body, "diagnostics") {
                warn(&format!(
                    "{}: {}: {}",
                    text(diagnostic, "runtime_id"),
                    text(diagnostic, "code"),
                    text(diagnostic, "message")
                ));
            }
            output(json, &body, workers_table)
        }
        ClientCommand::Workers {
            runtime: Some(runtime),
        } => {
            let workers = every_page(backend, &runtime).await?;
            let body = json!({ "workers": workers, "next_after": null });
            output(json, &body, workers_table)
        }
        ClientCommand::Create {
            runtime,
            profile,
            id,
            name,
        } => {
            let request = json!({ "profile": profile, "worker_id": id, "display_name": name });
            let path = format!("/api/runtimes/{runtime}/workers");
            let body = backend.json(Method::POST, &path, Some(request)).await?;
            output(json, &body, |body| {
                format!(
                    "created {} ({}) on {}\n",
                    text(body, "worker_id"),
                    text(body, "display_ref"),
                    text(body, "runtime_id")
                )
            })
        }
        ClientCommand::Send {
            runtime,
            worker,
            text: input,
        } => {
            let path = format!("/api/runtimes/{runtime}/workers/{worker}/input");
            let request = json!({ "kind": "user", "content": input });
            let body = backend.json(Method::POST, &path, Some(request)).await?;
            output(json, &body, |body| {
                format!("accepted as event {}\n", body["sequence"])
            })
        }
        ClientCommand::Transcript { runtime, worker } => {
            let entries = whole_transcript(backend, &runtime, &worker).await?;
            let body = json!({ "entries": entries, "next_start": null });
            output(json, &body, |body| {
                array(body, "entries")
                    .iter()
                    .map(|entry| format!("[{}] {}\n", text(entry, "role"), text(entry, "content")))
                    .collect()
            })
        }
        ClientCommand::Watch { runtime, worker } => {
            return super::watch::follow(backend, &runtime, &worker, json).await;
        }
        ClientCommand::Stop { runtime, worker } => {
            end_run(backend, &runtime, &worker, "stop", json).await?
        }
        ClientCommand::Cancel { runtime, worker } => {
            end_run(backend, &runtime, &worker, "cancel", json).await?
        }
    };
    crate::print(&report);
    Ok(())
}

async fn end_run(
    backend: &Backend,
    runtime: &RuntimeId,
    worker: &WorkerId,
    operation: &str,
    json: bool,
) -> Result<String, ClientError> {
    let path = format!("/api/runtimes/{runtime}/workers/{worker}/{operation}");
    let body = backend.json(Method::POST, &path, None).await?;
    Ok(output(json, &body, |body| {
        format!(
            "{} on {}: {}\n",
            text(body, "worker_id"),
            text(body, "runtime_id"),
            text(body, "status")
        )
    }))
}

/// Every worker of `runtime`, following `next_after`.
async fn every_page(backend: &Backend, runtime: &RuntimeId) -> Result<Vec<Value>, ClientError> {
    let mut workers = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/api/runtimes/{runtime}/workers?limit=1000");
        if let Some(after) = &after {
            path.push_str(&format!("&after={after}"));
        }
        let mut page = backend.json(Method::GET, &path, None).await?;
        workers.extend(
            page["workers"]
                .as_array_mut()
                .map(std::mem::take)
                .unwrap_or_default(),
        );
        match page["next_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return Ok(workers),
        }
    }
}

/// Every transcript entry of `worker`, following `next_start`.
async fn whole_transcript(
    backend: &Backend,
    runtime: &RuntimeId,
    worker: &WorkerId,
) -> Result<Vec<Value>, ClientError> {
    let mut entries = Vec::new();
    let mut start = 0;
    loop {
        let path = format!("/api/runtimes/{runtime}/workers/{worker}/transcript?start={start}");
        let mut page = backend.json(Method::GET, &path, None).await?;
        entries.extend(
            page["entries"]
                .as_array_mut()
                .map(std::mem::take)
                .unwrap_or_default(),
        );
        match page["next_start"].as_u64() {
            Some(next) => start = next,
            None => return Ok(entries),
        }
    }
}

fn runtimes_table(body: &Value) -> String {
    let rows: Vec<Vec<String>> = array(body, "runtimes")
        .iter()
        .map(|runtime| {
            let mut notes = Vec::new();
            if runtime["compatibility_adapter"] == true {
                notes.push("compatibility adapter".to_owned());
            }
            if runtime["read_only"] == true {
                notes.push("read-only".to_owned());
            }
            if let Some(first) = array(runtime, "diagnostics").first() {
                notes.push(text(first, "message"));
            }
            let workers = &runtime["workers"];
            let count = match workers.is_object() {
                true => ["idle", "running", "stopped"]
                    .iter()
                    .map(|status| workers[*status].as_u64().unwrap_or(0))
                    .sum::<u64>()
                    .to_string(),
                false => "-".to_owned(),
            };
            vec![
                text(runtime, "runtime_id"),
                text(runtime, "kind"),
                text(runtime, "status"),
                count,
                notes.join("; "),
            ]
        })
        .collect();
    table::render(&["RUNTIME", "KIND", "STATUS", "WORKERS", "NOTES"], &rows)
}

fn workers_table(body: &Value) -> String {
    let rows: Vec<Vec<String>> = array(body, "workers")
        .iter()
        .map(|worker| {
            vec![
                text(worker, "runtime_id"),
                text(worker, "worker_id"),
                text(worker, "status"),
                text(worker, "profile"),
                text(worker, "display_ref"),
            ]
        })
        .collect();
    table::render(&["RUNTIME", "WORKER", "STATUS", "PROFILE", "NAME"], &rows)
}

/// `body` as pretty JSON, or as people read it.
fn output(json: bool, body: &Value, human: impl FnOnce(&Value) -> String) -> String {
    if json {
        let mut text = serde_json::to_string_pretty(body).expect("JSON values serialize");
        text.push('\n');
        text
    } else {
        human(body)
    }
}

/// A field as text (`-` when absent or null).
pub(super) fn text(value: &Value, field: &str) -> String {
    match &value[field] {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn array<'a>(value: &'a Value, field: &str) -> &'a [Value] {
    value[field].as_array().map_or(&[], Vec::as_slice)
}

/// A note for people on stderr.
pub(super) fn warn(message: &str) {
    #[expect(clippy::print_stderr, reason = "notes beside the command's output")]
    {
        eprintln!("yoi: {message}");
    }
}
