//! The Backend over the fixture workspace, served on 127.0.0.1, as a browser sees it; and the
//! log of the test binary, captured in memory.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use worker_runtime::Runtime;
use yoi_registry_core::RuntimeRegistry;
use yoi_workspace_server::{AppState, ServerOptions, app};

use super::{DEADLINE, ServedRuntime, workspace};

/// The Backend over the fixture workspace, served on 127.0.0.1, with everything it answered.
pub(crate) struct Backend {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    /// Every answer's status line, headers and body, for the leak check.
    pub(crate) answers: Mutex<Vec<String>>,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) beta: Runtime,
    pub(crate) served: Option<ServedRuntime>,
    pub(crate) shutdown: CancellationToken,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves the Backend over a fresh fixture workspace.
pub(crate) async fn backend() -> Backend {
    let workspace = workspace().await;
    let (base, shutdown) = serve_backend(workspace.registry, workspace.dir.path()).await;
    Backend {
        base,
        client: reqwest::Client::new(),
        answers: Mutex::new(Vec::new()),
        dir: workspace.dir,
        beta: workspace.beta,
        served: Some(workspace.served),
        shutdown,
    }
}

/// Serves the Backend over `registry` on 127.0.0.1, auditing to `<dir>/.yoi/audit.jsonl`;
/// answers its URL and the token that shuts it down.
pub(crate) async fn serve_backend(
    registry: RuntimeRegistry,
    dir: &Path,
) -> (String, CancellationToken) {
    let mut options = ServerOptions::new(dir.join(".yoi/audit.jsonl"));
    options.stream_grace = Duration::from_millis(200);
    let shutdown = options.shutdown.clone();
    let state = AppState::new(registry, options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, app(state))
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .unwrap();
    });
    (format!("http://{address}"), shutdown)
}

impl Backend {
    pub(crate) async fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.client.get(url),
            _ if body.is_null() => self.client.post(url),
            _ => self.client.post(url).json(&body),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let mut record = format!("{method} {path} -> {status}\n{:?}\n", response.headers());
        let text = response.text().await.unwrap();
        record.push_str(&text);
        self.answers.lock().unwrap().push(record);
        (status, serde_json::from_str(&text).unwrap())
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, Value::Null).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, body).await
    }

    /// Opens an event stream; its headers are recorded for the leak check.
    pub(crate) async fn events(&self, runtime: &str, worker: &str, last: Option<u64>) -> Frames {
        let (headers, frames) = open_events(&self.client, &self.base, runtime, worker, last).await;
        self.answers.lock().unwrap().push(format!("{headers:?}"));
        frames
    }

    pub(crate) async fn wait_idle(&self, runtime: &str, worker: &str) -> u64 {
        let path = format!("/api/runtimes/{runtime}/workers/{worker}");
        let started = std::time::Instant::now();
        loop {
            let (_, detail) = self.get(&path).await;
            if detail["status"] == "idle" {
                return detail["last_sequence"].as_u64().unwrap();
            }
            assert!(started.elapsed() < DEADLINE, "{detail}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Opens `worker`'s event stream at the Backend `base`, resuming after `last`; answers the
/// response's headers (the status must be 200) and its frames.
pub(crate) async fn open_events(
    client: &reqwest::Client,
    base: &str,
    runtime: &str,
    worker: &str,
    last: Option<u64>,
) -> (reqwest::header::HeaderMap, Frames) {
    let url = format!("{base}/api/runtimes/{runtime}/workers/{worker}/events");
    let mut request = client.get(url);
    if let Some(last) = last {
        request = request.header("last-event-id", last.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let frames = response
        .bytes_stream()
        .eventsource()
        .map(|frame| frame.unwrap())
        .boxed();
    (headers, frames)
}

/// A browser's event stream, frame by frame.
pub(crate) type Frames = BoxStream<'static, eventsource_stream::Event>;

/// Frames up to and including the first of `kind`.
pub(crate) async fn until(frames: &mut Frames, kind: &str) -> Vec<eventsource_stream::Event> {
    let mut seen = Vec::new();
    loop {
        let frame = tokio::time::timeout(DEADLINE, frames.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} after {seen:?}"))
            .unwrap_or_else(|| panic!("the stream ended before {kind}: {seen:?}"));
        let done = frame.event == kind;
        seen.push(frame);
        if done {
            return seen;
        }
    }
}

/// The sequences (`id:` fields) of `frames`.
pub(crate) fn sequences(frames: &[eventsource_stream::Event]) -> Vec<u64> {
    frames
        .iter()
        .filter(|frame| !frame.id.is_empty())
        .map(|frame| frame.id.parse().unwrap())
        .collect()
}

/// The log of every test of this binary, at the level the Backend logs by default (`info`),
/// written to memory. (Debug logs of the HTTP client library name the addresses it connects to.)
pub(crate) fn log_capture() -> LogCapture {
    static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = LogCapture::default();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(capture.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other test sets a global subscriber");
            capture
        })
        .clone()
}

/// A log written to memory.
#[derive(Clone, Default)]
pub(crate) struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}
