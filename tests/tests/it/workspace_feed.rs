//! The workspace feed through HTTP (`GET /api/events`): the picture of every visible runtime and
//! Worker, then each change, across adapter kinds; a remote runtime lost and back; one upstream
//! feed per runtime however many browsers watch; narrowing by runtime; nothing of a runtime's
//! address, token or folder in any frame.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use rstest::rstest;
use serde_json::{Value, json};
use worker_runtime::{EchoSettings, EngineSettings, Input, Runtime, RuntimeConfig};
use yoi_test_support::{Frame, Frames, until, within};

use crate::support::backend::{Backend, backend, backend_with, log_capture};
use crate::support::{Kind, rid, wid, workspace_with};

/// The profile whose runs last long enough to be cancelled: one character per delta, 100 ms
/// apart.
const SLOW: &str = "slow";

/// The runtime `beta` with the default and the [`SLOW`] profile, in memory or keeping its Workers in `dir`.
fn slow_runtime(dir: Option<&std::path::Path>) -> Runtime {
    let mut config = RuntimeConfig::new(rid("beta"));
    let slow = EchoSettings {
        chunk_chars: 1,
        delay_ms: 100,
    };
    let profiles = &mut config.profiles;
    profiles.insert(SLOW.into(), EngineSettings::Echo(slow));
    let default = EngineSettings::Echo(EchoSettings::default());
    profiles.insert(worker_runtime::DEFAULT_PROFILE.into(), default);
    match dir {
        Some(dir) => Runtime::open(config, dir).unwrap(),
        None => Runtime::new(config).unwrap(),
    }
}

/// The Backend over the fixture workspace, `alpha` and `beta` with the [`SLOW`] profile.
async fn slow_backend() -> Backend {
    let alpha =
        format!("[runtime.profiles.{SLOW}]\nengine = \"echo\"\nchunk_chars = 1\ndelay_ms = 100\n");
    backend_with(workspace_with(&alpha, slow_runtime(None)).await).await
}

fn data(frame: &Frame) -> Value {
    serde_json::from_str(&frame.data).unwrap_or_else(|_| panic!("not JSON: {frame:?}"))
}

/// A browser's feed, every frame it read kept.
struct Watcher {
    frames: Frames,
    read: Vec<Frame>,
}

impl Watcher {
    /// Opens the feed at `query` and reads its picture, through `synced`.
    async fn open(backend: &Backend, query: &str) -> (Self, Vec<Frame>) {
        let mut watcher = Self {
            frames: backend.feed(query).await,
            read: Vec::new(),
        };
        let picture = until(&mut watcher.frames, "synced").await;
        watcher.read.extend(picture.iter().cloned());
        (watcher, picture)
    }

    /// The next frame.
    async fn next(&mut self) -> Frame {
        let frame = within("the next feed frame", self.frames.next())
            .await
            .expect("the feed goes on");
        self.read.push(frame.clone());
        frame
    }

    /// Reads until `runtime/worker` is in `status`; answers that Worker's states on the way.
    async fn states_until(&mut self, runtime: &str, worker: &str, status: &str) -> Vec<Value> {
        let mut states = Vec::new();
        loop {
            let frame = self.next().await;
            let state = data(&frame);
            if frame.event != "worker_status"
                || state["runtime_id"] != runtime
                || state["worker_id"] != worker
            {
                continue;
            }
            let done = state["status"] == status;
            states.push(state);
            if done {
                return states;
            }
        }
    }

    /// Reads until a `runtime_status` of `runtime` says `status`.
    async fn runtime_until(&mut self, runtime: &str, status: &str) -> Value {
        loop {
            let frame = self.next().await;
            let notice = data(&frame);
            if frame.event == "runtime_status"
                && notice["runtime_id"] == runtime
                && notice["status"] == status
            {
                return notice;
            }
        }
    }
}

/// The `data:` of the picture's frames of `event`, by runtime id (and worker id, for Workers).
fn by_id(picture: &[Frame], event: &str) -> BTreeMap<String, Value> {
    picture
        .iter()
        .filter(|frame| frame.event == event)
        .map(|frame| {
            let data = data(frame);
            let key = match data["worker_id"].as_str() {
                Some(worker) => format!("{}/{worker}", data["runtime_id"].as_str().unwrap()),
                None => data["runtime_id"].as_str().unwrap().to_owned(),
            };
            (key, data)
        })
        .collect()
}

