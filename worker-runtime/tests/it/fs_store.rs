use std::fs;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use worker_runtime::{
    CommandSettings, CreateWorker, EngineSettings, Event, Input, Runtime, RuntimeConfig, RuntimeId,
    Severity, TranscriptEntry, WorkerId, WorkerStatus,
};

use crate::support::{
    DEADLINE, events_until, eventually, kinds, named, run_events, send, slow_echo, wid,
};

fn config() -> RuntimeConfig {
    let mut config = RuntimeConfig::new(RuntimeId::new("stored").unwrap());
    config
        .profiles
        .insert("default".into(), EngineSettings::Echo(Default::default()));
    config.profiles.insert("slow".into(), slow_echo());
    config
}

fn worker_dir(data: &Path, id: &str) -> PathBuf {
    data.join("runtimes/stored/workers").join(id)
}

/// Every retained event of a Worker, up to its newest.
async fn all_events(runtime: &Runtime, id: &WorkerId) -> Vec<Event> {
    let last = runtime.get_worker(id).unwrap().last_sequence;
    let mut stream = runtime.subscribe(id, None).unwrap();
    let mut events = Vec::new();
    let read = tokio::time::timeout(DEADLINE, async {
        while let Some(event) = stream.next().await {
            let event = event.unwrap();
            let newest = event.sequence >= last;
            events.push(event);
            if newest {
                return;
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "events up to {last} did not arrive: {events:?}"
    );
    events
}

fn whole_transcript(runtime: &Runtime, id: &WorkerId) -> Vec<TranscriptEntry> {
    runtime.transcript(id, 0, Some(1000)).unwrap().entries
}

async fn converse(runtime: &Runtime, id: &WorkerId, inputs: &[&str]) {
    for input in inputs {
        let ack = runtime.send_input(id, Input::user(*input)).await.unwrap();
        run_events(runtime, id, ack.sequence).await;
    }
}

#[tokio::test]
async fn a_reopened_runtime_has_identical_workers_transcripts_and_events() {
    let data = tempfile::tempdir().unwrap();
    let (talker, quitter) = (wid("talker"), wid("quitter"));
    let (events_before, transcript_before, details_before) = {
        let runtime = Runtime::open(config(), data.path()).unwrap();
        for id in [&talker, &quitter] {
            runtime
                .create_worker(CreateWorker {
                    display_name: Some(format!("The {id}")),
                    ..named(id.clone())
                })
                .await
                .unwrap();
        }
        converse(&runtime, &talker, &["first question", "second question"]).await;
        converse(&runtime, &quitter, &["bye"]).await;
        runtime.stop_worker(&quitter).await.unwrap();
        let details = [
            runtime.get_worker(&talker).unwrap(),
            runtime.get_worker(&quitter).unwrap(),
        ];
        (
            all_events(&runtime, &talker).await,
            whole_transcript(&runtime, &talker),
            details,
        )
    };

    let runtime = Runtime::open(config(), data.path()).unwrap();
    assert!(
        runtime.diagnostics().is_empty(),
        "{:?}",
        runtime.diagnostics()
    );
    assert_eq!(runtime.get_worker(&talker).unwrap(), details_before[0]);
    assert_eq!(runtime.get_worker(&quitter).unwrap(), details_before[1]);
    assert_eq!(
        runtime.get_worker(&quitter).unwrap().status,
        WorkerStatus::Stopped
    );
    assert_eq!(all_events(&runtime, &talker).await, events_before);
    assert_eq!(whole_transcript(&runtime, &talker), transcript_before);
    assert_eq!(transcript_before.len(), 4);

    // Numbering continues after the stored events; nothing is reused.
    let last = events_before.last().unwrap().sequence;
    let ack = send(&runtime, &talker, "third").await.unwrap();
    assert_eq!(ack.sequence, last + 1);
    run_events(&runtime, &talker, ack.sequence).await;
    let stopped = send(&runtime, &quitter, "hello?").await.unwrap_err();
    assert_eq!(stopped.code(), "worker_stopped");

    // And the new history is stored too.
    drop(runtime);
    let runtime = Runtime::open(config(), data.path()).unwrap();
    assert_eq!(whole_transcript(&runtime, &talker).len(), 6);
}

#[tokio::test]
async fn the_layout_is_one_folder_per_worker_and_writes_land_before_the_answer() {
    let data = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(), data.path()).unwrap();
    let id = runtime
        .create_worker(CreateWorker::default())
        .await
        .unwrap()
        .worker_id;
    let dir = worker_dir(data.path(), id.as_str());
    let mut files: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["events.jsonl", "worker.json"],
        "the record is complete, no temp file left"
    );

    let ack = send(&runtime, &id, "persist me").await.unwrap();
    // No waiting: the input is on disk by the time send_input answered.
    let events = fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let accepted: Event = serde_json::from_str(events.lines().nth(1).unwrap()).unwrap();
    assert_eq!(accepted.sequence, ack.sequence);
    assert_eq!(kinds(&[accepted]), ["input_accepted"]);
    let transcript = fs::read_to_string(dir.join("transcript.jsonl")).unwrap();
    assert!(transcript.starts_with(&format!(
        "{{\"sequence\":{},\"role\":\"user\"",
        ack.sequence
    )));
    run_events(&runtime, &id, ack.sequence).await;
}

#[tokio::test]
async fn a_run_active_when_the_process_died_is_recorded_as_failed() {
    let data = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(), data.path()).unwrap();
    let id = runtime
        .create_worker(CreateWorker {
            profile: Some("slow".into()),
            ..named(wid("busy"))
        })
        .await
        .unwrap()
        .worker_id;
    let ack = send(&runtime, &id, "long job").await.unwrap();
    events_until(&runtime, &id, ack.sequence, &["output_delta"]).await;
    // The files as they are now, mid-run, are what a killed process leaves behind.
    let copy = worker_dir(crashed.path(), "busy");
    fs::create_dir_all(&copy).unwrap();
    for file in ["worker.json", "events.jsonl", "transcript.jsonl"] {
        fs::copy(worker_dir(data.path(), "busy").join(file), copy.join(file)).unwrap();
    }

    let restarted = Runtime::open(config(), crashed.path()).unwrap();
    let detail = restarted.get_worker(&id).unwrap();
    assert_eq!(detail.status, WorkerStatus::Idle);
    let events = events_until(&restarted, &id, ack.sequence - 1, &["run_failed"]).await;
    assert_eq!(
        kinds(&events),
        [
            "input_accepted",
            "run_started",
            "output_delta",
            "run_failed"
        ]
    );
    let worker_runtime::EventKind::RunFailed { reason, .. } = &events[3].kind else {
        unreachable!()
    };
    assert_eq!(reason, "runtime restarted");
    // The failure is stored too: a second restart does not record it again.
    drop(restarted);
    let again = Runtime::open(config(), crashed.path()).unwrap();
    assert_eq!(
        again.get_worker(&id).unwrap().last_sequence,
        detail.last_sequence
    );
}

