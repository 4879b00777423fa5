//! One Worker's shared state: fixed settings, mutable state behind a mutex (status, the bounded
//! event log, the bounded transcript, the active run) and a change signal for subscribers.
//!
//! The event log is the only source of events: live subscribers read it by cursor just like a
//! replay does, so there is no seam between replay and live where an event could be lost or
//! repeated. The mutex is never held across an `.await`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::event::{Event, EventKind, Role, Usage};
use crate::feed::{FeedSender, WorkerSnapshot};
use crate::id::WorkerId;
use crate::journal::{Journal, Published};
use crate::time::Timestamp;
use crate::transcript::TranscriptEntry;
use crate::worker::{WorkerDetail, WorkerStatus};

/// What the Runtime holds for one Worker.
pub(crate) struct WorkerCell {
    pub(crate) id: WorkerId,
    pub(crate) profile: String,
    pub(crate) display_name: Option<String>,
    pub(crate) created_at: Timestamp,
    pub(crate) engine: Arc<dyn Engine>,
    retention: Retention,
    state: Mutex<CellState>,
    /// The newest sequence subscribers may read (set by the journal once it is kept); they wait
    /// on it for news.
    published: Published,
    /// Where history goes besides memory, if anywhere.
    journal: Option<Box<dyn Journal>>,
    /// Where the Runtime's feed hears of the Worker's new states.
    feed: Arc<FeedSender>,
}

/// A Worker's lasting identity, as stored and restored.
pub(crate) struct WorkerIdentity {
    pub(crate) id: WorkerId,
    pub(crate) profile: String,
    pub(crate) display_name: Option<String>,
    pub(crate) created_at: Timestamp,
}

/// What a store found of a Worker's history.
pub(crate) struct RestoredHistory {
    pub(crate) stopped: bool,
    pub(crate) last_sequence: u64,
    /// Contiguous events ending at `last_sequence` (or none), oldest first; retention applies.
    pub(crate) events: VecDeque<Event>,
    /// Transcript entries, oldest first; retention applies.
    pub(crate) transcript: VecDeque<TranscriptEntry>,
    /// A run had started and not ended when the history was cut.
    pub(crate) run_was_active: bool,
    /// The tokens its runs used in all, as last saved.
    pub(crate) usage: Option<Usage>,
}

/// How much history a Worker keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retention {
    pub(crate) events: usize,
    pub(crate) transcript: usize,
}

/// The mutable part of a Worker.
pub(crate) struct CellState {
    pub(crate) status: WorkerStatus,
    /// A stop is under way: no new input or cancel is accepted.
    pub(crate) stopping: bool,
    pub(crate) run: Option<ActiveRun>,
    last_sequence: u64,
    updated_at: Timestamp,
    usage: Option<Usage>,
    events: VecDeque<Event>,
    transcript: VecDeque<TranscriptEntry>,
}

/// Handles on the run in progress.
#[derive(Clone)]
pub(crate) struct ActiveRun {
    /// Fired to ask the run to end.
    pub(crate) cancel: CancellationToken,
    /// Fired by the run once its outcome is recorded and the Worker is idle again.
    pub(crate) ended: CancellationToken,
}

/// What a subscriber finds after its cursor.
pub(crate) enum NewEvents {
    /// Events right after the cursor (at most the requested batch).
    Events(Vec<Event>),
    /// Nothing new yet; `stopped` means nothing ever will be.
    UpToDate { stopped: bool },
    /// Events right after the cursor were dropped by retention.
    Expired { oldest: u64 },
}

impl WorkerCell {
    /// A new idle Worker whose log starts with `worker_created` (sequence 1).
    pub(crate) fn create(
        identity: WorkerIdentity,
        engine: Arc<dyn Engine>,
        retention: Retention,
        journal: Option<Box<dyn Journal>>,
        feed: Arc<FeedSender>,
    ) -> Arc<Self> {
        let created = EventKind::WorkerCreated {
            profile: identity.profile.clone(),
            display_name: identity.display_name.clone(),
        };
        let history = RestoredHistory {
            stopped: false,
            last_sequence: 0,
            events: VecDeque::new(),
            transcript: VecDeque::new(),
            run_was_active: false,
            usage: None,
        };
        let cell = Self::restore(identity, engine, retention, history, journal, feed);
        let mut state = cell.lock();
        cell.save(&state);
        cell.record(&mut state, created);
        cell.announce(&state);
        drop(state);
        cell
    }

