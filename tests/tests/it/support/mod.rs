//! Fixtures: a runtime process served on 127.0.0.1:0, a legacy pod store, and a workspace whose
//! workspace.toml names one runtime of each enabled adapter kind.

pub(crate) mod backend;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use worker_runtime::http::{BearerToken, HttpOptions, router};
use worker_runtime::{Runtime, RuntimeConfig};
use yoi_registry_core::{
    CreateWorker, Event, EventKind, RegistryError, RuntimeHandle, RuntimeId, RuntimeKind,
    RuntimeRegistry, StreamItem, WorkerEvents, WorkerId,
};

/// The token the Backend and the served runtime share.
pub(crate) const TOKEN: &str = "backend-to-runtime";

pub(crate) use yoi_test_support::DEADLINE;

pub(crate) fn wid(id: &str) -> WorkerId {
    WorkerId::new(id).unwrap()
}

pub(crate) fn rid(id: &str) -> RuntimeId {
    RuntimeId::new(id).unwrap()
}

/// The events and errors of a stream, without its connection notices.
pub(crate) fn events_only(
    stream: WorkerEvents,
) -> impl Stream<Item = Result<Event, RegistryError>> + Unpin {
    stream.filter_map(|item| futures::future::ready(item.map(StreamItem::into_event).transpose()))
}

/// Events of `events` up to and including the first `run_completed`, each within [`DEADLINE`].
pub(crate) async fn through_completion(
    events: &mut (impl Stream<Item = Result<Event, RegistryError>> + Unpin),
) -> Vec<Event> {
    let mut seen = Vec::new();
    while seen
        .last()
        .is_none_or(|event: &Event| !matches!(event.kind, EventKind::RunCompleted { .. }))
    {
        let next = tokio::time::timeout(DEADLINE, events.next()).await.unwrap();
        seen.push(next.expect("the stream ends after run_completed").unwrap());
    }
    seen
}

/// A request for the Worker `id` with the default profile.
pub(crate) fn named(id: &WorkerId) -> CreateWorker {
    CreateWorker {
        worker_id: Some(id.clone()),
        ..CreateWorker::default()
    }
}

/// A runtime process, served until stopped or dropped.
pub(crate) struct ServedRuntime {
    pub(crate) address: SocketAddr,
    /// How many event streams were requested from it.
    pub(crate) event_streams: Arc<AtomicUsize>,
    /// How many feeds were requested from it.
    pub(crate) feeds: Arc<AtomicUsize>,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ServedRuntime {
    /// Shuts the process down (its open event streams end) and waits until it has.
    pub(crate) async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for ServedRuntime {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves `runtime` at `address` (port 0: any free one), requiring [`TOKEN`].
pub(crate) async fn serve(runtime: Runtime, address: SocketAddr) -> ServedRuntime {
    serve_with(runtime, address, |app| app).await
}

/// Serves `runtime` like [`serve`], its router changed by `wrap` (e.g. a misbehaving layer).
pub(crate) async fn serve_with(
    runtime: Runtime,
    address: SocketAddr,
    wrap: impl FnOnce(axum::Router) -> axum::Router,
) -> ServedRuntime {
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let options = HttpOptions {
        token: Some(BearerToken::new(TOKEN).unwrap()),
        shutdown: shutdown.clone(),
        ..HttpOptions::default()
    };
    let (event_streams, feeds) = (Arc::default(), Arc::default());
    let app = wrap(router(runtime, options)).layer(axum::middleware::from_fn_with_state(
        (Arc::clone(&event_streams), Arc::clone(&feeds)),
        count_streams,
    ));
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .unwrap();
    });
    ServedRuntime {
        address,
        event_streams,
        feeds,
        shutdown,
        task: Some(task),
    }
}

/// Counts the requests for event streams and for the feed.
async fn count_streams(
    axum::extract::State((event_streams, feeds)): axum::extract::State<(
        Arc<AtomicUsize>,
        Arc<AtomicUsize>,
    )>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    if path.ends_with("/events") {
        event_streams.fetch_add(1, Ordering::SeqCst);
    } else if path == worker_runtime::protocol::FEED {
        feeds.fetch_add(1, Ordering::SeqCst);
    }
    next.run(request).await
}

/// A fresh in-memory runtime `id`.
pub(crate) fn in_memory_runtime(id: &str) -> Runtime {
    Runtime::new(RuntimeConfig::new(rid(id))).unwrap()
}

/// Serves a fresh in-memory runtime `id` on a free port.
pub(crate) async fn serve_runtime(id: &str) -> ServedRuntime {
    serve(in_memory_runtime(id), "127.0.0.1:0".parse().unwrap()).await
}

/// An http-client handle, runtime id `remote`, to whatever listens at `address`, sending [`TOKEN`].
#[cfg(feature = "http-client")]
pub(crate) fn remote_handle(address: SocketAddr, timeout: Duration) -> Arc<dyn RuntimeHandle> {
    remote_handle_with_token(address, TOKEN, timeout)
}

/// An http-client handle, runtime id `remote`, to `address`, sending `token`.
#[cfg(feature = "http-client")]
pub(crate) fn remote_handle_with_token(
    address: SocketAddr,
    token: &str,
    timeout: Duration,
) -> Arc<dyn RuntimeHandle> {
    let settings = serde_json::json!({
        "base_url": format!("http://{address}"),
        "probe_interval_ms": 60_000,
    });
    let input = yoi_registry_core::AdapterInput {
        id: rid("remote"),
        display_name: None,
        policy: yoi_registry_core::Policy::default(),
        timeout,
        workspace_root: "/workspace".into(),
        data_dir: "/workspace/.yoi".into(),
        secret: Some(yoi_registry_core::Secret::new(token)),
        settings: settings.as_object().unwrap().clone(),
    };
    (yoi_adapters::find("http-client").unwrap().build)(input).unwrap()
}

/// Asserts an error's code and runtime, and that its message names neither the runtime's
/// address, its port, a URL, nor the token.
#[cfg(feature = "http-client")]
pub(crate) fn assert_error(
    error: &yoi_registry_core::RegistryError,
    code: yoi_registry_core::ErrorCode,
    address: SocketAddr,
) {
    assert_eq!(error.code, code, "{error}");
    assert_eq!(error.runtime_id, Some(rid("remote")));
    for leak in [
        address.to_string(),
        address.port().to_string(),
        "http://".to_owned(),
        TOKEN.to_owned(),
    ] {
        assert!(!error.message.contains(&leak), "{leak} in {error}");
    }
}

/// The adapter kinds, each with the runtime the fixture workspace gives it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Embedded,
    HttpClient,
    LocalPodCompat,
}

