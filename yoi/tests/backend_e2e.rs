//! The Workspace Backend end to end: the real `yoi` binary started as a runtime process and as
//! `yoi serve`, driven only through the client commands (`yoi runtimes`, `create`, `send`,
//! `watch`, ...) over loopback, the way a person at a terminal would.

mod common;

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::Mutex;
use std::time::Duration;

use common::{
    Backend, RUNTIME_TOKEN, TOKEN_VAR, runtime_command, serve_runtime, start_runtime, yoi,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use yoi_test_support::{
    DEADLINE, Frame, Frames, Process, Reply, ScriptedProvider, Stream, frames_of, wait_for,
};

/// What a finished client command printed.
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// The client commands against one Backend; remembers everything they printed.
struct Cli {
    backend: String,
    printed: Mutex<String>,
}

impl Cli {
    fn new(backend: &Backend) -> Self {
        Self {
            backend: backend.url.clone(),
            printed: Mutex::default(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = yoi();
        command.args(args).env("YOI_BACKEND", &self.backend);
        command
    }

    /// Starts a long-running client command (`watch`).
    fn spawn(&self, args: &[&str]) -> Process {
        Process::spawn(&format!("yoi {}", args.join(" ")), &mut self.command(args))
    }

    /// Remembers what `process` printed.
    fn record(&self, process: &Process) {
        let mut printed = self.printed.lock().unwrap();
        printed.push_str(&process.stdout_text());
        printed.push_str(&process.stderr_text());
    }

    /// Runs a client command to its end (within the deadline).
    fn run(&self, args: &[&str]) -> Output {
        let mut process = self.spawn(args);
        let status = process.wait_exit();
        self.record(&process);
        Output {
            status,
            stdout: process.stdout_text(),
            stderr: process.stderr_text(),
        }
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "yoi {args:?}: {}\n{}{}",
            output.status,
            output.stdout,
            output.stderr
        );
        output.stdout
    }

    /// Runs a command that must fail; returns its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            !output.status.success(),
            "yoi {args:?} succeeded: {}",
            output.stdout
        );
        assert_eq!(output.stdout, "", "yoi {args:?}");
        output.stderr
    }

    /// Polls `yoi transcript` until it shows `line`; returns the transcript.
    fn wait_for_transcript_line(&self, runtime: &str, worker: &str, line: &str) -> String {
        let shows = |transcript: &String| transcript.lines().any(|shown| shown == line);
        let transcript = || self.ok(&["transcript", runtime, worker]);
        let missing = || format!("no {line:?} in {worker} on {runtime}: {}", transcript());
        wait_for(|| Some(transcript()).filter(shows), missing)
    }

    fn printed(&self) -> String {
        self.printed.lock().unwrap().clone()
    }
}

/// The `[[runtime]]` table of the http-client runtime `gpu-box` at `address`.
fn gpu_box(address: &str, timeout_ms: u64) -> String {
    format!(
        "[[runtime]]\nid = \"gpu-box\"\nadapter = \"http-client\"\n\
         base_url = \"http://{address}\"\ntoken_env = \"{TOKEN_VAR}\"\ntimeout_ms = {timeout_ms}\n"
    )
}

/// The cells of a table's rows (the header row left out).
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// The row of `table` whose first cell is `first`.
fn row(table: &str, first: &str) -> Vec<String> {
    rows(table)
        .into_iter()
        .find(|row| row.first().is_some_and(|cell| cell == first))
        .unwrap_or_else(|| panic!("no row {first:?} in\n{table}"))
}

/// Whether `text` names socket address `address` (and not merely a longer port that starts
/// with the same digits).
fn names_address(text: &str, address: &str) -> bool {
    text.match_indices(address).any(|(at, _)| {
        !text[at + address.len()..]
            .chars()
            .next()
            .is_some_and(|next| next.is_ascii_digit())
    })
}

