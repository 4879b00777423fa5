//! The `embedded` adapter: a `worker_runtime::Runtime` inside the Backend process, called
//! directly. There is no URL, token or socket for it. Its Workers are stored under
//! `<data_dir>/runtimes/<id>/` unless `persist = false`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_trait::async_trait;
use futures::StreamExt;
use serde::Deserialize;
use worker_runtime::{
    EngineSettings, FeedItem, Limits, Runtime, RuntimeConfig, RuntimeConfigError,
};
use yoi_registry_core::{
    AdapterConfigError, AdapterFactory, AdapterInput, CreateWorker, ErrorCode, FeedEvent, Input,
    InputAck, PageRequest, RegistryError, RuntimeDescriptor, RuntimeFeed, RuntimeHandle,
    RuntimeKind, RuntimeOverview, RuntimeStatus, StreamEvent, StreamItem, TranscriptPage,
    WorkerEvents, WorkerId, WorkerView, WorkerViewPage,
};

/// The table's own keys: those of a `RuntimeConfig`, plus where to keep it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddedSettings {
    #[serde(default)]
    profiles: BTreeMap<String, EngineSettings>,
    #[serde(default)]
    limits: Limits,
    /// Keep Workers on disk under the workspace's data dir (default) or only in memory.
    #[serde(default = "persist_by_default")]
    persist: bool,
}

fn persist_by_default() -> bool {
    true
}

/// An embedded Runtime. It is opened on first use, so that building it (as `yoi config check`
/// does) touches nothing on disk; an open that fails is tried again on the next call.
struct EmbeddedHandle {
    descriptor: RuntimeDescriptor,
    config: RuntimeConfig,
    store: Option<PathBuf>,
    runtime: Arc<OnceLock<Runtime>>,
    /// Held by the blocking open, so that the store is opened once even when a first caller
    /// gives up (its open goes on and fills `runtime`) and another call comes meanwhile.
    opening: Arc<Mutex<()>>,
    /// Set by `shutdown`: later calls are refused, so that nothing more reaches a store that a
    /// successor (after a reload) may open.
    closed: AtomicBool,
}

fn build(input: AdapterInput) -> Result<Arc<dyn RuntimeHandle>, AdapterConfigError> {
    let settings: EmbeddedSettings = input.settings()?;
    let mut config = RuntimeConfig {
        id: input.id.clone(),
        display_name: input.display_name.clone(),
        profiles: settings.profiles,
        limits: settings.limits,
    };
    config
        .validate()
        .and_then(|()| config.resolve_api_keys(&input.workspace_root))
        .map_err(|error| match error {
            RuntimeConfigError::ProfileKey {
                profile,
                key,
                problem,
            } => AdapterConfigError::at(&format!("profiles.{profile}.{key}"), problem),
            other => AdapterConfigError {
                key: None,
                message: other.to_string(),
            },
        })?;
    Ok(Arc::new(EmbeddedHandle {
        descriptor: RuntimeDescriptor {
            display_name: input.display_name.unwrap_or_else(|| input.id.to_string()),
            id: input.id,
            kind: RuntimeKind::Embedded,
            policy: input.policy,
            timeout: input.timeout,
        },
        config,
        store: settings.persist.then_some(input.data_dir),
        runtime: Arc::default(),
        opening: Arc::default(),
        closed: AtomicBool::new(false),
    }))
}

impl EmbeddedHandle {
    /// The Runtime, opened on first use on a blocking thread (opening a store reads every
    /// Worker's files). A store that cannot be opened fails the call with `runtime_unavailable`
    /// (the overview says why, without the path).
    async fn runtime(&self) -> Result<&Runtime, RegistryError> {
        if self.closed.load(Ordering::SeqCst) {
            let message = format!("runtime {} was shut down", self.descriptor.id);
            return Err(RegistryError::new(ErrorCode::RuntimeUnavailable, message)
                .for_runtime(&self.descriptor.id));
        }
        if let Some(runtime) = self.runtime.get() {
            return Ok(runtime);
        }
        let (runtime, opening) = (Arc::clone(&self.runtime), Arc::clone(&self.opening));
        let (config, store) = (self.config.clone(), self.store.clone());
        let opening = tokio::task::spawn_blocking(move || {
            let _one_open = opening.lock().unwrap_or_else(PoisonError::into_inner);
            if runtime.get().is_none() {
                let _ = runtime.set(open(config, store.as_deref())?);
            }
            Ok(())
        });
        // A slow open goes on after the timeout and fills the cell for a later call.
        let opened = tokio::time::timeout(self.descriptor.timeout, opening)
            .await
            .map_err(|_| self.timed_out())?
            .unwrap_or_else(|_| Err("opening its store failed unexpectedly".into()));
        let unavailable = |reason: String| {
            let message = format!("runtime {}: {reason}", self.descriptor.id);
            RegistryError::new(ErrorCode::RuntimeUnavailable, message)
                .for_runtime(&self.descriptor.id)
        };
        opened.map_err(unavailable)?;
        // Set by this open or an earlier one: an open that succeeds always fills the cell.
        self.runtime
            .get()
            .ok_or_else(|| unavailable("its store was not opened".into()))
    }

