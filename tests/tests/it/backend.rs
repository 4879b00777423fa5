use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use futures::stream::BoxStream;
use rstest::rstest;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use worker_runtime::Runtime;
use yoi_workspace_server::{AppState, ServerOptions, app};

use crate::support::{DEADLINE, Kind, POD_WORKER, ServedRuntime, workspace};

/// The Backend over the fixture workspace, served on 127.0.0.1, with everything it answered.
struct Backend {
    base: String,
    client: reqwest::Client,
    /// Every answer's status line, headers and body, for the leak check.
    answers: Mutex<Vec<String>>,
    dir: tempfile::TempDir,
    beta: Runtime,
    served: Option<ServedRuntime>,
    shutdown: CancellationToken,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn backend() -> Backend {
    let workspace = workspace().await;
    let config_dir = workspace.dir.path().to_owned();
    let mut options = ServerOptions::new(config_dir.join(".yoi/audit.jsonl"));
    options.stream_grace = Duration::from_millis(200);
    let shutdown = options.shutdown.clone();
    let state = AppState::new(workspace.registry, options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, app(state))
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .unwrap();
    });
    Backend {
        base: format!("http://{address}"),
        client: reqwest::Client::new(),
        answers: Mutex::new(Vec::new()),
        dir: workspace.dir,
        beta: workspace.beta,
        served: Some(workspace.served),
        shutdown,
    }
}

