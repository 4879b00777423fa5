//! Faults through the Backend's HTTP API: a runtime that is gone, one that never answers, one that
//! answers nonsense or refuses the token, and a worker stopped under its watchers. Each time the
//! browser gets a typed answer in bounded time, nothing is lost or repeated, and everything else
//! goes on. (A runtime process killed and restarted on its data folder is in the `yoi` crate's
//! end-to-end tests; an unwritable audit file in the server's `audit` tests.)

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use rstest::rstest;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use worker_runtime::Runtime;

use yoi_test_support::{
    Frames, ServedBackend, eventually, load_registry, sequences, serve_backend, until, within,
};

use crate::support::backend::{backend, options};
use crate::support::{
    Kind, ServedRuntime, TOKEN, in_memory_runtime, named, serve_runtime, serve_with, wid,
};

/// A Backend over a workspace.toml of our own.
struct Workspace {
    backend: ServedBackend,
    _dir: tempfile::TempDir,
}

impl Workspace {
    /// Serves the Backend over `toml`, in a folder holding the shared token in `runtime.token`
    /// and a wrong one in `wrong.token`.
    async fn serve(toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("runtime.token"), TOKEN).unwrap();
        std::fs::write(dir.path().join("wrong.token"), "not-the-token").unwrap();
        let (_, registry) = load_registry(dir.path(), toml);
        let backend = serve_backend(registry, options(dir.path())).await;
        Self { backend, _dir: dir }
    }

    /// Sends a request; answers its status, its JSON body (`null` when there is none) and how
    /// long the answer took.
    async fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value, Duration) {
        let started = Instant::now();
        let answer = self.backend.api.call(method, path, body);
        let (status, body) = within(&format!("an answer to {method} {path}"), answer).await;
        (status, body, started.elapsed())
    }

    /// Opens a worker's event stream, resuming after `last`.
    async fn events(&self, runtime: &str, worker: &str, last: Option<u64>) -> Frames {
        self.backend.api.events(runtime, worker, last).await
    }
}

/// The `[[runtime]]` table of an http-client runtime at `address`.
fn remote_table(id: &str, address: SocketAddr, token_file: &str, timeout_ms: u64) -> String {
    format!(
        "[[runtime]]\nid = \"{id}\"\nadapter = \"http-client\"\nbase_url = \"http://{address}\"\n\
         token_file = \"{token_file}\"\ntimeout_ms = {timeout_ms}\n\n"
    )
}

const EMBEDDED: &str = "[[runtime]]\nid = \"alpha\"\nadapter = \"embedded\"\n\n";

/// The error code of an error body.
fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// The entry of `id` in a `GET /api/runtimes` answer.
fn runtime_entry<'a>(listing: &'a Value, id: &str) -> &'a Value {
    listing["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|runtime| runtime["runtime_id"] == id)
        .unwrap()
}

/// The `data` of a frame as JSON.
fn data(frame: &yoi_test_support::Frame) -> Value {
    serde_json::from_str(&frame.data).unwrap()
}

/// Waits until the stream ends; fails if anything but its end comes.
async fn ended(frames: &mut Frames) {
    let next = within("the end of the stream", frames.next()).await;
    assert!(next.is_none(), "a frame after the end: {next:?}");
}

/// A listener in place of a dead runtime: it accepts connections and closes each as soon as it
/// has read the request's head, counting requests by path.
struct Knocks {
    paths: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Knocks {
    async fn listen(address: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        let paths: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let counts = Arc::clone(&paths);
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut chunk = [0u8; 1024];
                while !head.windows(4).any(|window| window == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(read) => head.extend_from_slice(&chunk[..read]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                *counts.lock().unwrap().entry(path).or_default() += 1;
            }
        });
        Self { paths, task }
    }

