//! The audit log: one JSON line per mutation attempt, allowed or refused, written before the
//! mutation is performed, and one per reload of the configuration, written before its runtimes
//! are served. A line records the decision (and why a request was refused); the request log,
//! joined by request id, records what the runtime then answered.
//!
//! One writer thread owns the file, so no audit write runs on an async worker thread; attempts
//! that wait at the same moment are written with one `write` (a group commit), and each waits for
//! its own line. The file stays open, yet before each batch the writer checks that the path still
//! names it: a log moved away (rotated) or replaced is reopened at the path, and one that cannot
//! be reopened fails the batch, which refuses its mutations.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use tokio::sync::oneshot;
use yoi_registry_core::{ErrorCode, RuntimeId, Timestamp, WorkerId};

use crate::error::ApiError;

/// A mutation of the browser-facing API; each mutation route states its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Operation {
    /// `POST .../workers`.
    CreateWorker,
    /// `POST .../input`.
    SendInput,
    /// `POST .../stop`.
    StopWorker,
    /// `POST .../cancel`.
    CancelWorker,
    /// The configuration was read again (SIGHUP).
    Reload,
}

/// What became of an attempt before it reached the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    /// Passed on to the runtime.
    Allowed,
    /// Refused by policy (`forbidden_by_policy`) or for want of the browser token
    /// (`unauthorized`).
    Denied,
    /// Refused as malformed or aimed at nothing (a bad id or body, an unknown runtime).
    Rejected,
}

impl Outcome {
    fn of<T>(decision: &Result<T, ApiError>) -> Self {
        match decision {
            Ok(_) => Self::Allowed,
            Err(ApiError::Unauthorized) => Self::Denied,
            Err(ApiError::Registry(error)) if error.code == ErrorCode::ForbiddenByPolicy => {
                Self::Denied
            }
            Err(_) => Self::Rejected,
        }
    }
}

/// One mutation attempt, as the audit log records it.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    /// The request's id, joining the line to the request log.
    pub(crate) request_id: String,
    /// What the request attempts.
    pub(crate) operation: Operation,
    /// The runtime it names, when the id is valid.
    pub(crate) runtime_id: Option<RuntimeId>,
    /// The worker it names (or creates), when the id is valid.
    pub(crate) worker_id: Option<WorkerId>,
    /// The size of the request body; its content is never logged.
    pub(crate) input_bytes: u64,
}

/// One line of the audit log.
#[derive(Serialize)]
struct AuditRecord<'a> {
    at: Timestamp,
    request_id: &'a str,
    runtime_id: Option<&'a RuntimeId>,
    worker_id: Option<&'a WorkerId>,
    operation: Operation,
    outcome: Outcome,
    error_code: Option<&'static str>,
    input_bytes: u64,
}

impl Attempt {
    /// Audits `decision`, then answers it; an allowed attempt whose line cannot be written is
    /// refused instead.
    pub(crate) async fn audit<T>(
        &self,
        log: &AuditLog,
        decision: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let record = AuditRecord {
            at: Timestamp::now(),
            request_id: &self.request_id,
            runtime_id: self.runtime_id.as_ref(),
            worker_id: self.worker_id.as_ref(),
            operation: self.operation,
            outcome: Outcome::of(&decision),
            error_code: decision.as_ref().err().map(ApiError::code),
            input_bytes: self.input_bytes,
        };
        let mut line = serde_json::to_vec(&record).expect("audit records serialize to JSON");
        line.push(b'\n');
        if let Err(kind) = log.append(line).await {
            tracing::error!(
                request_id = self.request_id,
                error = %kind,
                "the audit log cannot be written"
            );
            return Err(ApiError::AuditFailed);
        }
        decision
    }
}

