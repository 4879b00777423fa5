//! `yoi runtimes`, `workers` (and `workers --follow`), `create`, `send`, `transcript`, `watch`, `stop`, `cancel`.

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use yoi_registry_core::{InputKind, RuntimeId, WorkerId};
use yoi_workspace_server::{
    AllWorkers, CreateWorkerRequest, InputAccepted, InputRequest, RuntimeList, TranscriptBody,
    WorkerBody, WorkerList,
};

use super::http::{Backend, ClientError, Target};
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
        /// Then print one line per change, live, across reconnects, until interrupted.
        #[arg(long)]
        follow: bool,
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
        #[command(flatten)]
        worker: WorkerArgs,
        /// The input.
        text: String,
    },
    /// Print a worker's transcript.
    Transcript(WorkerArgs),
    /// Follow a worker's events, printing its output as it arrives; resumes after a lost
    /// connection and ends when the worker stops.
    Watch(WorkerArgs),
    /// Stop a worker for good.
    Stop(WorkerArgs),
    /// Cancel a worker's active run.
    Cancel(WorkerArgs),
}

/// The worker a command is about.
#[derive(clap::Args)]
pub(crate) struct WorkerArgs {
    /// The runtime.
    runtime: RuntimeId,
    /// The worker.
    worker: WorkerId,
}

impl WorkerArgs {
    /// The API path of this worker followed by `tail`.
    pub(super) fn path(&self, tail: &str) -> String {
        format!(
            "/api/runtimes/{}/workers/{}{tail}",
            self.runtime, self.worker
        )
    }
}

/// Runs `command` against the Backend `backend`; `json` prints the API's JSON.
pub(crate) fn run(
    command: ClientCommand,
    backend: Target<'_>,
    json: bool,
) -> Result<(), ClientError> {
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
            let body: RuntimeList = backend.get("/api/runtimes").await?;
            output(json, &body, runtimes_table)
        }
        ClientCommand::Workers {
            runtime,
            follow: true,
        } => return super::follow::follow(backend, runtime.as_ref(), json).await,
        ClientCommand::Workers { runtime, .. } => workers(backend, runtime, json).await?,
        ClientCommand::Create {
            runtime,
            profile,
            id,
            name,
        } => {
            let request = CreateWorkerRequest {
                profile,
                worker_id: id,
                display_name: name,
            };
            let path = format!("/api/runtimes/{runtime}/workers");
            let body: WorkerBody = backend.post(&path, &request).await?;
            output(json, &body, |body| {
                format!(
                    "created {} ({}) on {}\n",
                    body.worker_id, body.display_ref, body.runtime_id
                )
            })
        }
        ClientCommand::Send { worker, text } => {
            let request = InputRequest {
                kind: InputKind::User,
                content: text,
            };
            let body: InputAccepted = backend.post(&worker.path("/input"), &request).await?;
            output(json, &body, |body| {
                format!("accepted as event {}\n", body.sequence)
            })
        }
        ClientCommand::Transcript(worker) => {
            let split = |page: TranscriptBody| (page.entries, page.next_start);
            let path = |start: Option<&u64>| {
                worker.path(&format!(
                    "/transcript?start={}",
                    start.copied().unwrap_or(0)
                ))
            };
            let body = TranscriptBody {
                entries: every_page(backend, split, path).await?,
                next_start: None,
            };
            output(json, &body, |body| {
                body.entries
                    .iter()
                    .map(|entry| format!("[{}] {}\n", name(&entry.role), entry.content))
                    .collect()
            })
        }
        ClientCommand::Watch(worker) => {
            return super::watch::follow(backend, &worker.path("/events"), json).await;
        }
        ClientCommand::Stop(worker) => end_run(backend, &worker.path("/stop"), json).await?,
        ClientCommand::Cancel(worker) => end_run(backend, &worker.path("/cancel"), json).await?,
    };
    crate::print(&report);
    Ok(())
}

