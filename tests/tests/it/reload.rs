//! Reloading workspace.toml under browsers, through HTTP: a runtime added, one removed, one
//! changed, while a browser holds an event stream of a Worker on a runtime whose table did not
//! change. That stream and the remote runtime's upstream connections go on untouched; the
//! removed runtime's streams end saying so; the changed one's end and resume on its new handle;
//! a broken file changes nothing; each reload is one audit line.

use std::path::Path;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use serde_json::{Value, json};
use yoi_config::WorkspaceConfig;
use yoi_test_support::{Frame, Frames, ServedBackend, sequences, serve_workspace, until, within};
use yoi_workspace_server::{ReloadError, ReloadReport};

use crate::support::backend::options;
use crate::support::{ServedRuntime, TOKEN, rid, serve_runtime};

/// The remote runtime's table, which no version of the file changes.
fn remote_table(runtime: &ServedRuntime) -> String {
    format!(
        "[[runtime]]\nid = \"remote\"\nadapter = \"http-client\"\nbase_url = \"http://{}\"\n\
         token_file = \"runtime.token\"\ntimeout_ms = 2000\n\n",
        runtime.address
    )
}

/// Writes `toml` as the workspace's file and reads it.
fn write_config(dir: &Path, toml: &str) -> WorkspaceConfig {
    let file = dir.join("workspace.toml");
    std::fs::write(&file, toml).unwrap();
    WorkspaceConfig::load(&file).unwrap()
}

fn data(frame: &Frame) -> Value {
    serde_json::from_str(&frame.data).unwrap_or_else(|_| panic!("not JSON: {frame:?}"))
}

/// Creates `runtime/worker`, sends it one input and waits until it is idle again; answers its
/// newest sequence.
async fn worker_with_one_run(backend: &ServedBackend, runtime: &str, worker: &str) -> u64 {
    let api = &backend.api;
    let created = api
        .post(
            &format!("/api/runtimes/{runtime}/workers"),
            json!({ "worker_id": worker }),
        )
        .await;
    assert_eq!(created.0, 201, "{}", created.1);
    send(backend, runtime, worker, "hello").await;
    api.idle_sequence(runtime, worker).await
}

async fn send(backend: &ServedBackend, runtime: &str, worker: &str, text: &str) {
    let path = format!("/api/runtimes/{runtime}/workers/{worker}/input");
    let input = json!({ "kind": "user", "content": text });
    let sent = backend.api.post(&path, input).await;
    assert_eq!(sent.0, 202, "{}", sent.1);
}

/// The frames of `frames` until it ends; the last must come within the deadline.
async fn rest(frames: &mut Frames) -> Vec<Frame> {
    let mut read = Vec::new();
    while let Some(frame) = within("the stream's end", frames.next()).await {
        read.push(frame);
    }
    read
}

/// The feed's frames until a `runtime_status` of `runtime` says `status`.
async fn runtime_until(feed: &mut Frames, runtime: &str, status: &str) -> Value {
    loop {
        let frame = within("a runtime_status", feed.next())
            .await
            .expect("the feed goes on");
        let notice = data(&frame);
        if frame.event == "runtime_status"
            && notice["runtime_id"] == runtime
            && notice["status"] == status
        {
            return notice;
        }
    }
}

