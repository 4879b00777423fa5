//! A Backend served on 127.0.0.1:0 from a workspace.toml, with a client, its audit log, and a
//! count of the upstream subscriptions its runtimes were asked for.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use yoi_registry_core::{
    CreateWorker, WorkerEvents, Input, InputAck, PageRequest, RegistryError, RuntimeDescriptor,
    RuntimeHandle, RuntimeOverview, RuntimeRegistry, TranscriptPage, WorkerId, WorkerView,
    WorkerViewPage,
};
use yoi_workspace_server::{AppState, ServerOptions, app};

/// How long any wait may take before it counts as a hang.
pub(crate) const DEADLINE: Duration = Duration::from_secs(15);

/// Three embedded runtimes: `alpha` (with a slow profile, and a bulky one that streams big
/// pieces), `hidden` (not visible) and `frozen` (read-only).
pub(crate) const WORKSPACE: &str = r#"
[[runtime]]
id = "alpha"
adapter = "embedded"
persist = false
[runtime.profiles.default]
engine = "echo"
[runtime.profiles.slow]
engine = "echo"
chunk_chars = 1
delay_ms = 100
[runtime.profiles.bulky]
engine = "echo"
chunk_chars = 4096
delay_ms = 1

[[runtime]]
id = "hidden"
adapter = "embedded"
persist = false
visible = false

[[runtime]]
id = "frozen"
adapter = "embedded"
persist = false
read_only = true
"#;

/// A served Backend.
pub(crate) struct Backend {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) state: AppState,
    pub(crate) audit: PathBuf,
    /// Subscriptions the Backend opened at its runtimes.
    pub(crate) upstream: Arc<AtomicUsize>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The Backend of [`WORKSPACE`] with default options.
pub(crate) async fn backend() -> Backend {
    backend_with(WORKSPACE, |_| {}).await
}

/// The Backend of `toml`, its options adjusted by `adjust`.
pub(crate) async fn backend_with(toml: &str, adjust: impl FnOnce(&mut ServerOptions)) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("workspace.toml");
    std::fs::write(&file, toml).unwrap();
    let config = yoi_config::WorkspaceConfig::load(&file).unwrap();
    let built = yoi_workspace_server::build_registry(&config).unwrap();
    let upstream = Arc::new(AtomicUsize::new(0));
    let handles = built
        .handles()
        .iter()
        .map(|inner| {
            Arc::new(Counting {
                inner: Arc::clone(inner),
                subscriptions: Arc::clone(&upstream),
            }) as Arc<dyn RuntimeHandle>
        })
        .collect();
    let registry = RuntimeRegistry::new(handles).unwrap();
    let audit = config.data_dir.join("audit.jsonl");
    let mut options = ServerOptions::new(audit.clone());
    adjust(&mut options);
    let shutdown = options.shutdown.clone();
    let state = AppState::new(registry, options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = app(state.clone());
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .unwrap();
    });
    Backend {
        base: format!("http://{address}"),
        client: reqwest::Client::new(),
        state,
        audit,
        upstream,
        shutdown,
        _dir: dir,
    }
}

impl Backend {
    /// `GET path`: status and JSON body.
    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        status_and_json(response).await
    }

    /// `POST path` with a JSON body (none when `Value::Null`): status and JSON body.
    pub(crate) async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let mut request = self.client.post(self.url(path));
        if !body.is_null() {
            request = request.json(&body);
        }
        status_and_json(request.send().await.unwrap()).await
    }

    /// The absolute URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates worker `id` on `runtime` with `profile`.
    pub(crate) async fn create(&self, runtime: &str, id: &str, profile: &str) {
        let body = serde_json::json!({ "worker_id": id, "profile": profile });
        let (status, created) = self
            .post(&format!("/api/runtimes/{runtime}/workers"), body)
            .await;
        assert_eq!(status, 201, "{created}");
    }

    /// Sends `content` to `runtime/worker`; answers the `input_accepted` sequence.
    pub(crate) async fn send(&self, runtime: &str, worker: &str, content: &str) -> u64 {
        let body = serde_json::json!({ "kind": "user", "content": content });
        let path = format!("/api/runtimes/{runtime}/workers/{worker}/input");
        let (status, ack) = self.post(&path, body).await;
        assert_eq!(status, 202, "{ack}");
        ack["sequence"].as_u64().unwrap()
    }

    /// Waits until `runtime/worker` is idle again.
    pub(crate) async fn wait_idle(&self, runtime: &str, worker: &str) -> Value {
        let path = format!("/api/runtimes/{runtime}/workers/{worker}");
        let started = std::time::Instant::now();
        loop {
            let (_, detail) = self.get(&path).await;
            if detail["status"] == "idle" {
                return detail;
            }
            assert!(started.elapsed() < DEADLINE, "{detail}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The audit log's lines.
    pub(crate) fn audit_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, body)
}

/// Asserts an error answer: its status, code, and the ids it names.
pub(crate) fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

/// Polls `condition` until it holds, or fails after [`DEADLINE`].
pub(crate) async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !condition() {
        assert!(started.elapsed() < DEADLINE, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A runtime handle that counts the event subscriptions it is asked for.
struct Counting {
    inner: Arc<dyn RuntimeHandle>,
    subscriptions: Arc<AtomicUsize>,
}

#[async_trait]
impl RuntimeHandle for Counting {
    fn descriptor(&self) -> &RuntimeDescriptor {
        self.inner.descriptor()
    }

    async fn overview(&self) -> RuntimeOverview {
        self.inner.overview().await
    }

    async fn list_workers(&self, page: &PageRequest) -> Result<WorkerViewPage, RegistryError> {
        self.inner.list_workers(page).await
    }

    async fn get_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError> {
        self.inner.get_worker(worker).await
    }

    async fn create_worker(&self, request: CreateWorker) -> Result<WorkerView, RegistryError> {
        self.inner.create_worker(request).await
    }

    async fn send_input(&self, worker: &WorkerId, input: Input) -> Result<InputAck, RegistryError> {
        self.inner.send_input(worker, input).await
    }

    async fn stop_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError> {
        self.inner.stop_worker(worker).await
    }

    async fn cancel_worker(&self, worker: &WorkerId) -> Result<WorkerView, RegistryError> {
        self.inner.cancel_worker(worker).await
    }

    async fn transcript(
        &self,
        worker: &WorkerId,
        start: u64,
        limit: Option<usize>,
    ) -> Result<TranscriptPage, RegistryError> {
        self.inner.transcript(worker, start, limit).await
    }

    async fn subscribe(
        &self,
        worker: &WorkerId,
        after: Option<u64>,
    ) -> Result<WorkerEvents, RegistryError> {
        let stream = self.inner.subscribe(worker, after).await?;
        let live = Arc::clone(&self.subscriptions);
        live.fetch_add(1, Ordering::SeqCst);
        // The count drops when the Backend drops the stream: it counts open subscriptions.
        let guard = Decrement(live);
        Ok(stream
            .map(move |item| {
                let _held = &guard;
                item
            })
            .boxed())
    }
}

struct Decrement(Arc<AtomicUsize>);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