#[tokio::test]
async fn a_truncated_last_line_is_a_diagnostic_and_the_worker_still_loads() {
    let data = tempfile::tempdir().unwrap();
    let id = wid("w1");
    let kept = {
        let runtime = Runtime::open(config(), data.path()).unwrap();
        runtime.create_worker(named(id.clone())).await.unwrap();
        converse(&runtime, &id, &["one", "two"]).await;
        all_events(&runtime, &id).await
    };
    let events_file = worker_dir(data.path(), "w1").join("events.jsonl");
    let text = fs::read_to_string(&events_file).unwrap();
    fs::write(&events_file, &text[..text.len() - 12]).unwrap();

    let runtime = Runtime::open(config(), data.path()).unwrap();
    let diagnostics = runtime.diagnostics();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_eq!(diagnostics[0].code, "stored_line_corrupt");
    assert_eq!(diagnostics[0].severity, Severity::Warning);
    assert!(
        diagnostics[0]
            .message
            .contains("worker w1: 1 line(s) of events.jsonl")
    );
    let data_path = data.path().to_string_lossy();
    assert!(
        !diagnostics[0].message.contains(data_path.as_ref()),
        "no path in diagnostics"
    );

    // The cut line was `run_completed`: without it the run looks active at the crash, so the
    // restart records it as failed, under the sequence the cut event never got to deliver.
    let loaded = all_events(&runtime, &id).await;
    let cut = kept.last().unwrap();
    assert_eq!(loaded[..loaded.len() - 1], kept[..kept.len() - 1]);
    let restarted = loaded.last().unwrap();
    assert_eq!(restarted.sequence, cut.sequence);
    assert_eq!(kinds(std::slice::from_ref(restarted)), ["run_failed"]);
    assert_eq!(whole_transcript(&runtime, &id).len(), 4);

    // New events start on a line of their own, so the next open reads them all.
    let ack = runtime.send_input(&id, Input::user("three")).await.unwrap();
    assert_eq!(ack.sequence, cut.sequence + 1);
    run_events(&runtime, &id, ack.sequence).await;
    let last = runtime.get_worker(&id).unwrap().last_sequence;
    drop(runtime);
    let runtime = Runtime::open(config(), data.path()).unwrap();
    assert_eq!(runtime.get_worker(&id).unwrap().last_sequence, last);
    assert_eq!(
        runtime.diagnostics().len(),
        1,
        "only the one old line is corrupt"
    );
}