/// The ids of the runtimes the Backend lists.
async fn listed(backend: &ServedBackend) -> Vec<String> {
    let (status, body) = backend.api.get("/api/runtimes").await;
    assert_eq!(status, 200);
    let runtimes = body["runtimes"].as_array().unwrap();
    runtimes
        .iter()
        .map(|runtime| runtime["runtime_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Reads the held stream of `remote/w1` through the run that `text` starts: each event once,
/// in order, right after `last`; answers the newest sequence.
async fn one_more_run(backend: &ServedBackend, stream: &mut Frames, last: u64, text: &str) -> u64 {
    send(backend, "remote", "w1", text).await;
    let frames = until(stream, "run_completed").await;
    let seen = sequences(&frames);
    let expected: Vec<u64> = (last + 1..=last + seen.len() as u64).collect();
    assert_eq!(seen, expected, "no gap and no duplicate: {frames:?}");
    *seen.last().unwrap()
}

#[tokio::test]
async fn a_reload_changes_only_what_the_file_changed() {
    let remote = serve_runtime("remote").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("runtime.token"), format!("{TOKEN}\n")).unwrap();
    let first = format!(
        "{}[[runtime]]\nid = \"gone\"\nadapter = \"embedded\"\n\n\
         [[runtime]]\nid = \"edit\"\nadapter = \"embedded\"\ndisplay_name = \"Before\"\n",
        remote_table(&remote)
    );
    let config = write_config(dir.path(), &first);
    let backend = serve_workspace(&config, options(dir.path())).await;
    let api = &backend.api;
    let mut last = worker_with_one_run(&backend, "remote", "w1").await;
    let gone_last = worker_with_one_run(&backend, "gone", "g1").await;
    let edit_last = worker_with_one_run(&backend, "edit", "e1").await;

    let mut held = api.events("remote", "w1", Some(last)).await;
    let mut gone_stream = api.events("gone", "g1", Some(gone_last)).await;
    let mut edit_stream = api.events("edit", "e1", Some(edit_last)).await;
    let mut feed = api.feed("").await;
    until(&mut feed, "synced").await;
    let mut gone_feed = api.feed("?runtime=gone").await;
    until(&mut gone_feed, "synced").await;
    last = one_more_run(&backend, &mut held, last, "before the reload").await;
    let upstream = (
        remote.event_streams.load(Ordering::SeqCst),
        remote.feeds.load(Ordering::SeqCst),
    );

    let second = format!(
        "{}[[runtime]]\nid = \"edit\"\nadapter = \"embedded\"\ndisplay_name = \"After\"\n\n\
         [[runtime]]\nid = \"fresh\"\nadapter = \"embedded\"\n",
        remote_table(&remote)
    );
    let report = backend
        .state
        .reload(Ok(write_config(dir.path(), &second)))
        .await
        .unwrap();
    let expected = ReloadReport {
        added: vec![rid("fresh")],
        removed: vec![rid("gone")],
        changed: vec![rid("edit")],
        unchanged: 1,
    };
    assert_eq!(report, expected);
    assert_eq!(
        report.to_string(),
        "1 added (fresh), 1 removed (gone), 1 changed (edit), 1 unchanged"
    );

    assert_removed_told(&mut gone_stream, &mut gone_feed, &mut feed).await;
    runtime_until(&mut feed, "fresh", "available").await;

    let ended = rest(&mut edit_stream).await;
    let notice = data(ended.last().expect("a last frame"));
    assert_eq!(notice["status"], "unavailable", "{notice}");
    assert_eq!(notice["code"], "runtime_unavailable", "{notice}");
    assert_resumes_on_the_new_handle(&backend, edit_last).await;

    last = one_more_run(&backend, &mut held, last, "after the reload").await;
    let now = (
        remote.event_streams.load(Ordering::SeqCst),
        remote.feeds.load(Ordering::SeqCst),
    );
    assert_eq!(
        now, upstream,
        "the unchanged runtime's upstream streams were not reopened"
    );
    assert_eq!(listed(&backend).await, ["remote", "edit", "fresh"]);
    let (status, body) = api.get("/api/runtimes/gone/workers").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("unknown_runtime"))
    );

    a_broken_file_changes_nothing(&backend, dir.path(), &mut held, last).await;
    assert_reloads_audited(dir.path());
}

/// The removed runtime's worker stream ends with `runtime_status` `removed`; the feed
/// narrowed to it says so too and ends; the whole feed says so and goes on.
async fn assert_removed_told(stream: &mut Frames, narrowed: &mut Frames, feed: &mut Frames) {
    let ended = rest(stream).await;
    let last = ended.last().expect("a last frame");
    let notice = data(last);
    assert_eq!(last.event, "runtime_status", "{ended:?}");
    assert_eq!(notice["status"], "removed", "{notice}");
    assert_eq!(notice["code"], "unknown_runtime", "{notice}");
    let told = runtime_until(narrowed, "gone", "removed").await;
    assert_eq!(
        told["message"],
        "runtime gone is no longer in the workspace's configuration"
    );
    assert!(
        rest(narrowed).await.is_empty(),
        "a feed of removed runtimes only ends"
    );
    runtime_until(feed, "gone", "removed").await;
}

/// The changed runtime's Worker, kept in its store, is served by the new handle: its stream
/// resumes where the browser was, and its name is the new one.
async fn assert_resumes_on_the_new_handle(backend: &ServedBackend, last: u64) {
    let api = &backend.api;
    let (status, runtime) = api.get("/api/runtimes/edit").await;
    assert_eq!(
        (status, runtime["display_name"].clone()),
        (200, json!("After"))
    );
    let mut resumed = api.events("edit", "e1", Some(last)).await;
    send(backend, "edit", "e1", "again").await;
    let frames = until(&mut resumed, "run_completed").await;
    assert_eq!(sequences(&frames)[0], last + 1, "{frames:?}");
}