/// Asserts that neither the client commands nor the Backend's log name the remote runtime's
/// token or its address; answers what the commands printed.
fn assert_no_leak(cli: &Cli, backend: &Backend, runtime_address: &str) -> String {
    let printed = cli.printed();
    let log = backend.process.describe();
    for (what, text) in [("the client commands", &printed), ("the backend", &log)] {
        assert!(
            !text.contains(RUNTIME_TOKEN),
            "{what} printed the token: {text}"
        );
        assert!(
            !names_address(text, runtime_address),
            "{what} named the runtime's address {runtime_address}: {text}"
        );
    }
    printed
}

/// The `(runtime_id, operation, outcome)` of every line of the audit log.
fn audit_lines(file: &Path) -> Vec<[String; 3]> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines: Vec<[String; 3]> = text
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            let field = |name: &str| record[name].as_str().unwrap_or("-").to_owned();
            ["runtime_id", "operation", "outcome"].map(field)
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn the_cli_drives_embedded_remote_and_compatibility_runtimes_through_one_backend() {
    let runtime_data = tempfile::tempdir().unwrap();
    let (mut runtime, runtime_address) = start_runtime("gpu-box", runtime_data.path());

    let workspace = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(workspace.path()).unwrap();
    let pod = root.join(".yoi").join("pods").join("reviewer");
    std::fs::create_dir_all(&pod).unwrap();
    std::fs::write(
        pod.join("metadata.json"),
        json!({"worker_name": "reviewer", "workspace_root": root}).to_string(),
    )
    .unwrap();
    let config = root.join("workspace.toml");
    std::fs::write(
        &config,
        format!(
            "[workspace]\nid = \"e2e\"\n\n[[runtime]]\nid = \"local\"\nadapter = \"embedded\"\n\n{}\n\
             [[runtime]]\nid = \"legacy\"\nadapter = \"local-pod-compat\"\n",
            gpu_box(&runtime_address, 5000)
        ),
    )
    .unwrap();
    // Started elsewhere, so that every path of the file must be relative to the file's folder.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut backend = Backend::start(
        elsewhere.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--bind",
            "127.0.0.1:0",
        ],
    );
    let cli = Cli::new(&backend);

    let runtimes = cli.ok(&["runtimes"]);
    assert_eq!(rows(&runtimes).len(), 3, "{runtimes}");
    for (id, kind) in [
        ("local", "embedded"),
        ("gpu-box", "remote_http"),
        ("legacy", "local_compatibility"),
    ] {
        let row = row(&runtimes, id);
        assert_eq!(
            (row[1].as_str(), row[2].as_str()),
            (kind, "available"),
            "{runtimes}"
        );
    }

    for runtime_id in ["local", "gpu-box"] {
        let created = cli.ok(&["create", runtime_id, "--id", "w1"]);
        assert!(
            created.starts_with("created w1 (")
                && created.ends_with(&format!(") on {runtime_id}\n")),
            "{created}"
        );
        let mut watch = cli.spawn(&["watch", runtime_id, "w1"]);
        // The stream is open before anything is sent, so the output below arrives live.
        backend.process.wait_for_log(&format!(
            "path=\"/api/runtimes/{runtime_id}/workers/w1/events\" status=200"
        ));

        let text = format!("hello from {runtime_id}");
        let accepted = cli.ok(&["send", runtime_id, "w1", &text]);
        assert!(accepted.starts_with("accepted as event "), "{accepted}");
        let transcript =
            cli.wait_for_transcript_line(runtime_id, "w1", &format!("[assistant] {text}"));
        assert_eq!(transcript, format!("[user] {text}\n[assistant] {text}\n"));
        watch.wait_for_line(Stream::Stdout, &text);

        let stopped = cli.ok(&["stop", runtime_id, "w1"]);
        assert_eq!(stopped, format!("w1 on {runtime_id}: stopped\n"));
        let status = watch.wait_exit();
        cli.record(&watch);
        assert!(status.success(), "{status}: {}", watch.describe());
        assert_eq!(
            watch.stdout_text().matches(&text).count(),
            1,
            "{}",
            watch.describe()
        );
        let notes = watch.stderr_text();
        assert!(notes.contains("yoi: run_completed"), "{notes}");
        assert!(notes.contains("yoi: worker_stopped"), "{notes}");
    }

    let workers = cli.ok(&["workers"]);
    for runtime_id in ["local", "gpu-box"] {
        assert!(
            rows(&workers)
                .iter()
                .any(|row| row[..3] == [runtime_id, "w1", "stopped"]),
            "{workers}"
        );
    }
    assert!(
        rows(&workers)
            .iter()
            .any(|row| row[0] == "legacy" && row[1].starts_with("reviewer-")),
        "{workers}"
    );
    assert_eq!(rows(&workers).len(), 3, "{workers}");
    let legacy_workers = cli.ok(&["workers", "legacy"]);
    assert_eq!(rows(&legacy_workers).len(), 1, "{legacy_workers}");

    let refused = cli.fails(&["create", "legacy"]);
    assert!(
        refused.starts_with("yoi: forbidden_by_policy: "),
        "{refused}"
    );
    let unknown = cli.fails(&["workers", "nope"]);
    assert_eq!(
        unknown,
        "yoi: unknown_runtime: runtime nope does not exist\n"
    );

    let listed: Value = serde_json::from_str(&cli.ok(&["--json", "runtimes"])).unwrap();
    let field = |runtime: &Value, name: &str| runtime[name].as_str().unwrap().to_owned();
    let listed: Vec<[String; 3]> = listed["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|runtime| ["runtime_id", "kind", "status"].map(|name| field(runtime, name)))
        .collect();
    assert_eq!(
        listed,
        [
            ["local", "embedded", "available"],
            ["gpu-box", "remote_http", "available"],
            ["legacy", "local_compatibility", "available"],
        ]
    );
    let remote: Value = serde_json::from_str(&cli.ok(&["--json", "workers", "gpu-box"])).unwrap();
    assert_eq!(remote["workers"][0]["worker_id"], "w1");
    assert_eq!(remote["workers"][0]["display_ref"], "w1@gpu-box");

    // One audit line per mutation attempt, the refused one included.
    let mut expected = vec![["legacy", "create_worker", "denied"]];
    for runtime_id in ["local", "gpu-box"] {
        for operation in ["create_worker", "send_input", "stop_worker"] {
            expected.push([runtime_id, operation, "allowed"]);
        }
    }
    expected.sort();
    assert_eq!(
        audit_lines(&root.join(".yoi").join("audit.jsonl")),
        expected
    );
    let audit = std::fs::read_to_string(root.join(".yoi").join("audit.jsonl")).unwrap();
    let denied = audit.lines().find(|line| line.contains("\"denied\""));
    let denied: Value = serde_json::from_str(denied.unwrap()).unwrap();
    assert_eq!(denied["error_code"], "forbidden_by_policy");
    assert!(
        !elsewhere.path().join(".yoi").exists(),
        "the data folder is beside workspace.toml, not in the current folder"
    );

    let status = backend.process.terminate();
    assert!(status.success(), "{status}: {}", backend.process.describe());
    assert!(runtime.terminate().success(), "{}", runtime.describe());

    let printed = assert_no_leak(&cli, &backend, &runtime_address);
    assert!(printed.contains("hello from gpu-box"), "{printed}");
}