    /// A Worker brought back from a store. A run that was active when the history was cut is
    /// recorded as failed, since nothing runs it any more.
    pub(crate) fn restore(
        identity: WorkerIdentity,
        engine: Arc<dyn Engine>,
        retention: Retention,
        mut history: RestoredHistory,
        journal: Option<Box<dyn Journal>>,
        feed: Arc<FeedSender>,
    ) -> Arc<Self> {
        trim_front(&mut history.events, retention.events);
        trim_front(&mut history.transcript, retention.transcript);
        let updated_at = history
            .events
            .back()
            .map_or(identity.created_at, |event| event.at);
        let cell = Arc::new(Self {
            id: identity.id,
            profile: identity.profile,
            display_name: identity.display_name,
            created_at: identity.created_at,
            engine,
            retention,
            state: Mutex::new(CellState {
                status: if history.stopped {
                    WorkerStatus::Stopped
                } else {
                    WorkerStatus::Idle
                },
                stopping: history.stopped,
                run: None,
                last_sequence: history.last_sequence,
                updated_at,
                usage: history.usage,
                events: history.events,
                transcript: history.transcript,
            }),
            published: Arc::new(watch::Sender::new(history.last_sequence)),
            journal,
            feed,
        });
        if history.run_was_active {
            let failed = EventKind::RunFailed {
                reason: "runtime restarted".to_owned(),
                exit_code: None,
                stderr_tail: String::new(),
            };
            cell.record(&mut cell.lock(), failed);
        }
        cell
    }

    /// Locks the mutable state. A panic elsewhere never leaves the state half-written (every
    /// update is a few plain assignments), so a poisoned lock is still safe to use.
    pub(crate) fn lock(&self) -> MutexGuard<'_, CellState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends an event, drops the oldest beyond retention, wakes subscribers; returns its
    /// sequence.
    pub(crate) fn record(&self, state: &mut CellState, kind: EventKind) -> u64 {
        self.record_at(state, kind, Timestamp::now())
    }

    /// [`WorkerCell::record`] with the event's time given.
    fn record_at(&self, state: &mut CellState, kind: EventKind, at: Timestamp) -> u64 {
        state.last_sequence += 1;
        let sequence = state.last_sequence;
        state.updated_at = at;
        let event = Event { sequence, at, kind };
        match &self.journal {
            Some(journal) => journal.append_event(event.clone(), Arc::clone(&self.published)),
            None => {
                self.published.send_replace(sequence);
            }
        }
        state.events.push_back(event);
        // Only published events may go: a subscriber that has every published one must find the
        // next in the log, however far the journal lags.
        let published = *self.published.borrow();
        let unpublished = state
            .events
            .partition_point(|event| event.sequence <= published);
        let excess = state.events.len().saturating_sub(self.retention.events);
        state.events.drain(..excess.min(unpublished));
        sequence
    }

    /// Records `worker_stopped` and makes the Worker stopped for good.
    pub(crate) fn record_stop(&self, state: &mut CellState) {
        self.record(state, EventKind::WorkerStopped);
        state.status = WorkerStatus::Stopped;
        self.save(state);
        self.announce(state);
    }

    /// Tells the Runtime's feed the Worker's state, after a change of its status.
    pub(crate) fn announce(&self, state: &CellState) {
        self.feed.announce(|| self.snapshot_of(state));
    }

    /// The Worker's state, as the feed tells it.
    pub(crate) fn snapshot(&self) -> WorkerSnapshot {
        self.snapshot_of(&self.lock())
    }

    fn snapshot_of(&self, state: &CellState) -> WorkerSnapshot {
        WorkerSnapshot {
            worker_id: self.id.clone(),
            status: state.status,
            profile: self.profile.clone(),
            display_name: self.display_name.clone(),
            last_sequence: state.last_sequence,
            at: state.updated_at,
            usage: state.usage,
        }
    }

    /// Adds a run's tokens to the Worker's totals, which are kept with its record.
    pub(crate) fn add_usage(&self, state: &mut CellState, usage: Usage) {
        state.usage = Some(state.usage.unwrap_or_default().plus(usage));
        self.save(state);
    }

    /// Hands the Worker's lasting state to the journal.
    fn save(&self, state: &CellState) {
        if let Some(journal) = &self.journal {
            journal.save_worker(self.detail_of(state));
        }
    }

