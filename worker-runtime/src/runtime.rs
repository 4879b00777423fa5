//! [`Runtime`]: the Workers of one Runtime and every operation on them.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::config::{
    DEFAULT_PROFILE, EngineSettings, Limits, RuntimeConfig, RuntimeConfigError, check_display_name,
};
use crate::diagnostics::Diagnostics;
use crate::engine::{self, Engine, RunInput};
use crate::error::RuntimeError;
use crate::event::{EventKind, Role};
use crate::feed::{Feed, FeedSender};
use crate::id::{RuntimeId, WorkerId, validate_id};
use crate::journal::Store;
use crate::page::{PageRequest, page_limit};
use crate::subscription::EventStream;
use crate::summary::{
    Capabilities, Diagnostic, ProfileInfo, RuntimeSummary, Severity, WorkerCounts,
};
use crate::time::Timestamp;
use crate::transcript::TranscriptPage;
use crate::worker::{
    CreateWorker, Input, InputAck, InputKind, WorkerDetail, WorkerPage, WorkerStatus,
};
use crate::worker_cell::{ActiveRun, Retention, WorkerCell, WorkerIdentity};

/// A Runtime: it owns Workers, runs their engines and keeps their events and transcripts.
///
/// Cloning is cheap (a reference count) and every clone is the same Runtime, safe to share across
/// tasks. Operations that start work (`send_input`) need a Tokio runtime. Dropping the last
/// clone cancels every active run.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    id: RuntimeId,
    display_name: String,
    limits: Limits,
    profiles: BTreeMap<String, Profile>,
    diagnostics: Arc<Diagnostics>,
    /// Where Workers' history is kept besides memory, if anywhere.
    store: Option<Arc<dyn Store>>,
    workers: RwLock<BTreeMap<WorkerId, Arc<WorkerCell>>>,
    /// Ids of stored Workers that could not be loaded: taken, so no new Worker reuses their
    /// folder.
    reserved: Mutex<BTreeSet<WorkerId>>,
    /// Numbers the ids picked for Workers created without one.
    next_worker_number: AtomicU64,
    /// Where the Workers announce their new states to the feed's subscribers.
    feed: Arc<FeedSender>,
}

struct Profile {
    engine_name: &'static str,
    model: Option<String>,
    engine: Arc<dyn Engine>,
}