#[test]
fn yoi_serve_without_a_file_serves_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut backend = Backend::start(dir.path(), &["--bind", "127.0.0.1:0"]);
    let cli = Cli::new(&backend);

    let runtimes = cli.ok(&["runtimes"]);
    assert_eq!(rows(&runtimes).len(), 1, "{runtimes}");
    let row = row(&runtimes, "backend-internal");
    assert_eq!(
        (row[1].as_str(), row[2].as_str()),
        ("embedded", "available")
    );

    let created = cli.ok(&[
        "create",
        "backend-internal",
        "--id",
        "solo",
        "--name",
        "helper",
    ]);
    assert_eq!(
        created,
        "created solo (helper@backend-internal) on backend-internal\n"
    );
    cli.ok(&["send", "backend-internal", "solo", "ping"]);
    cli.wait_for_transcript_line("backend-internal", "solo", "[assistant] ping");
    assert!(dir.path().join(".yoi").join("audit.jsonl").is_file());

    let status = backend.process.terminate();
    assert!(status.success(), "{status}: {}", backend.process.describe());
}

#[test]
fn yoi_serve_refuses_a_public_address_without_a_browser_token() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let mut process = Process::spawn(
        "yoi serve --bind 0.0.0.0:0",
        yoi()
            .args(["serve", "--bind", "0.0.0.0:0"])
            .current_dir(dir.path()),
    );
    let status = process.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", process.describe());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the refusal took {:?}",
        started.elapsed()
    );
    assert_eq!(process.stdout_text(), "", "nothing was served");
    let message = process.stderr_text();
    assert!(message.contains("without a browser token"), "{message}");
    assert!(!message.contains("listening on"), "{message}");

    // Allowed without a token, the link still needs TLS off loopback (or the operator's word).
    let mut process = Process::spawn(
        "yoi serve --bind 0.0.0.0:0 (token, no TLS)",
        yoi()
            .args(["serve", "--bind", "0.0.0.0:0", "--insecure-no-auth"])
            .current_dir(dir.path()),
    );
    assert_eq!(
        process.wait_exit().code(),
        Some(1),
        "{}",
        process.describe()
    );
    let message = process.stderr_text();
    assert!(
        message
            .contains("refusing to serve 0.0.0.0:0 over plain HTTP: pass --tls-cert and --tls-key"),
        "{message}"
    );
}