#[rstest]
#[cfg_attr(feature = "embedded", case::embedded(Kind::Embedded))]
#[cfg_attr(feature = "http-client", case::http_client(Kind::HttpClient))]
#[tokio::test]
async fn a_browser_sees_the_picture_then_every_state_change(#[case] kind: Kind) {
    let backend = slow_backend().await;
    let runtime = kind.runtime();
    let (mut watcher, picture) = Watcher::open(&backend, "").await;
    let runtimes = by_id(&picture, "runtime_status");
    let enabled = [Kind::Embedded, Kind::HttpClient, Kind::LocalPodCompat]
        .into_iter()
        .filter(|kind| runtimes.contains_key(kind.runtime()));
    for kind in enabled {
        let status = &runtimes[kind.runtime()];
        assert_eq!(
            (&status["kind"], &status["status"]),
            (&json!(kind.json_kind()), &json!("available")),
            "{status}"
        );
        let read_only = matches!(kind, Kind::LocalPodCompat);
        assert_eq!(status["read_only"], read_only, "{status}");
        assert!(status["last_seen_at"].is_string(), "{status}");
    }
    assert!(runtimes.contains_key(runtime), "{runtimes:?}");
    if cfg!(feature = "local-pod-compat") {
        let pods = by_id(&picture, "worker_status");
        let pod = &pods[&format!("legacy/{}", crate::support::POD_WORKER)];
        assert_eq!(pod["display_ref"], "reviewer@legacy", "{pod}");
        assert_eq!(pod["last_sequence"], Value::Null, "{pod}");
    }

    let workers = format!("/api/runtimes/{runtime}/workers");
    let create = json!({ "worker_id": "w1", "display_name": "pair", "profile": SLOW });
    assert_eq!(backend.post(&workers, create).await.0, 201);
    let mut states = watcher.states_until(runtime, "w1", "idle").await;
    assert_eq!(states[0]["display_ref"], format!("pair@{runtime}"));
    assert_eq!(states[0]["profile"], SLOW);
    let input = json!({ "kind": "user", "content": "a long enough answer" });
    let sent = backend.post(&format!("{workers}/w1/input"), input).await;
    assert_eq!(sent.0, 202, "{}", sent.1);
    states.extend(watcher.states_until(runtime, "w1", "running").await);
    let cancelled = backend
        .post(&format!("{workers}/w1/cancel"), Value::Null)
        .await;
    assert_eq!(cancelled.0, 200, "{}", cancelled.1);
    states.extend(watcher.states_until(runtime, "w1", "idle").await);
    let stopped = backend
        .post(&format!("{workers}/w1/stop"), Value::Null)
        .await;
    assert_eq!(stopped.0, 200, "{}", stopped.1);
    states.extend(watcher.states_until(runtime, "w1", "stopped").await);

    let sequences: Vec<u64> = states
        .iter()
        .map(|state| state["last_sequence"].as_u64().unwrap())
        .collect();
    assert!(
        sequences.windows(2).all(|pair| pair[0] <= pair[1]),
        "never back: {sequences:?}"
    );
    let (_, detail) = backend.get(&format!("{workers}/w1")).await;
    assert_eq!(sequences.last(), detail["last_sequence"].as_u64().as_ref());
    // The run was cancelled, not over before the cancel came.
    let mut events = backend.events(runtime, "w1", Some(0)).await;
    until(&mut events, "run_cancelled").await;
    assert!(
        states.iter().all(|state| state["runtime_id"] == runtime),
        "{states:?}"
    );
}

