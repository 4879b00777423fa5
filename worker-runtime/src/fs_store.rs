//! The `fs-store` feature: a Runtime that keeps its Workers on disk and comes back with them.
//!
//! Layout: `<data_dir>/runtimes/<runtime_id>/workers/<worker_id>/` holds `worker.json` (the
//! Worker's record, replaced atomically through a temp file and a rename), `events.jsonl` and
//! `transcript.jsonl` (one JSON object per line, appended in sequence order). Each append is one
//! `write` to a file opened for appending, so a line is with the operating system before the
//! command that caused it answers, and no file stays open between writes.
//!
//! On open, every Worker comes back with its retained events and transcript; sequences continue
//! after the highest one stored. A run that was active when the process died is recorded as
//! `run_failed` ("runtime restarted"). A corrupt or truncated line is skipped and reported in
//! `diagnostics()`; everything else loads. Diagnostics name workers and file names, never paths.
//!
//! An event is written before subscribers hear of it, so the last line a crash cut short was
//! never delivered; the next event takes its sequence, and numbering stays without gaps.

use std::collections::VecDeque;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::diagnostics::Diagnostics;
use crate::event::{Event, EventKind};
use crate::journal::{Journal, Store};
use crate::summary::Severity;
use crate::transcript::TranscriptEntry;
use crate::worker::{WorkerDetail, WorkerStatus};
use crate::worker_cell::{RestoredHistory, WorkerIdentity};
use crate::{ConfigError, Runtime, RuntimeConfig, WorkerId};

const RECORD: &str = "worker.json";
const EVENTS: &str = "events.jsonl";
const TRANSCRIPT: &str = "transcript.jsonl";

/// Why a stored Runtime could not be opened. Meant for the operator starting the process, so it
/// may name the data directory.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The configuration cannot run.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory cannot be created or read.
    #[error("cannot use {}: {source}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
}

impl Runtime {
    /// Opens the Runtime stored under `data_dir` (creating it if needed) and brings back its
    /// Workers. Later history is written there as it happens.
    pub fn open(config: RuntimeConfig, data_dir: &Path) -> Result<Self, OpenError> {
        let workers_dir = data_dir
            .join("runtimes")
            .join(config.id.as_str())
            .join("workers");
        let io_error = |source| OpenError::Io {
            path: workers_dir.clone(),
            source,
        };
        fs::create_dir_all(&workers_dir).map_err(io_error)?;
        let mut names: Vec<_> = fs::read_dir(&workers_dir)
            .map_err(io_error)?
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
            .map(|entry| entry.file_name())
            .collect();
        names.sort();

        let diagnostics = Arc::new(Diagnostics::default());
        let store = Arc::new(FsStore {
            workers_dir: workers_dir.clone(),
            diagnostics: Arc::clone(&diagnostics),
        });
        let runtime = Self::assemble(config, Arc::clone(&diagnostics), Some(store))?;
        for name in names {
            let Some(id) = name.to_str().and_then(|name| WorkerId::new(name).ok()) else {
                diagnostics.report(
                    "stored_worker_invalid",
                    Severity::Warning,
                    "a stored worker folder is not named by a valid worker id; it was ignored"
                        .to_owned(),
                );
                continue;
            };
            let loader = Loader {
                dir: workers_dir.join(id.as_str()),
                id,
                diagnostics: &diagnostics,
            };
            if let Some((identity, history)) = loader.load(&runtime) {
                runtime.restore_worker(identity, history);
            }
        }
        Ok(runtime)
    }
}

/// Hands out one [`FsJournal`] per Worker.
struct FsStore {
    workers_dir: PathBuf,
    diagnostics: Arc<Diagnostics>,
}

impl Store for FsStore {
    fn journal(&self, id: &WorkerId) -> Box<dyn Journal> {
        Box::new(FsJournal {
            dir: self.workers_dir.join(id.as_str()),
            id: id.clone(),
            diagnostics: Arc::clone(&self.diagnostics),
        })
    }
}

/// Writes one Worker's history into its folder.
struct FsJournal {
    dir: PathBuf,
    id: WorkerId,
    diagnostics: Arc<Diagnostics>,
}

impl FsJournal {
    fn append(&self, file: &str, value: &impl Serialize) {
        let result = json_line(value).and_then(|line| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(file))?
                .write_all(&line)
        });
        if let Err(error) = result {
            self.write_failed(&format!("could not append to {file}"), &error);
        }
    }

    fn write_failed(&self, what: &str, error: &io::Error) {
        self.diagnostics.report(
            "store_write_failed",
            Severity::Error,
            format!("worker {}: {what} ({})", self.id, error.kind()),
        );
    }
}