#[test]
fn sigterm_stops_the_backend_cleanly_and_watch_resumes_on_its_successor() {
    let dir = tempfile::tempdir().unwrap();
    let mut backend = Backend::start(dir.path(), &["--bind", "127.0.0.1:0"]);
    let address = backend.url.strip_prefix("http://").unwrap().to_owned();
    let cli = Cli::new(&backend);
    cli.ok(&["create", "backend-internal", "--id", "w1"]);
    let mut watch = cli.spawn(&["watch", "backend-internal", "w1"]);
    backend
        .process
        .wait_for_log("path=\"/api/runtimes/backend-internal/workers/w1/events\" status=200");
    let mut follow = cli.spawn(&["workers", "--follow"]);
    // The table first, as `yoi workers` prints it.
    let row = follow.wait_for_line(Stream::Stdout, "w1@backend-internal");
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        [
            "backend-internal",
            "w1",
            "idle",
            "default",
            "w1@backend-internal"
        ]
    );
    cli.ok(&["send", "backend-internal", "w1", "before the restart"]);
    watch.wait_for_line(Stream::Stdout, "before the restart");
    follow.wait_for_line(
        Stream::Stdout,
        "backend-internal  w1  running  default  w1@backend-internal",
    );

    // SIGTERM ends the open event stream and the process, with success.
    let status = backend.process.terminate();
    let log = backend.process.describe();
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    // The watch notices and keeps trying.
    watch.wait_for_line(Stream::Stderr, "retrying");
    let running = watch.child.try_wait().unwrap().is_none();
    assert!(running, "{}", watch.describe());

    // A successor on the same address and folder: the watch resumes where it was.
    let mut successor = Backend::start(dir.path(), &["--bind", &address]);
    assert_eq!(successor.url, backend.url);
    cli.ok(&["send", "backend-internal", "w1", "after the restart"]);
    watch.wait_for_line(Stream::Stdout, "after the restart");
    cli.ok(&["stop", "backend-internal", "w1"]);
    // The feed follows the successor too, and shows the stop as one line.
    follow.wait_for_line(Stream::Stdout, "backend-internal  w1  stopped");
    let followed = follow.stdout_text();
    assert!(followed.starts_with("RUNTIME"), "{followed}");
    follow.terminate();
    let status = watch.wait_exit();
    assert!(status.success(), "{status}: {}", watch.describe());
    let shown = watch.stdout_text();
    assert_eq!(shown.matches("before the restart").count(), 1, "{shown}");
    assert_eq!(shown.matches("after the restart").count(), 1, "{shown}");
    let transcript = cli.ok(&["transcript", "backend-internal", "w1"]);
    assert_eq!(
        transcript,
        "[user] before the restart\n[assistant] before the restart\n\
         [user] after the restart\n[assistant] after the restart\n"
    );

    let status = successor.process.terminate();
    let log = successor.process.describe();
    assert!(status.success(), "{status}: {log}");
}