/// `yoi workers`: every runtime's workers (with a note per runtime that could not be listed), or
/// one runtime's, page by page.
async fn workers(
    backend: &Backend,
    runtime: Option<RuntimeId>,
    json: bool,
) -> Result<String, ClientError> {
    let Some(runtime) = runtime else {
        let body: AllWorkers = backend.get("/api/workers").await?;
        for diagnostic in &body.diagnostics {
            warn(&format!(
                "{}: {}: {}",
                diagnostic.runtime_id, diagnostic.code, diagnostic.message
            ));
        }
        return Ok(output(json, &body, |body| workers_table(&body.workers)));
    };
    let split = |page: WorkerList| (page.workers, page.next_after);
    let path = |after: Option<&WorkerId>| match after {
        Some(after) => format!("/api/runtimes/{runtime}/workers?limit=1000&after={after}"),
        None => format!("/api/runtimes/{runtime}/workers?limit=1000"),
    };
    let body = WorkerList {
        workers: every_page(backend, split, path).await?,
        next_after: None,
    };
    Ok(output(json, &body, |body| workers_table(&body.workers)))
}

/// `yoi stop` and `yoi cancel`: POSTs to `path` and shows the worker's new status.
async fn end_run(backend: &Backend, path: &str, json: bool) -> Result<String, ClientError> {
    let body: WorkerBody = backend.answer(backend.request(Method::POST, path)).await?;
    Ok(output(json, &body, |body| {
        format!(
            "{} on {}: {}\n",
            body.worker_id,
            body.runtime_id,
            name(&body.status)
        )
    }))
}

/// Every item of a listing that the API pages through: `split` gives a page's items and where
/// the next page starts (nowhere after the last); `path` names the page that starts at a position
/// (the first page when there is none).
async fn every_page<P: DeserializeOwned, Item, Position>(
    backend: &Backend,
    split: impl Fn(P) -> (Vec<Item>, Option<Position>),
    path: impl Fn(Option<&Position>) -> String,
) -> Result<Vec<Item>, ClientError> {
    let mut items = Vec::new();
    let mut position = None;
    loop {
        let (page, next) = split(backend.get::<P>(&path(position.as_ref())).await?);
        items.extend(page);
        match next {
            Some(next) => position = Some(next),
            None => return Ok(items),
        }
    }
}

fn runtimes_table(body: &RuntimeList) -> String {
    let rows: Vec<Vec<String>> = body
        .runtimes
        .iter()
        .map(|runtime| {
            let notes: Vec<&str> = [
                runtime
                    .compatibility_adapter
                    .then_some("compatibility adapter"),
                runtime.read_only.then_some("read-only"),
                runtime
                    .diagnostics
                    .first()
                    .map(|first| first.message.as_str()),
            ]
            .into_iter()
            .flatten()
            .collect();
            let count = match &runtime.workers {
                Some(counts) => (counts.idle + counts.running + counts.stopped).to_string(),
                None => "-".to_owned(),
            };
            vec![
                runtime.runtime_id.to_string(),
                name(&runtime.kind),
                name(&runtime.status),
                count,
                notes.join("; "),
            ]
        })
        .collect();
    table::render(&["RUNTIME", "KIND", "STATUS", "WORKERS", "NOTES"], &rows)
}

/// The columns of a table of workers.
pub(super) const WORKER_COLUMNS: [&str; 5] = ["RUNTIME", "WORKER", "STATUS", "PROFILE", "NAME"];

fn workers_table(workers: &[WorkerBody]) -> String {
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|worker| {
            vec![
                worker.runtime_id.to_string(),
                worker.worker_id.to_string(),
                name(&worker.status),
                worker.profile.clone().unwrap_or_else(|| "-".to_owned()),
                worker.display_ref.clone(),
            ]
        })
        .collect();
    table::render(&WORKER_COLUMNS, &rows)
}

/// `body` as pretty JSON, or as people read it.
fn output<T: Serialize>(json: bool, body: &T, human: impl FnOnce(&T) -> String) -> String {
    if json {
        let mut text = serde_json::to_string_pretty(body).expect("the API's shapes serialize");
        text.push('\n');
        text
    } else {
        human(body)
    }
}

/// The JSON name of an enum's value (`idle`, `remote_http`), as tables show it.
pub(crate) fn name(value: &impl Serialize) -> String {
    let quoted = serde_json::to_string(value).expect("the API's enums serialize");
    quoted.trim_matches('"').to_owned()
}

/// A note for people on stderr.
pub(super) fn warn(message: &str) {
    #[expect(clippy::print_stderr, reason = "notes beside the command's output")]
    {
        eprintln!("yoi: {message}");
    }
}