    fn count(&self, path: &str) -> usize {
        self.paths.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

impl Drop for Knocks {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How many reconnect attempts one stream may make in `window` after its connection was lost:
/// the pauses start at 100 ms and double up to 10 s, each at least half its nominal length
/// (jitter), so attempts start no earlier than 50, 150, 350, 750, 1550, 3150 ms ... after the
/// loss. (A minute allows at most 17: 7 before the cap, then one per 5 s at least.)
fn attempts_allowed(window: Duration) -> usize {
    let mut at = Duration::ZERO;
    let mut pause = Duration::from_millis(100);
    let mut attempts = 0;
    loop {
        at += pause / 2;
        if at > window {
            return attempts;
        }
        attempts += 1;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

#[cfg(all(feature = "embedded", feature = "http-client"))]
#[tokio::test]
async fn a_dead_runtime_is_refused_fast_listed_at_once_and_retried_with_backoff() {
    // The runtime's timeout is long: an answer before it did not wait for the dead runtime, and
    // no loaded machine takes that long to refuse.
    const TIMEOUT: Duration = Duration::from_secs(10);
    // Enough attempts that retrying without backoff would exceed what backoff allows.
    const ATTEMPTS: usize = 5;
    let served = serve_runtime("beta").await;
    let address = served.address;
    let timeout_ms = TIMEOUT.as_millis().try_into().unwrap();
    let beta = remote_table("beta", address, "runtime.token", timeout_ms);
    let workspace = Workspace::serve(&format!("{EMBEDDED}{beta}")).await;
    let mut browsers = Vec::new();
    for (worker, watchers) in [("w1", 3), ("w2", 2)] {
        let body = json!({ "worker_id": worker });
        let (status, _, _) = workspace
            .call("POST", "/api/runtimes/beta/workers", body)
            .await;
        assert_eq!(status, 201);
        for _ in 0..watchers {
            browsers.push(workspace.events("beta", worker, Some(1)).await);
        }
    }

    // Taken before the loss: the time since the loss is never underestimated.
    let lost_at = Instant::now();
    served.stop().await;
    let knocks = Knocks::listen(address).await;
    for browser in &mut browsers {
        let lost = until(browser, "runtime_status").await;
        let notice = data(lost.last().unwrap());
        assert_eq!(
            (&notice["status"], &notice["code"]),
            (&json!("unavailable"), &json!("runtime_unavailable"))
        );
    }

    // Commands are refused without waiting for the runtime's timeout; the listing answers
    // without waiting for it either.
    let input = json!({ "kind": "user", "content": "lost" });
    let (status, refused, took) = workspace
        .call("POST", "/api/runtimes/beta/workers/w1/input", input)
        .await;
    assert_eq!((status, code(&refused)), (503, "runtime_unavailable"));
    assert!(took < TIMEOUT, "{took:?}");
    let (status, listing, listed_in) = workspace.call("GET", "/api/runtimes", Value::Null).await;
    assert_eq!(status, 200);
    assert!(listed_in < TIMEOUT, "{listed_in:?}");
    assert_eq!(runtime_entry(&listing, "beta")["status"], "unavailable");
    assert_eq!(runtime_entry(&listing, "alpha")["status"], "available");

    // The other runtime works as before.
    create_a1(&workspace).await;
    let input = json!({ "kind": "user", "content": "still here" });
    let (status, _, _) = workspace
        .call("POST", "/api/runtimes/alpha/workers/a1/input", input)
        .await;
    assert_eq!(status, 202);
    workspace.backend.api.wait_idle("alpha", "a1").await;

    // Reconnect attempts back off, one stream per worker however many browsers watch it: once
    // each stream has made ATTEMPTS, none has made more than backoff allows since the loss.
    let path = |worker: &str| format!("/v1/workers/{worker}/events");
    eventually("each stream's reconnect attempts", || {
        ["w1", "w2"]
            .iter()
            .all(|worker| knocks.count(&path(worker)) >= ATTEMPTS)
    })
    .await;
    let attempts = [knocks.count(&path("w1")), knocks.count(&path("w2"))];
    let since = lost_at.elapsed();
    let allowed = attempts_allowed(since) + 1;
    for (worker, attempts) in ["w1", "w2"].into_iter().zip(attempts) {
        assert!(
            attempts <= allowed,
            "{worker}: {attempts} reconnect attempts in {since:?}, at most {allowed} allowed"
        );
    }
}

/// Creates worker `a1` on the embedded runtime `alpha`.
async fn create_a1(workspace: &Workspace) {
    let body = json!({ "worker_id": "a1" });
    let (status, _, _) = workspace
        .call("POST", "/api/runtimes/alpha/workers", body)
        .await;
    assert_eq!(status, 201);
}

/// A listener that accepts connections and never answers.
async fn silent_listener() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (address, task)
}

#[cfg(all(feature = "embedded", feature = "http-client"))]
#[tokio::test]
async fn the_workspace_feed_waits_for_a_silent_runtime_no_longer_than_its_timeout() {
    // Wide margins, as below: the bound is the timeout and a second.
    const TIMEOUT: Duration = Duration::from_secs(1);
    let (address, _silent) = silent_listener().await;
    let timeout_ms = TIMEOUT.as_millis().try_into().unwrap();
    let toml = format!(
        "{EMBEDDED}{}",
        remote_table("hung", address, "runtime.token", timeout_ms)
    );
    let workspace = Workspace::serve(&toml).await;
    create_a1(&workspace).await;
    let started = Instant::now();
    let mut feed = workspace.backend.api.feed("").await;
    let picture = until(&mut feed, "synced").await;
    let took = started.elapsed();
    assert!(took <= 2 * TIMEOUT + Duration::from_secs(2), "{took:?}");
    let status = |runtime: &str| {
        picture
            .iter()
            .filter(|frame| frame.event == "runtime_status")
            .map(data)
            .find(|status| status["runtime_id"] == runtime)
            .unwrap()
    };
    let hung = status("hung");
    assert_eq!(
        (&hung["status"], &hung["code"]),
        (&json!("unavailable"), &json!("runtime_timeout")),
        "{hung}"
    );
    assert_eq!(status("alpha")["status"], "available");
    let a1 = picture
        .iter()
        .find(|frame| frame.data.contains(r#""worker_id":"a1""#));
    assert!(a1.is_some(), "{picture:?}");
}

#[cfg(all(feature = "embedded", feature = "http-client"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_that_never_answers_times_out_without_delaying_the_others() {
    // Wide margins: the silent runtime costs at most twice its timeout, the other answers
    // within it (it takes milliseconds), however loaded the machine.
    const TIMEOUT: Duration = Duration::from_secs(3);
    const SLACK: Duration = TIMEOUT;
    let (address, silent) = silent_listener().await;
    let timeout_ms = TIMEOUT.as_millis().try_into().unwrap();
    let hung = remote_table("hung", address, "runtime.token", timeout_ms);
    let toml = format!("{EMBEDDED}{hung}");
    let workspace = Workspace::serve(&toml).await;
    create_a1(&workspace).await;

    // The first listing waits for the silent runtime no longer than its timeout, while the
    // other runtime answers every request promptly.
    let others = async {
        let mut slowest = Duration::ZERO;
        for _ in 0..10 {
            let (status, _, took) = workspace
                .call("GET", "/api/runtimes/alpha/workers/a1", Value::Null)
                .await;
            assert_eq!(status, 200);
            slowest = slowest.max(took);
        }
        slowest
    };
    let ((status, listing, listed_in), slowest) =
        tokio::join!(workspace.call("GET", "/api/runtimes", Value::Null), others);
    assert_eq!(status, 200);
    assert!(listed_in <= TIMEOUT + SLACK, "{listed_in:?}");
    assert_eq!(runtime_entry(&listing, "hung")["status"], "unavailable");
    assert_eq!(runtime_entry(&listing, "alpha")["status"], "available");
    assert!(slowest < TIMEOUT, "alpha took {slowest:?} while hung hung");

    // Commands to it time out, concurrently with prompt answers from the other runtime.
    let hung = futures::future::join_all(
        [
            ("GET", "/api/runtimes/hung/workers/w1", Value::Null),
            (
                "POST",
                "/api/runtimes/hung/workers",
                json!({ "worker_id": "w1" }),
            ),
            ("GET", "/api/runtimes/hung/workers/w1/events", Value::Null),
        ]
        .map(|(method, path, body)| workspace.call(method, path, body)),
    );
    let other = workspace.call("GET", "/api/runtimes/alpha/workers", Value::Null);
    let (answers, (status, _, other_took)) = tokio::join!(hung, other);
    assert_eq!(status, 200);
    assert!(other_took < TIMEOUT, "{other_took:?}");
    for (status, body, took) in answers {
        assert!(
            matches!(
                (status, code(&body)),
                (504, "runtime_timeout") | (503, "runtime_unavailable")
            ),
            "{status} {body}"
        );
        assert!(took <= TIMEOUT + SLACK, "{took:?}");
    }
    let (_, all, took) = workspace.call("GET", "/api/workers", Value::Null).await;
    assert_eq!(all["partial"], true);
    assert_eq!(all["workers"][0]["worker_id"], "a1");
    assert!(took <= TIMEOUT + SLACK, "{took:?}");
    silent.abort();
}

/// How the misbehaving runtime answers a worker's requests, by the worker's id.
fn misbehaviour(path: &str) -> Option<Response> {
    let head = |content_type: &'static str, body: &'static str| {
        ([("content-type", content_type)], body).into_response()
    };
    if path.starts_with("/v1/workers/garbled") {
        return Some(head("application/json", r#"{"worker_id":"#));
    }
    if path.starts_with("/v1/workers/html") {
        return Some(head("text/html", "<html></html>"));
    }
    if path == "/v1/workers/badframe/events" {
        return Some(head(
            "text/event-stream",
            "id: 2\nevent: message\ndata: {\"seq\n\n",
        ));
    }
    None
}

/// A runtime that answers some workers with nonsense (see [`misbehaviour`]), cuts the first
/// event stream of worker `cut` in the middle of its second frame, and records the
/// `Last-Event-ID` of every event request.
struct Misbehaving {
    runtime: Runtime,
    served: ServedRuntime,
    resumed_from: Arc<Mutex<Vec<Option<String>>>>,
}

impl Misbehaving {
    async fn serve() -> Self {
        let runtime = in_memory_runtime("odd");
        let resumed_from: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let record = Arc::clone(&resumed_from);
        let misbehave = axum::middleware::from_fn(move |request: Request, next: Next| {
            let record = Arc::clone(&record);
            async move {
                let path = request.uri().path().to_owned();
                if let Some(answer) = misbehaviour(&path) {
                    return answer;
                }
                if path != "/v1/workers/cut/events" {
                    return next.run(request).await;
                }
                let resume = request
                    .headers()
                    .get("last-event-id")
                    .map(|value| value.to_str().unwrap().to_owned());
                let first = {
                    let mut record = record.lock().unwrap();
                    record.push(resume);
                    record.len() == 1
                };
                let response = next.run(request).await;
                if !first {
                    return response;
                }
                let (parts, body) = response.into_parts();
                Response::from_parts(parts, cut_in_second_frame(body))
            }
        });
        let address = "127.0.0.1:0".parse().unwrap();
        let served = serve_with(runtime.clone(), address, |app| app.layer(misbehave)).await;
        Self {
            runtime,
            served,
            resumed_from,
        }
    }
}

/// `body` up to a few bytes into its second SSE frame, then a clean end.
fn cut_in_second_frame(body: Body) -> Body {
    let chunks = body.into_data_stream();
    let cut = futures::stream::unfold(
        (chunks, Cutter::default()),
        |(mut chunks, mut cutter)| async move {
            if cutter.done {
                return None;
            }
            let chunk = chunks.next().await?.ok()?;
            let passed = cutter.pass(&chunk);
            Some((
                Ok::<_, std::convert::Infallible>(chunk.slice(..passed)),
                (chunks, cutter),
            ))
        },
    );
    Body::from_stream(cut)
}

/// How far into the second SSE frame the cut falls: inside its `id:` and `event:` lines.
const INTO_SECOND_FRAME: usize = 8;

/// Finds where to cut an event stream: a few bytes into its second frame, however the frames
/// are spread over chunks.
#[derive(Default)]
struct Cutter {
    previous: u8,
    /// Bytes of the second frame still to pass, once the first is complete.
    left: Option<usize>,
    done: bool,
}

impl Cutter {
    /// How much of `chunk` to pass on.
    fn pass(&mut self, chunk: &Bytes) -> usize {
        for (index, &byte) in chunk.iter().enumerate() {
            match &mut self.left {
                Some(0) => {
                    self.done = true;
                    return index;
                }
                Some(left) => *left -= 1,
                None if byte == b'\n' && self.previous == b'\n' => {
                    self.left = Some(INTO_SECOND_FRAME);
                }
                None => self.previous = byte,
            }
        }
        chunk.len()
    }
}

#[cfg(all(feature = "embedded", feature = "http-client"))]
#[tokio::test]
async fn nonsense_and_refused_tokens_are_typed_errors_and_the_backend_goes_on() {
    let odd = Misbehaving::serve().await;
    for worker in ["badframe", "cut"] {
        odd.runtime
            .create_worker(named(&wid(worker)))
            .await
            .unwrap();
    }
    let toml = format!(
        "{EMBEDDED}{}{}",
        remote_table("odd", odd.served.address, "runtime.token", 2000),
        remote_table("locked", odd.served.address, "wrong.token", 2000),
    );
    let workspace = Workspace::serve(&toml).await;

    let (protocol, auth) = ("runtime_protocol_error", "runtime_auth_failed");
    for (method, path, expected) in [
        ("GET", "odd/workers/garbled", protocol),
        ("POST", "odd/workers/garbled/stop", protocol),
        ("GET", "odd/workers/html", protocol),
        ("GET", "odd/workers/html/transcript", protocol),
        ("GET", "locked/workers", auth),
        ("POST", "locked/workers/cut/cancel", auth),
    ] {
        let path = format!("/api/runtimes/{path}");
        let (status, body, _) = workspace.call(method, &path, Value::Null).await;
        assert_eq!((status, code(&body)), (502, expected), "{method} {path}");
        let (message, port) = (&body["error"]["message"], odd.served.address.port());
        assert!(
            !message.as_str().unwrap().contains(&port.to_string()),
            "{message}"
        );
    }

    // A frame whose JSON is cut short ends the stream with a typed error, never as an event.
    let mut badframe = workspace.events("odd", "badframe", Some(1)).await;
    let seen = until(&mut badframe, "error").await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(data(&seen[0])["error"]["code"], "runtime_protocol_error");
    ended(&mut badframe).await;

    // A connection cut in the middle of a frame: the half frame is never delivered; the stream
    // resumes after the last whole one, and every event arrives once.
    let mut cut = workspace.events("odd", "cut", Some(1)).await;
    let (status, _, _) = workspace
        .call(
            "POST",
            "/api/runtimes/odd/workers/cut/input",
            json!({ "kind": "user", "content": "through a cut" }),
        )
        .await;
    assert_eq!(status, 202);
    let seen = until(&mut cut, "run_completed").await;
    let last = odd.runtime.get_worker(&wid("cut")).unwrap().last_sequence;
    assert_eq!(sequences(&seen), (2..=last).collect::<Vec<_>>());
    assert!(seen.iter().all(|frame| frame.event != "runtime_status"));
    assert_eq!(
        *odd.resumed_from.lock().unwrap(),
        [Some("1".to_owned()), Some("2".to_owned())]
    );

    // Through all of it the Backend serves, and the runtimes it can reach answer.
    let (status, _, _) = workspace.call("GET", "/healthz", Value::Null).await;
    assert_eq!(status, 200);
    let (status, listing, _) = workspace.call("GET", "/api/runtimes", Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(runtime_entry(&listing, "odd")["status"], "available");
    create_a1(&workspace).await;
}

#[rstest]
#[cfg_attr(feature = "embedded", case::embedded(Kind::Embedded))]
#[cfg_attr(feature = "http-client", case::http_client(Kind::HttpClient))]
#[tokio::test]
async fn browsers_watching_a_worker_that_stops_see_their_streams_end(#[case] kind: Kind) {
    let backend = backend().await;
    let runtime = kind.runtime();
    let workers = format!("/api/runtimes/{runtime}/workers");
    backend.post(&workers, json!({ "worker_id": "w1" })).await;
    backend
        .post(
            &format!("{workers}/w1/input"),
            json!({ "kind": "user", "content": "before the end" }),
        )
        .await;
    let last = backend.idle_sequence(runtime, "w1").await;
    // Two browsers share the live stream, two replay history first.
    let positions = [Some(last), Some(last), None, Some(1)];
    let mut browsers = Vec::new();
    for position in positions {
        browsers.push(backend.events(runtime, "w1", position).await);
    }
    let (status, stopped) = backend
        .post(&format!("{workers}/w1/stop"), json!(null))
        .await;
    assert_eq!(status, 200, "{stopped}");
    let stopped = stopped["last_sequence"].as_u64().unwrap();
    for (browser, position) in browsers.iter_mut().zip(positions) {
        let seen = until(browser, "worker_stopped").await;
        let first = position.unwrap_or(0) + 1;
        assert_eq!(sequences(&seen), (first..=stopped).collect::<Vec<_>>());
        ended(browser).await;
    }

    // Coming back: with everything, 204 (an EventSource stops reconnecting); with less, the rest
    // and the end.
    let url = format!("{}{workers}/w1/events", backend.base);
    let complete = backend
        .client
        .get(&url)
        .header("last-event-id", stopped.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(complete.status(), 204);
    assert!(complete.bytes().await.unwrap().is_empty());
    for position in [Some(stopped - 1), None] {
        let mut browser = backend.events(runtime, "w1", position).await;
        let seen = until(&mut browser, "worker_stopped").await;
        let first = position.unwrap_or(0) + 1;
        assert_eq!(sequences(&seen), (first..=stopped).collect::<Vec<_>>());
        ended(&mut browser).await;
    }
}