#[test]
fn a_watch_through_the_backend_survives_a_restart_of_the_remote_runtime() {
    let runtime_data = tempfile::tempdir().unwrap();
    let (mut runtime, runtime_address) = start_runtime("gpu-box", runtime_data.path());
    let (_workspace, mut backend) = Backend::with_workspace(&gpu_box(&runtime_address, 5000));
    let cli = Cli::new(&backend);
    cli.ok(&["create", "gpu-box", "--id", "w1"]);
    let mut watch = cli.spawn(&["watch", "gpu-box", "w1"]);
    backend
        .process
        .wait_for_log("path=\"/api/runtimes/gpu-box/workers/w1/events\" status=200");
    cli.ok(&["send", "gpu-box", "w1", "before the restart"]);
    watch.wait_for_line(Stream::Stdout, "before the restart");

    // The runtime goes away: the watch is told, stays open, and the listing says so.
    assert!(runtime.terminate().success(), "{}", runtime.describe());
    watch.wait_for_line(Stream::Stderr, "yoi: runtime unavailable");
    let running = watch.child.try_wait().unwrap().is_none();
    assert!(running, "{}", watch.describe());
    let runtimes = cli.ok(&["runtimes"]);
    assert_eq!(row(&runtimes, "gpu-box")[2], "unavailable", "{runtimes}");
    let refused = cli.fails(&["send", "gpu-box", "w1", "nobody hears this"]);
    assert!(
        refused.starts_with("yoi: runtime_unavailable: "),
        "{refused}"
    );

    // It comes back on the same address with the same data: the Backend reconnects upstream and
    // the watch goes on, without repeating what it showed.
    let mut restarted = serve_runtime(
        "gpu-box",
        runtime_data.path(),
        &["--bind", &runtime_address],
    );
    assert_eq!(restarted.listening_address(), runtime_address);
    cli.ok(&["send", "gpu-box", "w1", "after the restart"]);
    watch.wait_for_line(Stream::Stdout, "after the restart");
    cli.ok(&["stop", "gpu-box", "w1"]);
    let status = watch.wait_exit();
    cli.record(&watch);
    assert!(status.success(), "{status}: {}", watch.describe());
    assert_eq!(
        watch.stdout_text(),
        "before the restart\nafter the restart\n",
        "{}",
        watch.describe()
    );

    let status = backend.process.terminate();
    assert!(status.success(), "{status}: {}", backend.process.describe());
    assert_no_leak(&cli, &backend, &runtime_address);
}

/// A runtime profile whose runs echo the input, then print a tick every 20 ms for 30 s, so that
/// a run is streaming when the runtime is killed.
const TICKING_PROFILE: &str = r#"[profiles.default]
engine = "command"
program = "sh"
args = ["-c", "cat; i=0; while [ $i -lt 1500 ]; do echo tick $i; i=$((i+1)); sleep 0.02; done"]
"#;

