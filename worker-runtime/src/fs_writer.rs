//! The writer of a stored Runtime: one thread that owns the Workers' open files, so that no
//! journal write runs on an async worker thread. Records arrive in the order the Workers'
//! locks recorded them; the thread writes everything that is waiting (one `write` per file per
//! batch, a group commit), and only then publishes each event's sequence to the Worker's
//! subscribers. So an event is with the operating system before anyone sees it, and a crash
//! cuts at most lines that nobody was shown.
//!
//! A failed write is a diagnostic (naming the worker and the file, never a path) and is still
//! published: history in memory goes on, as it always did. Files stay open between batches; at
//! most [`OPEN_WORKERS`] Workers' files are open at once.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use serde::Serialize;
use tokio::sync::oneshot;

use crate::diagnostics::Diagnostics;
use crate::event::Event;
use crate::id::WorkerId;
use crate::journal::{Journal, Published};
use crate::summary::Severity;
use crate::transcript::TranscriptEntry;
use crate::worker::WorkerDetail;

/// The Worker's record, replaced atomically through a temp file and a rename.
pub(crate) const RECORD: &str = "worker.json";
/// One event per line, in sequence order.
pub(crate) const EVENTS: &str = "events.jsonl";
/// One transcript entry per line, in sequence order.
pub(crate) const TRANSCRIPT: &str = "transcript.jsonl";

/// How many Workers' files stay open between batches; past that they are closed and reopened
/// when next written, so a Runtime with thousands of Workers holds few descriptors.
const OPEN_WORKERS: usize = 256;

/// How many records one batch takes at most, so publishing never waits behind a long queue.
const MAX_BATCH: usize = 1024;

/// What a journal hands the writer.
enum Record {
    Event(WorkerId, Event, Published),
    Turn(WorkerId, TranscriptEntry),
    Save(WorkerId, WorkerDetail),
    Flush(oneshot::Sender<()>),
}

/// The writer thread of one Runtime's store. Dropping the last handle lets the thread write what
/// is queued and waits for it, so a Runtime dropped and opened again finds every line.
pub(crate) struct Writer {
    records: Option<Sender<Record>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer of the Workers under `workers_dir`.
    pub(crate) fn start(workers_dir: PathBuf, diagnostics: Arc<Diagnostics>) -> io::Result<Self> {
        let (records, queue) = mpsc::channel();
        let files = Files {
            workers_dir,
            diagnostics,
            open: HashMap::new(),
        };
        let thread = std::thread::Builder::new()
            .name("yoi-journal".into())
            .spawn(move || files.run(&queue))?;
        Ok(Self {
            records: Some(records),
            thread: Some(thread),
        })
    }

    /// Waits until everything queued before this call is written.
    pub(crate) async fn flush(&self) {
        let (done, written) = oneshot::channel();
        self.send(Record::Flush(done));
        let _ = written.await;
    }

