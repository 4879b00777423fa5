//! The `fs-store` feature: a Runtime that keeps its Workers on disk and comes back with them.
//!
//! Layout: `<data_dir>/runtimes/<runtime_id>/workers/<worker_id>/` holds `worker.json` (the
//! Worker's record, replaced atomically through a temp file and a rename), `events.jsonl` and
//! `transcript.jsonl` (one JSON object per line, appended in sequence order). The Runtime's
//! writer thread (`fs_writer`) does every write; a command answers once its events are with the
//! operating system. This survives the process dying; surviving power loss (fsync) is not
//! attempted.
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

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;

use crate::diagnostics::Diagnostics;
use crate::event::{Event, EventKind};
use crate::fs_writer::{EVENTS, FsJournal, RECORD, TRANSCRIPT, Writer};
use crate::journal::{Journal, Store};
use crate::summary::Severity;
use crate::transcript::TranscriptEntry;
use crate::worker::{WorkerDetail, WorkerStatus};
use crate::worker_cell::{RestoredHistory, WorkerIdentity};
use crate::{Runtime, RuntimeConfig, RuntimeConfigError, WorkerId};

/// Why a stored Runtime could not be opened. Meant for the operator starting the process, so it
/// may name the data directory.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The configuration cannot run.
    #[error(transparent)]
    Config(#[from] RuntimeConfigError),
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
        let writer =
            Writer::start(workers_dir.clone(), Arc::clone(&diagnostics)).map_err(io_error)?;
        let store = Arc::new(FsStore {
            writer: Arc::new(writer),
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
            match loader.load() {
                Some((identity, history)) => runtime.restore_worker(identity, history),
                None => runtime.reserve_worker_id(loader.id),
            }
        }
        Ok(runtime)
    }
}

/// Hands out one [`FsJournal`] per Worker, all writing through the Runtime's one [`Writer`].
struct FsStore {
    writer: Arc<Writer>,
}

impl Store for FsStore {
    fn journal(&self, id: &WorkerId) -> Box<dyn Journal> {
        Box::new(FsJournal {
            id: id.clone(),
            writer: Arc::clone(&self.writer),
        })
    }

    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.writer.flush())
    }
}

/// Reads one Worker's folder back.
struct Loader<'a> {
    dir: PathBuf,
    id: WorkerId,
    diagnostics: &'a Diagnostics,
}

impl Loader<'_> {
    /// The Worker's identity and history, or `None` (reported) when it cannot be loaded.
    fn load(&self) -> Option<(WorkerIdentity, RestoredHistory)> {
        let record = fs::read(self.dir.join(RECORD))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<WorkerDetail>(&bytes).ok())
            .filter(|record| record.worker_id == self.id);
        let Some(record) = record else {
            return self.unloadable(&format!("{RECORD} is missing or unreadable"));
        };
        let events: Vec<Event> = match self.read_lines(EVENTS) {
            Ok(events) => events,
            Err(error) => return self.unloadable(&format!("{EVENTS}: {}", error.kind())),
        };
        let transcript: Vec<TranscriptEntry> = match self.read_lines(TRANSCRIPT) {
            Ok(transcript) => transcript,
            Err(error) => return self.unloadable(&format!("{TRANSCRIPT}: {}", error.kind())),
        };

        let mut history = RestoredHistory {
            stopped: record.status == WorkerStatus::Stopped,
            last_sequence: record.last_sequence,
            events: VecDeque::new(),
            transcript: transcript.into(),
            run_was_active: false,
            usage: record.usage,
        };
        for event in events {
            if event.sequence <= history.events.back().map_or(0, |last| last.sequence) {
                self.report(
                    "stored_line_corrupt",
                    format!(
                        "worker {}: {EVENTS} repeats or reorders sequence {}; skipped",
                        self.id, event.sequence
                    ),
                );
                continue;
            }
            match event.kind {
                EventKind::RunStarted => history.run_was_active = true,
                EventKind::RunCompleted { .. }
                | EventKind::RunFailed { .. }
                | EventKind::RunCancelled => {
                    history.run_was_active = false;
                }
                EventKind::WorkerStopped => history.stopped = true,
                _ => {}
            }
            history.events.push_back(event);
        }
        let newest_turn = history.transcript.back().map(|entry| entry.sequence);
        let newest_event = history.events.back().map(|event| event.sequence);
        history.last_sequence = history
            .last_sequence
            .max(newest_turn.unwrap_or(0))
            .max(newest_event.unwrap_or(0));
        self.keep_contiguous_tail(&mut history);
        let identity = WorkerIdentity {
            id: record.worker_id,
            profile: record.profile,
            display_name: record.display_name,
            created_at: record.created_at,
        };
        Some((identity, history))
    }

    /// Replay needs events without gaps, ending at the newest sequence; events before a gap (a
    /// corrupt line) can no longer be replayed, and are dropped with a diagnostic.
    fn keep_contiguous_tail(&self, history: &mut RestoredHistory) {
        let events = &mut history.events;
        let mut start = events.len();
        let mut expected = history.last_sequence;
        while start > 0 && events[start - 1].sequence == expected {
            start -= 1;
            expected -= 1;
        }
        if start > 0 || (events.is_empty() && history.last_sequence > 0) {
            events.drain(..start);
            self.report(
                "stored_events_gap",
                format!(
                    "worker {}: stored events before sequence {} have a gap; they are not replayed",
                    self.id,
                    expected + 1
                ),
            );
        }
    }

    /// Parses a JSON Lines file, skipping (and reporting) lines that do not parse. A missing file
    /// is empty. A last line cut short by a crash is terminated, so the next append starts on a
    /// line of its own.
    fn read_lines<T: DeserializeOwned>(&self, file: &str) -> io::Result<Vec<T>> {
        let path = self.dir.join(file);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        if bytes.last().is_some_and(|last| *last != b'\n') {
            OpenOptions::new()
                .append(true)
                .open(&path)
                .and_then(|mut file| file.write_all(b"\n"))?;
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
        Ok(values)
    }

    /// Reports a Worker that cannot be loaded. Its id stays taken, so no new Worker mixes its
    /// history into the old folder.
    fn unloadable(&self, why: &str) -> Option<(WorkerIdentity, RestoredHistory)> {
        self.report(
            "stored_worker_unreadable",
            format!(
                "worker {}: {why}; it was not loaded and its id stays reserved",
                self.id
            ),
        );
        None
    }

    fn report(&self, code: &str, message: String) {
        self.diagnostics.report(code, Severity::Warning, message);
    }
}