#[cfg(feature = "http-client")]
#[tokio::test]
async fn a_remote_runtime_restarted_on_its_folder_is_lost_then_back_with_what_changed() {
    let capture = log_capture();
    let data = tempfile::tempdir().unwrap();
    let mut backend = backend_with(workspace_with("", slow_runtime(Some(data.path()))).await).await;
    let (mut watcher, _) = Watcher::open(&backend, "").await;
    let workers = "/api/runtimes/beta/workers";
    let created = backend.post(workers, json!({ "worker_id": "w1" })).await;
    assert_eq!(created.0, 201, "{}", created.1);
    watcher.states_until("beta", "w1", "idle").await;

    // Killed: the process ends and its runtime is gone.
    let served = backend.served.take().unwrap();
    let address = served.address;
    served.stop().await;
    let stand_in = Runtime::new(RuntimeConfig::new(rid("stand-in"))).unwrap();
    drop(std::mem::replace(&mut backend.beta, stand_in));
    let lost = watcher.runtime_until("beta", "unavailable").await;
    assert_eq!(lost["code"], "runtime_unavailable", "{lost}");

    // Restarted on its folder, changed before the Backend reconnects.
    let restarted = slow_runtime(Some(data.path()));
    restarted.stop_worker(&wid("w1")).await.unwrap();
    let w2 = worker_runtime::CreateWorker {
        worker_id: Some(wid("w2")),
        ..worker_runtime::CreateWorker::default()
    };
    restarted.create_worker(w2).await.unwrap();
    let after_loss = watcher.read.len();
    let _served = crate::support::serve(restarted.clone(), address).await;
    // The new states come with the runtime's picture, and its status when that is complete.
    watcher.runtime_until("beta", "available").await;
    let since = by_id(&watcher.read[after_loss..], "worker_status");
    let detail = restarted.get_worker(&wid("w1")).unwrap();
    let w1 = &since["beta/w1"];
    assert_eq!(w1["status"], "stopped", "{w1}");
    assert_eq!(w1["last_sequence"], detail.last_sequence);
    assert_eq!(since["beta/w2"]["status"], "idle", "{since:?}");

    // Nothing of the runtime's address, token or folders in a frame, an answer or the log.
    let token = std::fs::read_to_string(backend.dir.path().join("runtime.token")).unwrap();
    let frames: Vec<&str> = watcher
        .read
        .iter()
        .map(|frame| frame.data.as_str())
        .collect();
    let frames = frames.join("\n");
    let answers = backend.answers.lock().unwrap().join("\n");
    let log = capture.text();
    for leak in [
        token.trim().to_owned(),
        format!(":{}", address.port()),
        backend.dir.path().to_string_lossy().into_owned(),
        data.path().to_string_lossy().into_owned(),
    ] {
        assert!(!frames.contains(&leak), "{leak} in a frame");
        assert!(!answers.contains(&leak), "{leak} in an answer");
        assert!(!log.contains(&leak), "{leak} in the log");
    }
}

/// How many Workers each of the two owning runtimes gets, and how many browsers watch.
const WORKERS_EACH: usize = 250;
const BROWSERS: usize = 200;

#[cfg(all(feature = "embedded", feature = "http-client"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_browsers_share_one_upstream_feed_per_runtime_and_see_every_change() {
    let backend = backend().await;
    for runtime in ["alpha", "beta"] {
        let handle = backend.handle(runtime);
        for index in 0..WORKERS_EACH {
            let create = worker_runtime::CreateWorker {
                worker_id: Some(wid(&format!("w{index:03}"))),
                ..worker_runtime::CreateWorker::default()
            };
            handle.create_worker(create).await.unwrap();
        }
    }
    let mut watchers = Vec::new();
    for _ in 0..BROWSERS {
        let (mut watcher, picture) = Watcher::open(&backend, "").await;
        let workers = picture.iter().filter(|frame| {
            frame.event == "worker_status" && !frame.data.contains(r#""runtime_id":"legacy""#)
        });
        assert_eq!(workers.count(), 2 * WORKERS_EACH);
        // The picture is checked; the readers below keep only what they read next.
        watcher.read.clear();
        watchers.push(watcher);
    }
    let served = backend.served.as_ref().unwrap();
    assert_eq!(served.feeds.load(Ordering::SeqCst), 1, "one upstream feed");

    // Ten Workers of each runtime run once; every browser sees each one's final state.
    let mut finals = BTreeMap::new();
    for runtime in ["alpha", "beta"] {
        let handle = backend.handle(runtime);
        for index in (0..WORKERS_EACH).step_by(WORKERS_EACH / 10) {
            let worker = wid(&format!("w{index:03}"));
            handle.send_input(&worker, Input::user("hi")).await.unwrap();
            finals.insert((runtime, worker.to_string()), 0);
        }
    }
    for ((runtime, worker), last) in finals.iter_mut() {
        *last = backend.idle_sequence(runtime, worker).await;
    }
    let finals = std::sync::Arc::new(finals);
    let readers = watchers.into_iter().map(|mut watcher| {
        let finals = std::sync::Arc::clone(&finals);
        tokio::spawn(async move {
            let mut pending: Vec<_> = finals.keys().cloned().collect();
            while !pending.is_empty() {
                let frame = watcher.next().await;
                watcher.read.clear();
                if !frame.data.contains(r#""status":"idle""#) {
                    continue;
                }
                let state = data(&frame);
                pending.retain(|(runtime, worker)| {
                    let key = (*runtime, worker.clone());
                    !(state["runtime_id"] == *runtime
                        && state["worker_id"] == *worker
                        && state["status"] == "idle"
                        && state["last_sequence"] == finals[&key])
                });
            }
        })
    });
    for reader in futures::future::join_all(readers).await {
        reader.unwrap();
    }
    assert_eq!(served.feeds.load(Ordering::SeqCst), 1, "still one");
    assert_eq!(served.event_streams.load(Ordering::SeqCst), 0);
}

