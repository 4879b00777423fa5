//! The audit log: one JSON line per mutation attempt, allowed or refused, written before the
//! mutation is performed. A line records the decision (and why a request was refused); the
//! request log, joined by request id, records what the runtime then answered. The file is opened
//! for each line, so it can be rotated by moving it away, and a file made unwritable is noticed
//! at once.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use axum::http::Method;
use serde::Serialize;
use yoi_registry_core::{RuntimeId, Timestamp, WorkerId};

/// A mutation of the browser-facing API.
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
}

impl Operation {
    /// The mutation a request attempts, if it is one (every `POST` of the API is).
    pub(crate) fn of(method: &Method, path: &str) -> Option<Self> {
        if method != Method::POST {
            return None;
        }
        let operation = match path.rsplit('/').next()? {
            "workers" => Self::CreateWorker,
            "input" => Self::SendInput,
            "stop" => Self::StopWorker,
            "cancel" => Self::CancelWorker,
            _ => return None,
        };
        Some(operation)
    }
}

/// What became of an attempt before it reached the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// Passed on to the runtime.
    Allowed,
    /// Refused by policy (`forbidden_by_policy`) or for want of the browser token
    /// (`unauthorized`).
    Denied,
    /// Refused as malformed or aimed at nothing (a bad id or body, an unknown runtime).
    Rejected,
}

/// One line of the audit log.
#[derive(Debug, Serialize)]
pub(crate) struct AuditRecord<'a> {
    pub(crate) at: Timestamp,
    pub(crate) request_id: &'a str,
    pub(crate) runtime_id: Option<&'a RuntimeId>,
    pub(crate) worker_id: Option<&'a WorkerId>,
    pub(crate) operation: Operation,
    pub(crate) outcome: Outcome,
    pub(crate) error_code: Option<&'static str>,
    /// The size of the request body; its content is never logged.
    pub(crate) input_bytes: u64,
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

/// The append-only audit file.
pub(crate) struct AuditLog {
    path: PathBuf,
    /// Keeps lines whole and in order when requests race.
    writing: Mutex<()>,
}

impl AuditLog {
    /// The log at `path`, created (with its folder) if needed.
    pub(crate) fn open(path: PathBuf) -> Result<Self, AuditError> {
        let failed = |error: std::io::Error| AuditError {
            path: path.clone(),
            reason: error.kind().to_string(),
        };
        if let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder).map_err(failed)?;
        }
        append_to(&path).map_err(failed)?;
        Ok(Self {
            path,
            writing: Mutex::new(()),
        })
    }

    /// Appends `record` as one line, written through to the file before this returns.
    pub(crate) fn write(&self, record: &AuditRecord<'_>) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).expect("audit records serialize to JSON");
        line.push(b'\n');
        let _in_order = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let result = append_to(&self.path).and_then(|mut file| file.write_all(&line));
        if let Err(error) = &result {
            tracing::error!(
                request_id = record.request_id,
                error = %error.kind(),
                "the audit log cannot be written"
            );
        }
        result
    }
}

fn append_to(path: &Path) -> std::io::Result<std::fs::File> {
    OpenOptions::new().create(true).append(true).open(path)
}