#[tokio::test]
async fn corrupt_records_and_lines_are_skipped_and_everything_else_loads() {
    let data = tempfile::tempdir().unwrap();
    {
        let runtime = Runtime::open(config(), data.path()).unwrap();
        for id in ["good", "garbled", "lost"] {
            let id = runtime
                .create_worker(named(wid(id)))
                .await
                .unwrap()
                .worker_id;
            converse(&runtime, &id, &["hello"]).await;
        }
    }
    let garbled = worker_dir(data.path(), "garbled").join("events.jsonl");
    let mut lines: Vec<String> = fs::read_to_string(&garbled)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines[2] = "{not json".to_owned();
    fs::write(&garbled, lines.join("\n") + "\n").unwrap();
    fs::write(worker_dir(data.path(), "lost").join("worker.json"), "{}").unwrap();
    fs::create_dir_all(data.path().join("runtimes/stored/workers/.hidden")).unwrap();

    let runtime = Runtime::open(config(), data.path()).unwrap();
    let mut codes: Vec<String> = runtime.diagnostics().into_iter().map(|d| d.code).collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            "stored_events_gap",
            "stored_line_corrupt",
            "stored_worker_invalid",
            "stored_worker_unreadable"
        ]
    );
    assert_eq!(
        runtime.get_worker(&wid("good")).unwrap().status,
        WorkerStatus::Idle
    );

    // The unloadable worker's id stays taken, so nothing new mixes into its folder.
    assert_eq!(
        runtime.get_worker(&wid("lost")).unwrap_err().code(),
        "unknown_worker"
    );
    let reuse = named(wid("lost"));
    assert_eq!(
        runtime.create_worker(reuse).await.unwrap_err().code(),
        "worker_exists"
    );

    // Line 3 held sequence 3: what follows it replays; resuming before it is an honest
    // cursor_expired, never a silent skip.
    let garbled_id = wid("garbled");
    let garbled_events = all_events(&runtime, &garbled_id).await;
    let sequences: Vec<u64> = garbled_events.iter().map(|event| event.sequence).collect();
    assert_eq!(sequences, (4..=lines.len() as u64).collect::<Vec<_>>());
    let expired = runtime.subscribe(&garbled_id, Some(1)).unwrap_err();
    assert_eq!(expired.code(), "cursor_expired");
    assert_eq!(
        whole_transcript(&runtime, &garbled_id).len(),
        2,
        "the transcript is intact"
    );
}

#[tokio::test]
async fn a_worker_whose_profile_is_gone_loads_and_its_runs_say_why() {
    let data = tempfile::tempdir().unwrap();
    {
        let mut with_agent = config();
        with_agent.profiles.insert(
            "agent".into(),
            EngineSettings::Command(CommandSettings {
                program: "cat".into(),
                args: vec![],
                timeout_ms: 10_000,
            }),
        );
        let runtime = Runtime::open(with_agent, data.path()).unwrap();
        runtime
            .create_worker(CreateWorker {
                profile: Some("agent".into()),
                ..named(wid("orphan"))
            })
            .await
            .unwrap();
    }
    let runtime = Runtime::open(config(), data.path()).unwrap();
    let diagnostics = runtime.diagnostics();
    assert_eq!(diagnostics[0].code, "profile_missing");
    let id = wid("orphan");
    let ack = runtime.send_input(&id, Input::user("hi")).await.unwrap();
    let events = run_events(&runtime, &id, ack.sequence).await;
    let worker_runtime::EventKind::RunFailed { reason, .. } = &events.last().unwrap().kind else {
        panic!("{:?}", kinds(&events));
    };
    assert_eq!(reason, "profile agent is not configured on this runtime");
    eventually("idle", || {
        runtime.get_worker(&id).unwrap().status == WorkerStatus::Idle
    })
    .await;
}