impl Kind {
    pub(crate) fn runtime(self) -> &'static str {
        match self {
            Self::Embedded => "alpha",
            Self::HttpClient => "beta",
            Self::LocalPodCompat => "legacy",
        }
    }

    pub(crate) fn expected(self) -> RuntimeKind {
        match self {
            Self::Embedded => RuntimeKind::Embedded,
            Self::HttpClient => RuntimeKind::RemoteHttp,
            Self::LocalPodCompat => RuntimeKind::LocalCompatibility,
        }
    }

    pub(crate) fn json_kind(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::HttpClient => "remote_http",
            Self::LocalPodCompat => "local_compatibility",
        }
    }
}

/// The worker id the compatibility adapter gives the fixture pod `reviewer`.
pub(crate) const POD_WORKER: &str = "reviewer-4736781a";

/// A legacy pod store with one pod of the workspace at `root`.
fn pod_store(root: &Path) {
    let pod = root.join(".yoi/pods/reviewer");
    std::fs::create_dir_all(&pod).unwrap();
    let root_json = serde_json::to_string(&std::fs::canonicalize(root).unwrap()).unwrap();
    std::fs::write(
        pod.join("metadata.json"),
        format!(r#"{{"worker_name":"reviewer","workspace_root":{root_json}}}"#),
    )
    .unwrap();
}

/// A workspace with one runtime per enabled adapter kind: `alpha` (embedded), `beta`
/// (http-client, served in-process) and `legacy` (local-pod-compat), built from its
/// workspace.toml into a registry.
pub(crate) struct Workspace {
    pub(crate) registry: RuntimeRegistry,
    /// The workspace's folder (holding workspace.toml, the pod store and the token file).
    pub(crate) dir: tempfile::TempDir,
    /// The runtime `beta` serves, and its process.
    pub(crate) beta: Runtime,
    pub(crate) served: ServedRuntime,
}

/// The fixture workspace, its runtimes with the default profile only.
pub(crate) async fn workspace() -> Workspace {
    workspace_with("", in_memory_runtime("beta")).await
}

/// The fixture workspace with `alpha_tables` (TOML, e.g. `[runtime.profiles.NAME]` tables)
/// closing `alpha`'s table, and `beta` as the runtime `beta` serves.
pub(crate) async fn workspace_with(alpha_tables: &str, beta: Runtime) -> Workspace {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(beta.clone(), "127.0.0.1:0".parse().unwrap()).await;
    pod_store(dir.path());
    std::fs::write(dir.path().join("runtime.token"), format!("{TOKEN}\n")).unwrap();
    let mut toml = String::new();
    if cfg!(feature = "embedded") {
        toml.push_str("[[runtime]]\nid = \"alpha\"\nadapter = \"embedded\"\n");
        toml.push_str(alpha_tables);
        toml.push('\n');
    }
    if cfg!(feature = "http-client") {
        toml.push_str(&format!(
            "[[runtime]]\nid = \"beta\"\nadapter = \"http-client\"\nbase_url = \"http://{}\"\n\
             token_file = \"runtime.token\"\ntimeout_ms = 2000\n\n",
            served.address
        ));
    }
    if cfg!(feature = "local-pod-compat") {
        toml.push_str(
            "[[runtime]]\nid = \"legacy\"\nadapter = \"local-pod-compat\"\nread_only = true\n",
        );
    }
    let (_, registry) = yoi_test_support::load_registry(dir.path(), &toml);
    Workspace {
        registry,
        dir,
        beta,
        served,
    }
}