    /// A Runtime call, bounded by the runtime's timeout (a stalled store must not hold a request
    /// forever), with its error naming this runtime.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, worker_runtime::RuntimeError>>,
    ) -> Result<T, RegistryError> {
        match tokio::time::timeout(self.descriptor.timeout, call).await {
            Ok(answer) => self.scoped(answer),
            Err(_) => Err(self.timed_out()),
        }
    }

    /// `runtime_timeout` for this runtime.
    fn timed_out(&self) -> RegistryError {
        let (id, timeout) = (&self.descriptor.id, self.descriptor.timeout);
        let message = format!(
            "runtime {id} did not answer within {} ms",
            timeout.as_millis()
        );
        RegistryError::new(ErrorCode::RuntimeTimeout, message).for_runtime(id)
    }

    /// A Runtime answer with its error naming this runtime.
    fn scoped<T>(
        &self,
        answer: Result<T, worker_runtime::RuntimeError>,
    ) -> Result<T, RegistryError> {
        answer.map_err(|error| RegistryError::from(error).for_runtime(&self.descriptor.id))
    }
}

/// Opens the Runtime stored under `store`, or a memory-only one; the reason names no path.
fn open(config: RuntimeConfig, store: Option<&std::path::Path>) -> Result<Runtime, String> {
    match store {
        Some(dir) => Runtime::open(config, dir).map_err(|error| match error {
            worker_runtime::OpenError::Io { source, .. } => {
                format!("its store cannot be opened: {}", source.kind())
            }
            other => other.to_string(),
        }),
        None => Runtime::new(config).map_err(|error| error.to_string()),
    }
}

#[async_trait]
impl RuntimeHandle for EmbeddedHandle {
    fn descriptor(&self) -> &RuntimeDescriptor {
        &self.descriptor
    }

    async fn overview(&self) -> RuntimeOverview {
        let runtime = match self.runtime().await {
            Ok(runtime) => runtime,
            Err(error) => return RuntimeOverview::unavailable("store_unavailable", error.message),
        };
        let summary = runtime.summary();
        let diagnostics = runtime.diagnostics();
        RuntimeOverview {
            status: RuntimeStatus::from_diagnostics(&diagnostics),
            capabilities: summary.capabilities,
            last_seen_at: Some(worker_runtime::Timestamp::now()),
            diagnostics,
            workers: Some(summary.workers),
        }
    }

    async fn list_workers(&self, page: &PageRequest) -> Result<WorkerViewPage, RegistryError> {
        let runtime = self.runtime().await?;
        Ok(self.scoped(runtime.list_workers(page))?.into())
    }

    async fn get_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError> {
        let runtime = self.runtime().await?;
        Ok(self.scoped(runtime.get_worker(worker))?.into())
    }

    async fn create_worker(&self, request: CreateWorker) -> Result<WorkerView, RegistryError> {
        let runtime = self.runtime().await?;
        Ok(self.bounded(runtime.create_worker(request)).await?.into())
    }

    async fn send_input(&self, worker: &WorkerId, input: Input) -> Result<InputAck, RegistryError> {
        let runtime = self.runtime().await?;
        self.bounded(runtime.send_input(worker, input)).await
    }

    async fn stop_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError> {
        let runtime = self.runtime().await?;
        Ok(self.bounded(runtime.stop_worker(worker)).await?.into())
    }

    async fn cancel_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError> {
        let runtime = self.runtime().await?;
        Ok(self.bounded(runtime.cancel_worker(worker)).await?.into())
    }

    async fn transcript(
        &self,
        worker: &WorkerId,
        start: u64,
        limit: Option<usize>,
    ) -> Result<TranscriptPage, RegistryError> {
        let runtime = self.runtime().await?;
        self.scoped(runtime.transcript(worker, start, limit))
    }

    async fn subscribe(
        &self,
        worker: &WorkerId,
        after: Option<u64>,
    ) -> Result<WorkerEvents, RegistryError> {
        let runtime_id = self.descriptor.id.clone();
        let events = self.scoped(self.runtime().await?.subscribe(worker, after))?;
        Ok(events
            .map(move |item| {
                item.map(|event| StreamItem::Event(StreamEvent::decoded(event)))
                    .map_err(|error| RegistryError::from(error).for_runtime(&runtime_id))
            })
            .boxed())
    }

    async fn feed(&self) -> Result<RuntimeFeed, RegistryError> {
        let feed = self.runtime().await?.feed();
        Ok(feed
            .map(|item| {
                Ok(match item {
                    FeedItem::Worker(snapshot) => FeedEvent::Worker(snapshot),
                    FeedItem::Synced => FeedEvent::Synced,
                })
            })
            .boxed())
    }

    async fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Some(runtime) = self.runtime.get() {
            runtime.shutdown().await;
        }
    }
}

yoi_registry_core::inventory::submit! { AdapterFactory::new("embedded", build) }