    /// Records an event that is also a transcript entry (`input_accepted` or `message`).
    pub(crate) fn record_turn(&self, state: &mut CellState, role: Role, content: String) -> u64 {
        let kind = if role == Role::Assistant {
            EventKind::Message {
                role,
                content: content.clone(),
            }
        } else {
            EventKind::InputAccepted {
                role,
                content: content.clone(),
            }
        };
        let entry = TranscriptEntry {
            sequence: state.last_sequence + 1,
            role,
            content,
            at: Timestamp::now(),
        };
        // The entry goes to the journal before its event, so that once the event is kept (and a
        // command answers) the entry is on disk too.
        if let Some(journal) = &self.journal {
            journal.append_turn(entry.clone());
        }
        let sequence = self.record_at(state, kind, entry.at);
        state.transcript.push_back(entry);
        trim_front(&mut state.transcript, self.retention.transcript);
        sequence
    }

    /// The Worker as the API shows it.
    pub(crate) fn detail(&self) -> WorkerDetail {
        self.detail_of(&self.lock())
    }

    fn detail_of(&self, state: &CellState) -> WorkerDetail {
        WorkerDetail {
            worker_id: self.id.clone(),
            display_name: self.display_name.clone(),
            profile: self.profile.clone(),
            status: state.status,
            created_at: self.created_at,
            updated_at: state.updated_at,
            last_sequence: state.last_sequence,
            usage: state.usage,
        }
    }

    /// A receiver that wakes when an event is published (or when the Worker is dropped).
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// Returns once the event `sequence` is kept by the journal (at once without one), so that a
    /// command answers only with what a restart would find.
    pub(crate) async fn kept(&self, sequence: u64) {
        let mut published = self.published.subscribe();
        // The sender lives as long as this cell, so waiting cannot fail.
        let _ = published.wait_for(|newest| *newest >= sequence).await;
    }

    /// Up to `batch` published events with sequences after `cursor`.
    pub(crate) fn events_after(&self, cursor: u64, batch: usize) -> NewEvents {
        let published = *self.published.borrow();
        let state = self.lock();
        if cursor >= state.last_sequence {
            return NewEvents::UpToDate {
                stopped: state.status == WorkerStatus::Stopped,
            };
        }
        if cursor >= published {
            return NewEvents::UpToDate { stopped: false };
        }
        let first = state
            .events
            .partition_point(|event| event.sequence <= cursor);
        match state.events.get(first) {
            // The log is contiguous, so the event right after the cursor starts the batch.
            Some(next) if next.sequence == cursor + 1 => {
                let events = state.events.range(first..).take(batch);
                let kept = events.take_while(|event| event.sequence <= published);
                NewEvents::Events(kept.cloned().collect())
            }
            // Retention dropped it (or a store lost it): a gap that cannot be filled.
            next => NewEvents::Expired {
                oldest: next.map_or(state.last_sequence + 1, |event| event.sequence),
            },
        }
    }
}

impl CellState {
    /// The sequence of the newest event.
    pub(crate) fn last_sequence(&self) -> u64 {
        self.last_sequence
    }

    /// The sequence of the oldest retained event.
    pub(crate) fn oldest_sequence(&self) -> u64 {
        self.events
            .front()
            .map_or(self.last_sequence + 1, |event| event.sequence)
    }

    /// The newest `count` transcript entries, oldest first.
    pub(crate) fn transcript_tail(&self, count: usize) -> Vec<TranscriptEntry> {
        let skip = self.transcript.len().saturating_sub(count);
        self.transcript.range(skip..).cloned().collect()
    }

    /// Retained transcript entries with `sequence >= start`, oldest first.
    pub(crate) fn transcript_from(&self, start: u64) -> impl Iterator<Item = &TranscriptEntry> {
        let first = self
            .transcript
            .partition_point(|entry| entry.sequence < start);
        self.transcript.range(first..)
    }
}

/// Drops the oldest entries beyond `limit`.
fn trim_front<T>(queue: &mut VecDeque<T>, limit: usize) {
    let excess = queue.len().saturating_sub(limit);
    queue.drain(..excess);
}

/// Where an engine writes its streaming output: each piece becomes an `output_delta` event.
pub(crate) struct OutputSink {
    cell: Arc<WorkerCell>,
}

impl OutputSink {
    pub(crate) fn new(cell: Arc<WorkerCell>) -> Self {
        Self { cell }
    }

    /// Records one piece of output.
    pub(crate) fn delta(&self, text: &str) {
        let cell = &self.cell;
        cell.record(
            &mut cell.lock(),
            EventKind::OutputDelta {
                text: text.to_owned(),
            },
        );
    }
}