impl AuditLog {
    /// Audits a reload of the configuration, applied or refused as invalid (its contents are
    /// not logged); answers once the line is written.
    pub(crate) async fn reload(&self, applied: bool) -> Result<(), io::ErrorKind> {
        let record = AuditRecord {
            at: Timestamp::now(),
            request_id: "reload",
            runtime_id: None,
            worker_id: None,
            operation: Operation::Reload,
            outcome: match applied {
                true => Outcome::Allowed,
                false => Outcome::Rejected,
            },
            error_code: (!applied).then_some("invalid_config"),
            input_bytes: 0,
        };
        let mut line = serde_json::to_vec(&record).expect("audit records serialize to JSON");
        line.push(b'\n');
        self.append(line).await
    }
}

/// The audit log cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the audit log {}: {reason}", path.display())]
pub struct AuditError {
    /// The file.
    pub path: PathBuf,
    /// Why, without any of its content.
    pub reason: String,
}

/// A line for the writer, and where to say whether it was written.
type Line = (Vec<u8>, oneshot::Sender<Result<(), io::ErrorKind>>);

/// The append-only audit file, written by its own thread.
pub(crate) struct AuditLog {
    lines: Mutex<Sender<Line>>,
}

impl AuditLog {
    /// The log at `path`, created (with its folder) if needed, and its writer started.
    pub(crate) fn open(path: PathBuf) -> Result<Self, AuditError> {
        let failed = |error: io::Error| AuditError {
            path: path.clone(),
            reason: error.kind().to_string(),
        };
        if let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder).map_err(failed)?;
        }
        let file = OpenFile::at(&path).map_err(failed)?;
        let (lines, queue) = mpsc::channel();
        let writer = Writer {
            path: path.clone(),
            file: Some(file),
        };
        std::thread::Builder::new()
            .name("yoi-audit".into())
            .spawn(move || writer.run(&queue))
            .map_err(failed)?;
        Ok(Self {
            lines: Mutex::new(lines),
        })
    }

    /// Appends `line`, answering once it is written through to the file.
    async fn append(&self, line: Vec<u8>) -> Result<(), io::ErrorKind> {
        let (done, written) = oneshot::channel();
        let sent = self
            .lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send((line, done));
        if sent.is_err() {
            return Err(io::ErrorKind::BrokenPipe);
        }
        written.await.unwrap_or(Err(io::ErrorKind::BrokenPipe))
    }
}

/// The writer thread's state: the path and the file it has open there.
struct Writer {
    path: PathBuf,
    file: Option<OpenFile>,
}

/// The audit file open for appending, and which file it is (device and inode, taken when it was
/// opened), so that one `stat` of the path tells whether the path still names it.
struct OpenFile {
    file: File,
    identity: (u64, u64),
}

impl OpenFile {
    /// Opens (or creates) the file at `path` for appending.
    fn at(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let metadata = file.metadata()?;
        Ok(Self {
            file,
            identity: (metadata.dev(), metadata.ino()),
        })
    }
}

impl Writer {
    /// Writes batches until the log is dropped.
    fn run(mut self, queue: &Receiver<Line>) {
        while let Ok(first) = queue.recv() {
            let batch: Vec<Line> = std::iter::once(first).chain(queue.try_iter()).collect();
            let mut bytes = Vec::new();
            for (line, _) in &batch {
                bytes.extend_from_slice(line);
            }
            let result = self.write(&bytes).map_err(|error| error.kind());
            for (_, done) in batch {
                let _ = done.send(result);
            }
        }
    }

    /// Writes `bytes` to the file at the path, reopening it when the path names another file
    /// (or none) than the one open.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !self.still_at_path() {
            self.file = None;
        }
        let open = match &mut self.file {
            Some(open) => open,
            None => self.file.insert(OpenFile::at(&self.path)?),
        };
        let result = open.file.write_all(bytes);
        if result.is_err() {
            self.file = None;
        }
        result
    }

    /// Whether the open file is still the one at the path.
    fn still_at_path(&self) -> bool {
        let Some(open) = &self.file else {
            return false;
        };
        std::fs::metadata(&self.path)
            .is_ok_and(|at_path| open.identity == (at_path.dev(), at_path.ino()))
    }
}