/// A file with errors is refused whole, each error placed; the runtimes and the held stream go
/// on as they were.
async fn a_broken_file_changes_nothing(
    backend: &ServedBackend,
    dir: &Path,
    held: &mut Frames,
    last: u64,
) {
    let file = dir.join("workspace.toml");
    std::fs::write(
        &file,
        "[[runtime]]\nid = \"remote\"\nadapter = \"nope\"\n\n[[runtime]]\nid = \"a b\"\n",
    )
    .unwrap();
    let Err(ReloadError::Invalid(errors)) =
        backend.state.reload(WorkspaceConfig::load(&file)).await
    else {
        panic!("a broken file is refused");
    };
    let text = errors.to_string();
    assert!(text.contains("workspace.toml:"), "{text}");
    assert!(text.contains(":6:"), "the bad id's line: {text}");
    let Err(ReloadError::Invalid(errors)) = backend.state.reload(unknown_adapter_file(&file)).await
    else {
        panic!("an unknown adapter is refused");
    };
    assert!(
        errors.to_string().contains("runtime[0].adapter"),
        "{errors}"
    );
    assert_eq!(listed(backend).await, ["remote", "edit", "fresh"]);
    one_more_run(backend, held, last, "after a broken file").await;
}

/// A file that parses but names an adapter this build lacks.
fn unknown_adapter_file(file: &Path) -> Result<WorkspaceConfig, yoi_config::ConfigErrors> {
    std::fs::write(file, "[[runtime]]\nid = \"remote\"\nadapter = \"nope\"\n").unwrap();
    WorkspaceConfig::load(file)
}

/// One audit line per reload: applied, then the two refused; none holds the file's contents.
fn assert_reloads_audited(dir: &Path) {
    let audit = std::fs::read_to_string(dir.join(".yoi/audit.jsonl")).unwrap();
    let reloads: Vec<Value> = audit
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["operation"] == "reload")
        .collect();
    let outcomes: Vec<(&str, &Value)> = reloads
        .iter()
        .map(|line| (line["outcome"].as_str().unwrap(), &line["error_code"]))
        .collect();
    let refused = json!("invalid_config");
    assert_eq!(
        outcomes,
        [
            ("allowed", &Value::Null),
            ("rejected", &refused),
            ("rejected", &refused)
        ]
    );
    for leak in ["base_url", "nope", "127.0.0.1", "runtime.token"] {
        assert!(!audit.contains(leak), "{leak} in the audit log");
    }
}

/// Builds the runtimes of the file at `dir` again, answering the report.
async fn reload_now(backend: &ServedBackend, dir: &Path, toml: &str) -> ReloadReport {
    let config = write_config(dir, toml);
    backend.state.reload(Ok(config)).await.unwrap()
}

#[tokio::test]
async fn a_file_a_table_names_is_part_of_it_and_hiding_a_runtime_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key.txt"), "first-key\n").unwrap();
    let model = "[runtime.profiles.model]\nengine = \"openai\"\nmodel = \"m\"\n\
                 base_url = \"http://127.0.0.1:9/v1\"\napi_key_file = \"key.txt\"\n\n";
    let keyed =
        format!("[[runtime]]\nid = \"keyed\"\nadapter = \"embedded\"\npersist = false\n{model}");
    let plain = "[[runtime]]\nid = \"plain\"\nadapter = \"embedded\"\npersist = false\n\n";
    let file = format!("{plain}{keyed}");
    let backend = serve_workspace(&write_config(dir.path(), &file), options(dir.path())).await;
    let same = reload_now(&backend, dir.path(), &file).await;
    assert_eq!(same.unchanged, 2, "{same}");

    std::fs::write(dir.path().join("key.txt"), "second-key\n").unwrap();
    let rotated = reload_now(&backend, dir.path(), &file).await;
    assert_eq!(
        (rotated.changed, rotated.unchanged),
        (vec![rid("keyed")], 1)
    );

    backend
        .api
        .post("/api/runtimes/plain/workers", json!({ "worker_id": "p1" }))
        .await;
    let mut stream = backend.api.events("plain", "p1", None).await;
    until(&mut stream, "worker_created").await;
    let hidden = format!("{}\nvisible = false\n\n{keyed}", plain.trim_end());
    let report = reload_now(&backend, dir.path(), &hidden).await;
    assert_eq!((report.removed, report.unchanged), (vec![rid("plain")], 1));
    let last = rest(&mut stream).await.pop().expect("a last frame");
    assert_eq!(data(&last)["status"], "removed", "{last:?}");
    assert_eq!(listed(&backend).await, ["keyed"]);
}