    /// Queues `record`. Should the thread be gone, its event is published unwritten, so that
    /// no subscriber or command waits for it forever.
    fn send(&self, record: Record) {
        let Some(records) = &self.records else {
            return;
        };
        if let Err(mpsc::SendError(Record::Event(_, event, published))) = records.send(record) {
            published.send_if_modified(|newest| publish(newest, event.sequence));
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.records.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One Worker's journal: records go to the Runtime's writer.
pub(crate) struct FsJournal {
    pub(crate) id: WorkerId,
    pub(crate) writer: Arc<Writer>,
}

impl Journal for FsJournal {
    fn append_event(&self, event: Event, published: Published) {
        self.writer
            .send(Record::Event(self.id.clone(), event, published));
    }

    fn append_turn(&self, entry: TranscriptEntry) {
        self.writer.send(Record::Turn(self.id.clone(), entry));
    }

    fn save_worker(&self, detail: WorkerDetail) {
        self.writer.send(Record::Save(self.id.clone(), detail));
    }
}

/// The files the thread holds open, by Worker.
struct Files {
    workers_dir: PathBuf,
    diagnostics: Arc<Diagnostics>,
    open: HashMap<WorkerId, WorkerFiles>,
}

/// One Worker's append-only files.
#[derive(Default)]
struct WorkerFiles {
    events: Appender,
    transcript: Appender,
}

/// One append-only file and the lines waiting for it.
#[derive(Default)]
struct Appender {
    file: Option<File>,
    pending: Vec<u8>,
    /// An append failed, possibly halfway: the next one starts with a line break, so that the
    /// torn line stays one corrupt line instead of swallowing the next.
    torn: bool,
}

impl Files {
    /// Writes batches until every sender is gone and the queue is empty.
    fn run(mut self, queue: &Receiver<Record>) {
        let _unblock = Unblock(queue);
        while let Ok(first) = queue.recv() {
            let mut published = Publish(Vec::new());
            let mut flushed = Vec::new();
            let batch = std::iter::once(first).chain(queue.try_iter().take(MAX_BATCH - 1));
            for record in batch {
                match record {
                    Record::Event(id, event, to) => {
                        self.worker(id).events.queue(&event);
                        published.0.push((to, event.sequence));
                    }
                    Record::Turn(id, entry) => self.worker(id).transcript.queue(&entry),
                    Record::Save(id, detail) => {
                        // The record may name sequences that are queued: write those first.
                        self.write_pending();
                        self.save(&id, &detail);
                    }
                    Record::Flush(done) => flushed.push(done),
                }
            }
            self.write_pending();
            drop(published);
            for done in flushed {
                let _ = done.send(());
            }
            // Files of Workers without a torn line are closed once too many are open.
            if self.open.len() > OPEN_WORKERS {
                self.open
                    .retain(|_, files| files.events.torn || files.transcript.torn);
            }
        }
    }

    fn worker(&mut self, id: WorkerId) -> &mut WorkerFiles {
        self.open.entry(id).or_default()
    }

    /// Writes every queued line, one write per file. When more Workers are open than
    /// [`OPEN_WORKERS`], each file is closed after its write, so a batch never holds more.
    fn write_pending(&mut self) {
        let close = self.open.len() > OPEN_WORKERS;
        for (id, files) in &mut self.open {
            let dir = self.workers_dir.join(id.as_str());
            for (name, appender) in [
                (EVENTS, &mut files.events),
                (TRANSCRIPT, &mut files.transcript),
            ] {
                if let Err(error) = appender.write(&dir, name) {
                    let what = format!("could not append to {name}");
                    write_failed(&self.diagnostics, id, &what, &error);
                }
                if close {
                    appender.file = None;
                }
            }
        }
    }

    fn save(&self, id: &WorkerId, detail: &WorkerDetail) {
        let dir = self.workers_dir.join(id.as_str());
        let temp = dir.join(format!("{RECORD}.tmp"));
        let result = fs::create_dir_all(&dir)
            .and_then(|()| serde_json::to_vec_pretty(detail).map_err(io::Error::other))
            .and_then(|json| fs::write(&temp, json))
            .and_then(|()| fs::rename(&temp, dir.join(RECORD)));
        if let Err(error) = result {
            write_failed(&self.diagnostics, id, "could not save its record", &error);
        }
    }
}

/// Sequences written in a batch, published when it is dropped: after the batch's write, or while
/// the thread unwinds from a panic, so that nobody waits for them forever.
struct Publish(Vec<(Published, u64)>);

impl Drop for Publish {
    fn drop(&mut self) {
        for (to, sequence) in self.0.drain(..) {
            to.send_if_modified(|newest| publish(newest, sequence));
        }
    }
}

/// Publishes (unwritten) the events still queued when the thread ends, which only a panic makes
/// it do with records waiting.
struct Unblock<'a>(&'a Receiver<Record>);

impl Drop for Unblock<'_> {
    fn drop(&mut self) {
        for record in self.0.try_iter() {
            if let Record::Event(_, event, to) = record {
                to.send_if_modified(|newest| publish(newest, event.sequence));
            }
        }
    }
}

/// Raises the published sequence to `sequence`; whether it rose.
fn publish(newest: &mut u64, sequence: u64) -> bool {
    let rose = sequence > *newest;
    *newest = (*newest).max(sequence);
    rose
}

/// Reports a failed write, naming the worker and the file, never a path.
fn write_failed(diagnostics: &Diagnostics, id: &WorkerId, what: &str, error: &io::Error) {
    let message = format!("worker {id}: {what} ({})", error.kind());
    diagnostics.report("store_write_failed", Severity::Error, message);
}

impl Appender {
    /// Queues `value` as one JSON line, after a line break when the last append was torn.
    fn queue(&mut self, value: &impl Serialize) {
        if std::mem::take(&mut self.torn) {
            self.pending.push(b'\n');
        }
        serde_json::to_writer(&mut self.pending, value).expect("records serialize to JSON");
        self.pending.push(b'\n');
    }

    /// Appends the pending lines (if any) to `dir/name`, opening it on first use. After a failure
    /// the file is reopened next time and the next line starts on a line of its own.
    fn write(&mut self, dir: &std::path::Path, name: &str) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let lines = std::mem::take(&mut self.pending);
        let result = match &mut self.file {
            Some(file) => file.write_all(&lines),
            None => OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .and_then(|mut file| {
                    file.write_all(&lines)?;
                    self.file = Some(file);
                    Ok(())
                }),
        };
        if result.is_err() {
            self.file = None;
            self.torn = true;
        }
        result
    }
}