#[cfg(all(feature = "embedded", feature = "http-client"))]
#[tokio::test]
async fn a_narrowed_feed_tells_only_its_runtimes() {
    let backend = backend().await;
    let (mut watcher, picture) = Watcher::open(&backend, "?runtime=beta&runtime=beta").await;
    let runtimes = by_id(&picture, "runtime_status");
    assert_eq!(runtimes.keys().collect::<Vec<_>>(), ["beta"]);
    for runtime in ["alpha", "beta"] {
        let path = format!("/api/runtimes/{runtime}/workers");
        assert_eq!(
            backend.post(&path, json!({ "worker_id": "w1" })).await.0,
            201
        );
    }
    let frame = watcher.next().await;
    assert_eq!(frame.event, "worker_status");
    assert_eq!(data(&frame)["runtime_id"], "beta", "{frame:?}");
}

#[cfg(feature = "embedded")]
#[tokio::test]
async fn a_hidden_runtime_never_appears_in_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "[[runtime]]\nid = \"open\"\nadapter = \"embedded\"\npersist = false\n\n\
                [[runtime]]\nid = \"secret\"\nadapter = \"embedded\"\npersist = false\n\
                visible = false\n";
    let (_, registry) = yoi_test_support::load_registry(dir.path(), toml);
    let secret = std::sync::Arc::clone(registry.get(&rid("secret")).unwrap());
    let options = crate::support::backend::options(dir.path());
    let backend = yoi_test_support::serve_backend(registry, options).await;
    let refused = backend.api.get("/api/events?runtime=secret").await;
    assert_eq!(
        (refused.0, &refused.1["error"]["code"]),
        (404, &json!("unknown_runtime"))
    );
    let mut feed = backend.api.feed("").await;
    let picture = until(&mut feed, "synced").await;
    let named: Vec<Value> = picture
        .iter()
        .filter(|frame| frame.event != "synced")
        .map(data)
        .collect();
    assert!(
        named.iter().all(|data| data["runtime_id"] == "open"),
        "{named:?}"
    );
    let create = worker_runtime::CreateWorker {
        worker_id: Some(wid("hush")),
        ..worker_runtime::CreateWorker::default()
    };
    secret.create_worker(create).await.unwrap();
    let open = "/api/runtimes/open/workers";
    assert_eq!(
        backend.api.post(open, json!({ "worker_id": "w1" })).await.0,
        201
    );
    let next = within("the next frame", feed.next()).await.unwrap();
    assert_eq!(data(&next)["runtime_id"], "open", "{next:?}");
}

#[cfg(feature = "http-client")]
#[tokio::test]
async fn the_upstream_feed_outlives_its_last_browser_by_the_grace_period_only() {
    let backend = backend().await;
    let feeds = || {
        backend
            .served
            .as_ref()
            .unwrap()
            .feeds
            .load(Ordering::SeqCst)
    };
    let query = "?runtime=beta";
    drop(Watcher::open(&backend, query).await);
    // A reload comes back within the grace period (200 ms here): the same upstream feed.
    drop(Watcher::open(&backend, query).await);
    assert_eq!(feeds(), 1);
    // Nobody for longer: the feed is closed, and the next browser opens a new one.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (_watcher, picture) = Watcher::open(&backend, query).await;
    assert_eq!(feeds(), 2);
    let status = &by_id(&picture, "runtime_status")["beta"];
    assert_eq!(status["status"], "available", "{status}");
}

#[cfg(feature = "local-pod-compat")]
#[tokio::test]
async fn a_pod_added_to_the_compatibility_store_appears_while_watched() {
    let backend = backend().await;
    let (mut watcher, _) = Watcher::open(&backend, "?runtime=legacy").await;
    let pod = backend.dir.path().join(".yoi/pods/writer");
    std::fs::create_dir_all(&pod).unwrap();
    let root = std::fs::canonicalize(backend.dir.path()).unwrap();
    let root = serde_json::to_string(&root).unwrap();
    let metadata = format!(r#"{{"worker_name":"writer","workspace_root":{root}}}"#);
    std::fs::write(pod.join("metadata.json"), metadata).unwrap();
    // The store is listed every 5 s while watched.
    loop {
        let frame = watcher.next().await;
        if frame.event == "worker_status" && data(&frame)["display_ref"] == "writer@legacy" {
            break;
        }
    }
}