impl Runtime {
    /// Builds a memory-only Runtime from its configuration; fails if the configuration cannot
    /// run.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeConfigError> {
        Self::assemble(config, Arc::default(), None)
    }

    /// Builds a Runtime without Workers that reports into `diagnostics` and keeps history in
    /// `store`.
    pub(crate) fn assemble(
        config: RuntimeConfig,
        diagnostics: Arc<Diagnostics>,
        store: Option<Arc<dyn Store>>,
    ) -> Result<Self, RuntimeConfigError> {
        config.validate()?;
        let effective = config.effective_profiles();
        for (name, settings) in &effective {
            report_profile_problems(&diagnostics, name, settings);
        }
        let profiles = effective
            .iter()
            .map(|(name, settings)| {
                let profile = Profile {
                    engine_name: settings.engine_name(),
                    model: settings.model().map(|model| model.model.clone()),
                    engine: engine::build(settings),
                };
                (name.clone(), profile)
            })
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                display_name: config
                    .display_name
                    .unwrap_or_else(|| config.id.as_str().to_owned()),
                id: config.id,
                limits: config.limits,
                profiles,
                diagnostics,
                store,
                workers: RwLock::default(),
                reserved: Mutex::default(),
                next_worker_number: AtomicU64::new(1),
                feed: Arc::new(FeedSender::new()),
            }),
        })
    }

    /// Adds a Worker brought back from the store. A Worker whose profile is no longer configured
    /// loads anyway; its runs fail and say why.
    #[cfg(feature = "fs-store")]
    pub(crate) fn restore_worker(
        &self,
        identity: WorkerIdentity,
        history: crate::worker_cell::RestoredHistory,
    ) {
        let engine = match self.inner.profiles.get(&identity.profile) {
            Some(profile) => Arc::clone(&profile.engine),
            None => {
                self.inner.diagnostics.report(
                    "profile_missing",
                    Severity::Warning,
                    format!(
                        "worker {} uses profile {}, which is not configured; its runs will fail",
                        identity.id, identity.profile
                    ),
                );
                engine::unconfigured(&identity.profile)
            }
        };
        let journal = self.journal(&identity.id);
        let id = identity.id.clone();
        let feed = Arc::clone(&self.inner.feed);
        let cell = WorkerCell::restore(identity, engine, self.retention(), history, journal, feed);
        self.inner
            .workers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, cell);
    }

    /// Keeps the id of a stored Worker that could not be loaded from being reused.
    #[cfg(feature = "fs-store")]
    pub(crate) fn reserve_worker_id(&self, id: WorkerId) {
        self.inner
            .reserved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
    }

    fn journal(&self, id: &WorkerId) -> Option<Box<dyn crate::journal::Journal>> {
        self.inner.store.as_ref().map(|store| store.journal(id))
    }

    fn retention(&self) -> Retention {
        Retention {
            events: self.inner.limits.retained_events,
            transcript: self.inner.limits.retained_transcript,
        }
    }

    /// The Runtime's id.
    pub fn id(&self) -> &RuntimeId {
        &self.inner.id
    }

    /// Identity, version, Worker counts, capabilities and profile names.
    pub fn summary(&self) -> RuntimeSummary {
        let mut workers = WorkerCounts::default();
        for cell in self.cells() {
            match cell.lock().status {
                WorkerStatus::Idle => workers.idle += 1,
                WorkerStatus::Running => workers.running += 1,
                WorkerStatus::Stopped => workers.stopped += 1,
            }
        }
        RuntimeSummary {
            runtime_id: self.inner.id.clone(),
            display_name: self.inner.display_name.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            workers,
            capabilities: self.capabilities(),
            profiles: self.inner.profiles.keys().cloned().collect(),
        }
    }

    /// What this Runtime can do.
    pub fn capabilities(&self) -> Capabilities {
        let mut engines: Vec<String> = self
            .inner
            .profiles
            .values()
            .map(|profile| profile.engine_name.to_owned())
            .collect();
        engines.sort_unstable();
        engines.dedup();
        Capabilities {
            create_worker: true,
            send_input: true,
            stop_worker: true,
            cancel_worker: true,
            transcript: true,
            events: true,
            max_input_bytes: self.inner.limits.max_input_bytes,
            engines,
            profiles: self
                .inner
                .profiles
                .iter()
                .map(|(name, profile)| ProfileInfo {
                    name: name.clone(),
                    engine: profile.engine_name.to_owned(),
                    model: profile.model.clone(),
                })
                .collect(),
        }
    }

    /// Conditions an operator should know about: a profile whose program is missing, a stored
    /// line that could not be read, a write that failed.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        self.inner.diagnostics.list()
    }

    /// One page of Workers in worker id order.
    pub fn list_workers(&self, page: &PageRequest) -> Result<WorkerPage, RuntimeError> {
        let limit = page_limit(page.limit)?;
        let lower = page
            .after
            .as_ref()
            .map_or(Bound::Unbounded, Bound::Excluded);
        let mut cells: Vec<Arc<WorkerCell>> = self
            .read_workers()
            .range((lower, Bound::Unbounded))
            .take(limit + 1)
            .map(|(_, cell)| Arc::clone(cell))
            .collect();
        let more = cells.len() > limit;
        cells.truncate(limit);
        Ok(WorkerPage {
            next_after: more.then(|| cells[limit - 1].id.clone()),
            workers: cells.iter().map(|cell| cell.detail()).collect(),
        })
    }

    /// One Worker.
    pub fn get_worker(&self, id: &WorkerId) -> Result<WorkerDetail, RuntimeError> {
        Ok(self.cell(id)?.detail())
    }

    /// Creates an idle Worker; its first event is `worker_created` with sequence 1. With a store,
    /// it answers once the Worker is on disk.
    pub async fn create_worker(&self, request: CreateWorker) -> Result<WorkerDetail, RuntimeError> {
        let (cell, detail) = self.add_worker(request)?;
        cell.kept(detail.last_sequence).await;
        Ok(detail)
    }

    /// Creates the Worker's cell and records its creation.
    fn add_worker(
        &self,
        request: CreateWorker,
    ) -> Result<(Arc<WorkerCell>, WorkerDetail), RuntimeError> {
        let profile_name = request.profile.as_deref().unwrap_or(DEFAULT_PROFILE);
        let profile = self.profile(profile_name)?;
        if let Some(name) = &request.display_name {
            check_display_name(name)
                .map_err(|problem| RuntimeError::InvalidInput(problem.into()))?;
        }
        let mut workers = self
            .inner
            .workers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if workers.len() >= self.inner.limits.max_workers {
            return Err(RuntimeError::WorkerLimitReached {
                limit: self.inner.limits.max_workers,
            });
        }
        let reserved = self
            .inner
            .reserved
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let taken = |id: &WorkerId| workers.contains_key(id) || reserved.contains(id);
        let id = match request.worker_id {
            Some(id) if taken(&id) => return Err(RuntimeError::WorkerExists(id)),
            Some(id) => id,
            None => self.free_worker_id(taken),
        };
        drop(reserved);
        let identity = WorkerIdentity {
            id: id.clone(),
            profile: profile_name.to_owned(),
            display_name: request.display_name,
            created_at: Timestamp::now(),
        };
        let engine = Arc::clone(&profile.engine);
        let feed = Arc::clone(&self.inner.feed);
        let journal = self.journal(&id);
        let cell = WorkerCell::create(identity, engine, self.retention(), journal, feed);
        let detail = cell.detail();
        workers.insert(id, Arc::clone(&cell));
        Ok((cell, detail))
    }

    /// Accepts an input and starts a run on its own task; answers with the sequence of the
    /// `input_accepted` event (once it is kept, with a store). `run_started` follows it directly.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, like `tokio::spawn`, and before anything is recorded.
    pub async fn send_input(&self, id: &WorkerId, input: Input) -> Result<InputAck, RuntimeError> {
        let (cell, ack) = self.accept_input(id, input)?;
        cell.kept(ack.sequence).await;
        Ok(ack)
    }

    /// Records the input and starts its run.
    fn accept_input(
        &self,
        id: &WorkerId,
        input: Input,
    ) -> Result<(Arc<WorkerCell>, InputAck), RuntimeError> {
        let limit = self.inner.limits.max_input_bytes;
        if input.content.len() > limit {
            return Err(RuntimeError::PayloadTooLarge {
                size: input.content.len(),
                limit,
            });
        }
        if input.content.trim().is_empty() {
            return Err(RuntimeError::InvalidInput("input content is empty".into()));
        }
        let cell = self.cell(id)?;
        // Checked before any state changes: without a Tokio runtime the run could not start.
        let tokio = Handle::try_current()
            .expect("Runtime::send_input must be called within a Tokio runtime");
        let run = ActiveRun {
            cancel: CancellationToken::new(),
            ended: CancellationToken::new(),
        };
        let (sequence, input) = {
            let mut state = cell.lock();
            if state.status == WorkerStatus::Stopped || state.stopping {
                return Err(RuntimeError::WorkerStopped(id.clone()));
            }
            if state.status == WorkerStatus::Running {
                return Err(RuntimeError::WorkerBusy(id.clone()));
            }
            let role = match input.kind {
                InputKind::User => Role::User,
                InputKind::System => Role::System,
            };
            let sequence = cell.record_turn(&mut state, role, input.content.clone());
            cell.record(&mut state, EventKind::RunStarted);
            state.status = WorkerStatus::Running;
            state.run = Some(run.clone());
            cell.announce(&state);
            let conversation = state.transcript_tail(cell.engine.context_entries());
            let input = RunInput {
                input: input.content,
                conversation,
            };
            (sequence, input)
        };
        crate::run::spawn(&tokio, Arc::clone(&cell), input, run);
        let ack = InputAck {
            worker_id: id.clone(),
            sequence,
        };
        Ok((cell, ack))
    }

    /// Ends the active run, if any (`run_cancelled`), and returns once the Worker is idle again.
    /// Cancelling an idle Worker changes nothing.
    pub async fn cancel_worker(&self, id: &WorkerId) -> Result<WorkerDetail, RuntimeError> {
        let cell = self.cell(id)?;
        let run = {
            let state = cell.lock();
            if state.status == WorkerStatus::Stopped || state.stopping {
                return Err(RuntimeError::WorkerStopped(id.clone()));
            }
            state.run.clone()
        };
        if let Some(run) = run {
            run.cancel.cancel();
            run.ended.cancelled().await;
        }
        Ok(kept_detail(&cell).await)
    }

    /// Stops the Worker for good: cancels its active run (`run_cancelled`), then records
    /// `worker_stopped`. Stopping a stopped Worker changes nothing. The stop completes even if the
    /// returned future is dropped while the run winds down.
    pub async fn stop_worker(&self, id: &WorkerId) -> Result<WorkerDetail, RuntimeError> {
        let cell = self.cell(id)?;
        let run = {
            let mut state = cell.lock();
            if !state.stopping {
                state.stopping = true;
                if state.run.is_none() {
                    cell.record_stop(&mut state);
                }
            }
            // The run's end records `worker_stopped` because `stopping` is set.
            state.run.clone()
        };
        if let Some(run) = run {
            run.cancel.cancel();
            run.ended.cancelled().await;
        }
        Ok(kept_detail(&cell).await)
    }

    /// Cancels every active run and returns once each has recorded its `run_cancelled` and the
    /// store has written everything. Workers stay usable; a graceful process shutdown calls this
    /// last.
    pub async fn shutdown(&self) {
        let runs: Vec<ActiveRun> = self
            .cells()
            .iter()
            .filter_map(|cell| cell.lock().run.clone())
            .collect();
        for run in &runs {
            run.cancel.cancel();
        }
        for run in runs {
            run.ended.cancelled().await;
        }
        if let Some(store) = &self.inner.store {
            store.flush().await;
        }
    }

    /// A bounded page of the transcript: entries with `sequence >= start`, oldest first.
    pub fn transcript(
        &self,
        id: &WorkerId,
        start: u64,
        limit: Option<usize>,
    ) -> Result<TranscriptPage, RuntimeError> {
        let limit = page_limit(limit)?;
        let cell = self.cell(id)?;
        let state = cell.lock();
        let mut entries = state.transcript_from(start);
        let page: Vec<_> = entries.by_ref().take(limit).cloned().collect();
        let next_start = match (entries.next(), page.last()) {
            (Some(_), Some(last)) => Some(last.sequence + 1),
            _ => None,
        };
        Ok(TranscriptPage {
            entries: page,
            next_start,
        })
    }

    /// The Worker's events after `after`, then live ones (see [`EventStream`]).
    ///
    /// `None` replays everything still retained. `Some(cursor)` resumes exactly after that
    /// sequence: a cursor whose successors are no longer retained is `cursor_expired`, and a
    /// cursor beyond the newest event is `invalid_input`.
    pub fn subscribe(
        &self,
        id: &WorkerId,
        after: Option<u64>,
    ) -> Result<EventStream, RuntimeError> {
        let cell = self.cell(id)?;
        let cursor = {
            let state = cell.lock();
            let oldest = state.oldest_sequence();
            match after {
                None => oldest - 1,
                Some(cursor) if cursor > state.last_sequence() => {
                    return Err(RuntimeError::InvalidInput(format!(
                        "cursor {cursor} is beyond the newest event ({})",
                        state.last_sequence()
                    )));
                }
                Some(cursor) if cursor + 1 < oldest => {
                    return Err(RuntimeError::CursorExpired { cursor, oldest });
                }
                Some(cursor) => cursor,
            }
        };
        Ok(EventStream::new(&cell, cursor))
    }

    /// The state of every Worker, then each new state as it happens (see [`Feed`]).
    pub fn feed(&self) -> Feed {
        let inner = Arc::downgrade(&self.inner);
        Feed::new(&self.inner.feed, move || {
            let inner = inner.upgrade()?;
            let workers = inner.workers.read().unwrap_or_else(PoisonError::into_inner);
            Some(workers.values().map(|cell| cell.snapshot()).collect())
        })
    }

    fn profile(&self, name: &str) -> Result<&Profile, RuntimeError> {
        self.inner.profiles.get(name).ok_or_else(|| {
            let available = self
                .inner
                .profiles
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            // Echo the name only when it is a well-formed one; never reflect arbitrary input.
            let named = if validate_id("profile", name).is_ok() {
                format!("unknown profile {name}")
            } else {
                "unknown profile".to_owned()
            };
            RuntimeError::InvalidInput(format!("{named}; available: {available}"))
        })
    }

    fn cell(&self, id: &WorkerId) -> Result<Arc<WorkerCell>, RuntimeError> {
        self.read_workers()
            .get(id)
            .cloned()
            .ok_or_else(|| RuntimeError::UnknownWorker(id.clone()))
    }

    fn cells(&self) -> Vec<Arc<WorkerCell>> {
        self.read_workers().values().cloned().collect()
    }

    fn read_workers(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<WorkerId, Arc<WorkerCell>>> {
        self.inner
            .workers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The first `worker-N` id not taken (ids given by callers may have taken some).
    fn free_worker_id(&self, taken: impl Fn(&WorkerId) -> bool) -> WorkerId {
        loop {
            let number = self
                .inner
                .next_worker_number
                .fetch_add(1, Ordering::Relaxed);
            let id =
                WorkerId::new(format!("worker-{number}")).expect("worker-N matches the id rule");
            if !taken(&id) {
                return id;
            }
        }
    }
}

/// The Worker's detail once every event it names is kept.
async fn kept_detail(cell: &WorkerCell) -> WorkerDetail {
    let detail = cell.detail();
    cell.kept(detail.last_sequence).await;
    detail
}

/// Warns about a command profile whose program cannot be found. The message names the profile,
/// not the program, because a program may be a path.
fn report_profile_problems(diagnostics: &Diagnostics, name: &str, settings: &EngineSettings) {
    if let EngineSettings::Command(command) = settings {
        if !engine::program_is_available(&command.program) {
            diagnostics.report(
                "program_not_found",
                Severity::Warning,
                format!("profile {name}: its program is not an executable file; runs will fail"),
            );
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let workers = self
            .workers
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for cell in workers.values() {
            if let Some(run) = &cell.lock().run {
                run.cancel.cancel();
            }
        }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}