/// Opens an event stream at `url` (resuming after `last`), sending `token` if given.
async fn open_events(url: &str, last: Option<&str>, token: Option<&str>) -> Frames {
    let mut request = reqwest::Client::new().get(url);
    if let Some(last) = last {
        request = request.header("last-event-id", last);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    frames_of(response)
}

/// Reads frames into `seen` until `done(seen)` holds.
async fn read_until(frames: &mut Frames, seen: &mut Vec<Frame>, done: impl Fn(&[Frame]) -> bool) {
    while !done(seen) {
        let frame = next_frame(frames, seen).await;
        seen.push(frame.unwrap_or_else(|| panic!("the stream ended early: {seen:#?}")));
    }
}

/// Reads frames into `seen` until the stream ends.
async fn read_to_end(frames: &mut Frames, seen: &mut Vec<Frame>) {
    while let Some(frame) = next_frame(frames, seen).await {
        seen.push(frame);
    }
}

/// The next frame, within the deadline.
async fn next_frame(frames: &mut Frames, seen: &[Frame]) -> Option<Frame> {
    use futures::StreamExt;
    tokio::time::timeout(DEADLINE, frames.next())
        .await
        .unwrap_or_else(|_| panic!("stuck after {seen:#?}"))
}

/// The events of `frames` as `(sequence, kind, data)`, without the Backend's envelope fields and
/// connection notices, for comparison with the runtime's own record.
fn events_of(frames: &[Frame]) -> Vec<(u64, String, Value)> {
    frames
        .iter()
        .filter(|frame| !frame.id.is_empty() && frame.event != "runtime_status")
        .map(|frame| {
            let mut data: Value = serde_json::from_str(&frame.data).unwrap();
            if let Some(data) = data.as_object_mut() {
                data.remove("runtime_id");
                data.remove("worker_id");
            }
            (frame.id.parse().unwrap(), frame.event.clone(), data)
        })
        .collect()
}

fn count_of(frames: &[Frame], kind: &str) -> usize {
    frames.iter().filter(|frame| frame.event == kind).count()
}

#[test]
fn a_runtime_killed_mid_run_and_restarted_on_its_data_dir_loses_and_repeats_no_event() {
    let runtime_data = tempfile::tempdir().unwrap();
    let runtime_config = runtime_data.path().join("runtime.toml");
    std::fs::write(&runtime_config, TICKING_PROFILE).unwrap();
    let runtime_args = ["--config", runtime_config.to_str().unwrap()];
    let mut runtime = serve_runtime(
        "gpu-box",
        runtime_data.path(),
        &[&runtime_args[..], &["--bind", "127.0.0.1:0"]].concat(),
    );
    let runtime_address = runtime.listening_address();
    let (_workspace, backend) = Backend::with_workspace(&gpu_box(&runtime_address, 2000));
    let workers = format!("{}/api/runtimes/gpu-box/workers", backend.url);
    let events = format!("{workers}/w1/events");
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let post = |url: String, body: Value| {
        let request = client.post(url).json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };

    // Two browsers watch a run that streams; the runtime is killed in the middle of it.
    let (mut kept, mut kept_seen, mut left_seen) = tokio.block_on(async {
        let (status, body) = post(workers.clone(), json!({ "worker_id": "w1" })).await;
        assert_eq!(status, 201, "{body}");
        let mut kept = open_events(&events, None, None).await;
        let mut left = open_events(&events, None, None).await;
        let (status, body) = post(
            format!("{workers}/w1/input"),
            json!({ "kind": "user", "content": "go" }),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        let (mut kept_seen, mut left_seen) = (Vec::new(), Vec::new());
        let ticking = |seen: &[Frame]| count_of(seen, "output_delta") >= 5;
        read_until(&mut kept, &mut kept_seen, ticking).await;
        read_until(&mut left, &mut left_seen, ticking).await;
        (kept, kept_seen, left_seen)
    });
    let pid = i32::try_from(runtime.child.id()).unwrap();
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    runtime.wait_exit();

    // The browser that stays is told; the other leaves with what it has.
    tokio.block_on(async {
        read_until(&mut kept, &mut kept_seen, |seen| {
            count_of(seen, "runtime_status") == 1
        })
        .await;
    });
    let left_at = left_seen.last().unwrap().id.clone();

    // Back on the same address and data: the interrupted run is recorded as failed, and the
    // worker goes on.
    let mut restarted = serve_runtime(
        "gpu-box",
        runtime_data.path(),
        &[&runtime_args[..], &["--bind", &runtime_address]].concat(),
    );
    assert_eq!(restarted.listening_address(), runtime_address);
    let runtime_history = tokio.block_on(async {
        read_until(&mut kept, &mut kept_seen, |seen| {
            count_of(seen, "run_failed") == 1
        })
        .await;
        let (status, body) = post(format!("{workers}/w1/stop"), Value::Null).await;
        assert_eq!(status, 200, "{body}");
        read_to_end(&mut kept, &mut kept_seen).await;
        let mut left = open_events(&events, Some(&left_at), None).await;
        read_to_end(&mut left, &mut left_seen).await;
        // A browser that has everything is told that nothing more will come.
        let last = kept_seen.last().unwrap().id.clone();
        let response = client
            .get(&events)
            .header("last-event-id", &last)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);

        let direct = format!("http://{runtime_address}/v1/workers/w1/events");
        let mut history = open_events(&direct, None, Some(RUNTIME_TOKEN)).await;
        let mut record = Vec::new();
        read_to_end(&mut history, &mut record).await;
        record
    });

    let truth = events_of(&runtime_history);
    assert_eq!(
        truth.iter().map(|event| event.0).collect::<Vec<_>>(),
        (1..=truth.len() as u64).collect::<Vec<_>>(),
        "the runtime's own record has no gap"
    );
    assert_eq!(truth.last().unwrap().1, "worker_stopped");
    let failed = truth.iter().find(|event| event.1 == "run_failed").unwrap();
    assert!(
        failed.2.to_string().contains("runtime restarted"),
        "{failed:?}"
    );
    assert_eq!(events_of(&kept_seen), truth, "the browser that stayed");
    assert_eq!(events_of(&left_seen), truth, "the browser that came back");
    let statuses: Vec<Value> = kept_seen
        .iter()
        .filter(|frame| frame.event == "runtime_status")
        .map(|frame| serde_json::from_str::<Value>(&frame.data).unwrap()["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("unavailable"), json!("available")]);
    drop(backend);
}

/// The variable that carries the model provider's key to the runtime process alone.
const MODEL_KEY_VAR: &str = "YOI_E2E_MODEL_KEY";

/// The model provider's key: distinctive, so that a leak cannot hide.
const MODEL_KEY: &str = "sk-e2e-Wq4Rt8Lm3Zx6Kv9Pn2";

/// A runtime.toml with the model profile `assistant` (OpenAI's format, its key in
/// [`MODEL_KEY_VAR`]) talking to `provider`, and the command profile `env`, whose program says
/// whether it inherited that variable.
fn model_profiles(provider: &ScriptedProvider) -> String {
    format!(
        "[profiles.assistant]\nengine = \"openai\"\nmodel = \"test-model\"\n\
         base_url = \"{}/v1\"\napi_key_env = \"{MODEL_KEY_VAR}\"\n\n\
         [profiles.env]\nengine = \"command\"\nprogram = \"sh\"\n\
         args = [\"-c\", \"printenv {MODEL_KEY_VAR} || echo absent\"]\n",
        provider.base_url()
    )
}

/// `yoi runtime serve` of the runtime `gpu-box` with [`model_profiles`] for `provider`, and
/// [`MODEL_KEY`] in [`MODEL_KEY_VAR`]; answers it and its address.
fn start_model_runtime(provider: &ScriptedProvider, data_dir: &Path) -> (Process, String) {
    let config = data_dir.join("runtime.toml");
    std::fs::write(&config, model_profiles(provider)).unwrap();
    let config = config.to_str().unwrap();
    let args = ["--config", config, "--bind", "127.0.0.1:0"];
    let mut command = runtime_command("gpu-box", data_dir, &args);
    let mut runtime = Process::spawn("yoi runtime serve", command.env(MODEL_KEY_VAR, MODEL_KEY));
    let address = runtime.listening_address();
    (runtime, address)
}

/// Asserts that none of `texts` shows the model key or `provider`'s address.
fn assert_model_secrets_kept(provider: &ScriptedProvider, texts: &[String]) {
    let base_url = provider.base_url();
    let provider_address = base_url.trim_start_matches("http://");
    for text in texts {
        assert!(!text.contains(MODEL_KEY), "the model key was shown: {text}");
        assert!(
            !names_address(text, provider_address),
            "the provider's address was shown: {text}"
        );
    }
}

#[test]
fn a_model_worker_on_a_runtime_process_streams_through_the_backend_and_its_key_stays_there() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let provider = tokio.block_on(ScriptedProvider::start());
    provider.push(Reply::stream(["Hel", "lo"]).usage(12, 2));
    let runtime_data = tempfile::tempdir().unwrap();
    let (mut runtime, runtime_address) = start_model_runtime(&provider, runtime_data.path());
    let (_workspace, mut backend) = Backend::with_workspace(&gpu_box(&runtime_address, 5000));
    let cli = Cli::new(&backend);

    cli.ok(&["create", "gpu-box", "--id", "w1", "--profile", "assistant"]);
    let mut watch = cli.spawn(&["watch", "gpu-box", "w1"]);
    backend
        .process
        .wait_for_log("path=\"/api/runtimes/gpu-box/workers/w1/events\" status=200");
    cli.ok(&["send", "gpu-box", "w1", "Hi"]);
    let transcript = cli.wait_for_transcript_line("gpu-box", "w1", "[assistant] Hello");
    assert_eq!(transcript, "[user] Hi\n[assistant] Hello\n");
    watch.wait_for_line(Stream::Stdout, "Hello");
    let listed: Value = serde_json::from_str(&cli.ok(&["--json", "workers", "gpu-box"])).unwrap();
    assert_eq!(
        listed["workers"][0]["usage"],
        json!({ "input_tokens": 12, "output_tokens": 2 })
    );
    let sent = &provider.requests()[0];
    assert_eq!(sent.headers["authorization"], format!("Bearer {MODEL_KEY}"));

    // The key's variable was removed from the runtime process once read.
    cli.ok(&["create", "gpu-box", "--id", "env", "--profile", "env"]);
    cli.ok(&["send", "gpu-box", "env", "x"]);
    cli.wait_for_transcript_line("gpu-box", "env", "[assistant] absent");
    cli.ok(&["stop", "gpu-box", "w1"]);
    assert!(watch.wait_exit().success(), "{}", watch.describe());
    cli.record(&watch);
    let status = backend.process.terminate();
    assert!(status.success(), "{status}: {}", backend.process.describe());
    assert!(runtime.terminate().success(), "{}", runtime.describe());

    let printed = assert_no_leak(&cli, &backend, &runtime_address);
    let logs = [printed, backend.process.describe(), runtime.describe()];
    assert_model_secrets_kept(&provider, &logs);
}

/// A CA (`ca.pem`) and a certificate it signed for 127.0.0.1 and localhost (`backend.pem`,
/// `backend.key`), in `dir`.
fn test_certificates(dir: &Path) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("backend.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("backend.key"), key.serialize_pem()).unwrap();
}

#[test]
fn the_cli_reaches_an_https_backend_with_its_ca_file_and_refuses_it_without() {
    let dir = tempfile::tempdir().unwrap();
    test_certificates(dir.path());
    let (cert, key) = (
        dir.path().join("backend.pem"),
        dir.path().join("backend.key"),
    );
    let mut backend = Process::spawn(
        "yoi serve --tls-cert",
        yoi()
            .args(["serve", "--bind", "127.0.0.1:0", "--tls-cert"])
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .current_dir(dir.path()),
    );
    let listens = "yoi: the workspace backend listens on https://";
    let line = backend.wait_for_line(Stream::Stdout, listens);
    let url = format!("https://{}", line.strip_prefix(listens).unwrap());
    let ca = dir.path().join("ca.pem");
    let output = yoi()
        .args(["runtimes", "--backend", &url, "--ca-file"])
        .arg(&ca)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("backend-internal"),
        "{output:?}"
    );
    // The same through the environment.
    let output = yoi()
        .args(["runtimes", "--backend", &url])
        .env("YOI_CA_FILE", &ca)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    // Without the CA the Backend's certificate is not trusted, and the CLI says it cannot reach it.
    let output = yoi()
        .args(["runtimes", "--backend", &url])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("cannot reach the backend"), "{message}");
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    backend.terminate();
}