impl Backend {
    async fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
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

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, Value::Null).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, body).await
    }

    /// Opens an event stream; its frames are recorded for the leak check as they come.
    async fn events(&self, runtime: &str, worker: &str, last: Option<u64>) -> Frames {
        let url = format!(
            "{}/api/runtimes/{runtime}/workers/{worker}/events",
            self.base
        );
        let mut request = self.client.get(url);
        if let Some(last) = last {
            request = request.header("last-event-id", last.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        self.answers
            .lock()
            .unwrap()
            .push(format!("{:?}", response.headers()));
        response
            .bytes_stream()
            .eventsource()
            .map(|frame| frame.unwrap())
            .boxed()
    }

    async fn wait_idle(&self, runtime: &str, worker: &str) -> u64 {
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

type Frames = BoxStream<'static, eventsource_stream::Event>;

/// Frames up to and including the first of `kind`.
async fn until(frames: &mut Frames, kind: &str) -> Vec<eventsource_stream::Event> {
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

fn sequences(frames: &[eventsource_stream::Event]) -> Vec<u64> {
    frames
        .iter()
        .filter(|frame| !frame.id.is_empty())
        .map(|frame| frame.id.parse().unwrap())
        .collect()
}

#[rstest]
#[cfg_attr(feature = "embedded", case::embedded(Kind::Embedded))]
#[cfg_attr(feature = "http-client", case::http_client(Kind::HttpClient))]
#[tokio::test]
async fn every_route_reaches_a_runtime_that_owns_workers(#[case] kind: Kind) {
    let backend = backend().await;
    let runtime = kind.runtime();
    let (status, body) = backend.get(&format!("/api/runtimes/{runtime}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&body["kind"], &body["status"]),
        (&json!(kind.json_kind()), &json!("available"))
    );

    let workers = format!("/api/runtimes/{runtime}/workers");
    let (status, created) = backend
        .post(
            &workers,
            json!({ "worker_id": "w1", "display_name": "pair" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["display_ref"], format!("pair@{runtime}"));
    assert_eq!(created["kind"], kind.json_kind());
    let mut stream = backend.events(runtime, "w1", None).await;

    let (status, ack) = backend
        .post(
            &format!("{workers}/w1/input"),
            json!({ "kind": "user", "content": format!("hello {runtime}") }),
        )
        .await;
    assert_eq!(status, 202, "{ack}");
    assert_eq!(
        (&ack["runtime_id"], &ack["worker_id"]),
        (&json!(runtime), &json!("w1"))
    );
    let last = backend.wait_idle(runtime, "w1").await;
    let seen = until(&mut stream, "run_completed").await;
    assert_eq!(sequences(&seen), (1..=last).collect::<Vec<_>>());
    let data: Value = serde_json::from_str(&seen.last().unwrap().data).unwrap();
    assert_eq!(
        (&data["runtime_id"], &data["worker_id"]),
        (&json!(runtime), &json!("w1"))
    );

    let (_, listed) = backend.get(&workers).await;
    assert_eq!(listed["workers"][0]["worker_id"], "w1");
    let (_, transcript) = backend.get(&format!("{workers}/w1/transcript")).await;
    assert_eq!(
        transcript["entries"][1]["content"],
        format!("hello {runtime}")
    );
    let (status, _) = backend
        .post(&format!("{workers}/w1/cancel"), Value::Null)
        .await;
    assert_eq!(status, 200);
    let (status, stopped) = backend
        .post(&format!("{workers}/w1/stop"), Value::Null)
        .await;
    assert_eq!((status, &stopped["status"]), (200, &json!("stopped")));
    until(&mut stream, "worker_stopped").await;
    let unknown = backend.get(&format!("{workers}/ghost")).await;
    assert_eq!(
        (unknown.0, &unknown.1["error"]["code"]),
        (404, &json!("unknown_worker"))
    );
}

#[rstest]
#[cfg_attr(
    feature = "local-pod-compat",
    case::local_pod_compat(Kind::LocalPodCompat)
)]
#[tokio::test]
async fn the_compatibility_runtime_is_a_read_only_view(#[case] kind: Kind) {
    let backend = backend().await;
    let runtime = kind.runtime();
    let (_, body) = backend.get(&format!("/api/runtimes/{runtime}")).await;
    assert_eq!(body["kind"], kind.json_kind());
    assert_eq!(body["compatibility_adapter"], true);
    assert_eq!(body["read_only"], true);
    assert_eq!(body["authority"], "registry");
    let workers = format!("/api/runtimes/{runtime}/workers");
    let (_, listed) = backend.get(&workers).await;
    assert_eq!(listed["workers"][0]["worker_id"], POD_WORKER);
    assert_eq!(listed["workers"][0]["status"], "metadata_only");
    let (status, _) = backend.get(&format!("{workers}/{POD_WORKER}")).await;
    assert_eq!(status, 200);
    for (path, body) in [
        (workers.clone(), json!({})),
        (
            format!("{workers}/{POD_WORKER}/input"),
            json!({ "kind": "user", "content": "hi" }),
        ),
        (format!("{workers}/{POD_WORKER}/stop"), Value::Null),
    ] {
        let (status, refused) = backend.post(&path, body).await;
        assert_eq!(
            (status, &refused["error"]["code"]),
            (403, &json!("forbidden_by_policy"))
        );
    }
    for path in [
        format!("{workers}/{POD_WORKER}/transcript"),
        format!("{workers}/{POD_WORKER}/events"),
    ] {
        let (status, refused) = backend.get(&path).await;
        assert_eq!(
            (status, &refused["error"]["code"]),
            (501, &json!("unsupported_operation"))
        );
    }
    let (_, all) = backend.get("/api/workers").await;
    assert!(
        all["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|worker| worker["worker_id"] == POD_WORKER)
    );
    let (_, hosts) = backend.get("/api/hosts").await;
    let host = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|host| host["host_id"] == runtime)
        .cloned()
        .unwrap();
    assert_eq!(host["compatibility_adapter"], true);
}

#[cfg(feature = "http-client")]
#[tokio::test]
async fn browsers_watching_a_remote_worker_share_one_connection_to_its_runtime() {
    let backend = backend().await;
    let streams = Arc::clone(&backend.served.as_ref().unwrap().event_streams);
    backend
        .post("/api/runtimes/beta/workers", json!({ "worker_id": "w1" }))
        .await;
    let mut browsers = Vec::new();
    // Browsers resume from the worker's last_sequence, as its detail gives it.
    for _ in 0..5 {
        browsers.push(backend.events("beta", "w1", Some(1)).await);
    }
    backend
        .post(
            "/api/runtimes/beta/workers/w1/input",
            json!({ "kind": "user", "content": "fan out" }),
        )
        .await;
    let last = backend.wait_idle("beta", "w1").await;
    for browser in &mut browsers {
        let seen = until(browser, "run_completed").await;
        assert_eq!(sequences(&seen), (2..=last).collect::<Vec<_>>());
    }
    assert_eq!(streams.load(Ordering::SeqCst), 1);
}

#[cfg(feature = "http-client")]
#[tokio::test]
async fn a_lost_remote_runtime_is_told_to_its_browsers_and_nothing_leaks() {
    let capture = log_capture();
    let mut backend = backend().await;
    let served = backend.served.take().unwrap();
    let address = served.address;
    backend
        .post("/api/runtimes/beta/workers", json!({ "worker_id": "w1" }))
        .await;
    let mut browser = backend.events("beta", "w1", None).await;
    until(&mut browser, "worker_created").await;

    served.stop().await;
    let lost = until(&mut browser, "runtime_status").await;
    let notice: Value = serde_json::from_str(&lost.last().unwrap().data).unwrap();
    assert_eq!(
        (&notice["status"], &notice["code"]),
        (&json!("unavailable"), &json!("runtime_unavailable"))
    );
    let refused = backend
        .post(
            "/api/runtimes/beta/workers/w1/input",
            json!({ "kind": "user", "content": "x" }),
        )
        .await;
    assert_eq!(
        (refused.0, &refused.1["error"]["code"]),
        (503, &json!("runtime_unavailable"))
    );
    let (status, runtimes) = backend.get("/api/runtimes").await;
    assert_eq!(status, 200);
    let beta = runtimes["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["runtime_id"] == "beta")
        .cloned()
        .unwrap();
    assert_eq!(beta["status"], "unavailable");
    let (_, all) = backend.get("/api/workers").await;
    assert_eq!(all["partial"], true);
    let (_, hosts) = backend.get("/api/hosts").await;
    assert!(hosts.to_string().contains("unavailable"));

    // Back on the same address: the stream says so and continues without a gap.
    let ack = backend
        .beta
        .send_input(
            &crate::support::wid("w1"),
            worker_runtime::Input::user("meanwhile"),
        )
        .unwrap();
    let restarted = crate::support::serve(backend.beta.clone(), address).await;
    let back = until(&mut browser, "runtime_status").await;
    let notice: Value = serde_json::from_str(&back.last().unwrap().data).unwrap();
    assert_eq!(notice["status"], "available");
    let seen = until(&mut browser, "run_completed").await;
    assert_eq!(sequences(&seen)[0], ack.sequence);
    drop(browser);
    drop(restarted);

    let token = std::fs::read_to_string(backend.dir.path().join("runtime.token")).unwrap();
    let log = capture.text();
    assert!(log.contains("request"), "the log was captured: {log}");
    let answers = backend.answers.lock().unwrap().join("\n");
    let folder = backend.dir.path().to_string_lossy().into_owned();
    for leak in [
        token.trim().to_owned(),
        format!("127.0.0.1:{}", address.port()),
        format!(":{}", address.port()),
        folder,
    ] {
        assert!(!answers.contains(&leak), "{leak} in an answer");
        assert!(!log.contains(&leak), "{leak} in the log");
    }
}

/// The log of every test of this binary, at the level the Backend logs by default (`info`),
/// written to memory. (Debug logs of the HTTP client library name the addresses it connects to.)
fn log_capture() -> LogCapture {
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
struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    fn text(&self) -> String {
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