impl Journal for FsJournal {
    fn append_event(&self, event: &Event) {
        self.append(EVENTS, event);
    }

    fn append_turn(&self, entry: &TranscriptEntry) {
        self.append(TRANSCRIPT, entry);
    }

    fn save_worker(&self, detail: &WorkerDetail) {
        let temp = self.dir.join(format!("{RECORD}.tmp"));
        let result = fs::create_dir_all(&self.dir)
            .and_then(|()| serde_json::to_vec_pretty(detail).map_err(io::Error::other))
            .and_then(|json| {
                let mut file = fs::File::create(&temp)?;
                file.write_all(&json)?;
                file.sync_all()
            })
            .and_then(|()| fs::rename(&temp, self.dir.join(RECORD)));
        if let Err(error) = result {
            self.write_failed("could not save its record", &error);
        }
    }
}

fn json_line(value: &impl Serialize) -> io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
    line.push(b'\n');
    Ok(line)
}

/// Reads one Worker's folder back.
struct Loader<'a> {
    dir: PathBuf,
    id: WorkerId,
    diagnostics: &'a Diagnostics,
}

impl Loader<'_> {
    fn load(&self, runtime: &Runtime) -> Option<(WorkerIdentity, RestoredHistory)> {
        let record = fs::read(self.dir.join(RECORD))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<WorkerDetail>(&bytes).ok())
            .filter(|record| record.worker_id == self.id);
        let Some(record) = record else {
            self.report(
                "stored_worker_unreadable",
                format!(
                    "worker {}: {RECORD} is missing or unreadable; it was not loaded",
                    self.id
                ),
            );
            return None;
        };
        let limits = runtime.limits();
        let events: Vec<Event> = self.read_lines(EVENTS);
        let transcript: Vec<TranscriptEntry> = self.read_lines(TRANSCRIPT);

        let mut history = RestoredHistory {
            stopped: record.status == WorkerStatus::Stopped,
            last_sequence: record.last_sequence,
            events: VecDeque::new(),
            transcript: VecDeque::new(),
            run_was_active: false,
        };
        let mut previous = 0;
        for event in events {
            if event.sequence <= previous {
                self.report(
                    "stored_line_corrupt",
                    format!(
                        "worker {}: {EVENTS} repeats or reorders sequence {}; skipped",
                        self.id, event.sequence
                    ),
                );
                continue;
            }
            previous = event.sequence;
            match event.kind {
                EventKind::RunStarted => history.run_was_active = true,
                EventKind::RunCompleted | EventKind::RunFailed { .. } | EventKind::RunCancelled => {
                    history.run_was_active = false;
                }
                EventKind::WorkerStopped => history.stopped = true,
                _ => {}
            }
            history.last_sequence = history.last_sequence.max(event.sequence);
            push_bounded(&mut history.events, event, limits.retained_events);
        }
        for entry in transcript {
            history.last_sequence = history.last_sequence.max(entry.sequence);
            push_bounded(&mut history.transcript, entry, limits.retained_transcript);
        }
        let identity = WorkerIdentity {
            id: record.worker_id,
            profile: record.profile,
            display_name: record.display_name,
            created_at: record.created_at,
        };
        Some((identity, history))
    }

    /// Parses a JSON Lines file, skipping (and reporting) lines that do not parse. A last line
    /// cut short by a crash is terminated, so the next append starts on a line of its own.
    fn read_lines<T: DeserializeOwned>(&self, file: &str) -> Vec<T> {
        let path = self.dir.join(file);
        let Ok(bytes) = fs::read(&path) else {
            return Vec::new();
        };
        if bytes.last().is_some_and(|last| *last != b'\n') {
            let terminated = OpenOptions::new()
                .append(true)
                .open(&path)
                .and_then(|mut file| file.write_all(b"\n"));
            if terminated.is_err() {
                self.report(
                    "store_write_failed",
                    format!(
                        "worker {}: could not terminate the last line of {file}",
                        self.id
                    ),
                );
            }
        }
        let mut values = Vec::new();
        let mut corrupt = Vec::new();
        for (index, line) in bytes.split(|byte| *byte == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice(line) {
                Ok(value) => values.push(value),
                Err(_) => corrupt.push(index + 1),
            }
        }
        if let Some(first) = corrupt.first() {
            self.report(
                "stored_line_corrupt",
                format!(
                    "worker {}: {} line(s) of {file} are corrupt or truncated (first: line {first}); \
                     they were skipped",
                    self.id,
                    corrupt.len()
                ),
            );
        }
        values
    }

    fn report(&self, code: &str, message: String) {
        self.diagnostics.report(code, Severity::Warning, message);
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, value: T, limit: usize) {
    queue.push_back(value);
    if queue.len() > limit {
        queue.pop_front();
    }
}
