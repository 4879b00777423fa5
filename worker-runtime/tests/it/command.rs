use worker_runtime::{EventKind, Input, InputAck, Role, Runtime, WorkerId, WorkerStatus};

use crate::support::{
    command_runtime, create, events_until, eventually, kinds, process_exists, process_running,
    run_events, send, shell_runtime, streamed,
};

/// Waits until the run has streamed `lines` whole lines, and parses them as process ids.
async fn streamed_pids(runtime: &Runtime, id: &WorkerId, after: u64, lines: usize) -> Vec<u32> {
    let mut text = String::new();
    let mut cursor = after;
    while text.matches('\n').count() < lines {
        let events = events_until(runtime, id, cursor, &["output_delta"]).await;
        cursor = events.last().unwrap().sequence;
        text.push_str(&streamed(&events));
    }
    text.lines()
        .map(|line| line.trim().parse().unwrap())
        .collect()
}

/// A runtime whose one Worker runs a 30 s sleep; returns it with the input's ack and the pid.
async fn start_sleeper() -> (Runtime, WorkerId, InputAck, u32) {
    let runtime = shell_runtime("echo $$; exec sleep 30");
    let id = create(&runtime).await;
    let ack = runtime.send_input(&id, Input::user("go")).await.unwrap();
    let pid = streamed_pids(&runtime, &id, ack.sequence, 1).await[0];
    (runtime, id, ack, pid)
}

#[tokio::test]
async fn a_command_gets_the_input_on_stdin_and_its_output_becomes_the_message() {
    let runtime = command_runtime("tr", &["a-z", "A-Z"], 10_000);
    let id = create(&runtime).await;
    let ack = send(&runtime, &id, "hello\nworld").await.unwrap();
    let events = run_events(&runtime, &id, ack.sequence).await;
    assert_eq!(kinds(&events).last(), Some(&"run_completed"));
    assert_eq!(streamed(&events), "HELLO\nWORLD");
    assert_eq!(
        events[events.len() - 2].kind,
        EventKind::Message {
            role: Role::Assistant,
            content: "HELLO\nWORLD".into()
        }
    );
    let transcript = runtime.transcript(&id, 0, None).unwrap();
    assert_eq!(transcript.entries[1].content, "HELLO\nWORLD");
    assert_eq!(runtime.get_worker(&id).unwrap().status, WorkerStatus::Idle);
}

#[tokio::test]
async fn output_streams_while_the_program_still_runs() {
    let runtime = shell_runtime("printf first; exec sleep 30");
    let id = create(&runtime).await;
    let ack = runtime.send_input(&id, Input::user("go")).await.unwrap();
    let events = events_until(&runtime, &id, ack.sequence, &["output_delta"]).await;
    assert_eq!(streamed(&events), "first");
    assert_eq!(
        runtime.get_worker(&id).unwrap().status,
        WorkerStatus::Running
    );
    runtime.cancel_worker(&id).await.unwrap();
}

#[tokio::test]
async fn a_large_input_and_output_do_not_deadlock_the_pipes() {
    let runtime = command_runtime("cat", &[], 30_000);
    let id = create(&runtime).await;
    let input: String = (0..200_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let ack = send(&runtime, &id, input.clone()).await.unwrap();
    let events = run_events(&runtime, &id, ack.sequence).await;
    assert_eq!(kinds(&events).last(), Some(&"run_completed"));
    assert_eq!(streamed(&events), input);
}

#[tokio::test]
async fn a_failing_command_is_run_failed_with_status_and_stderr() {
    let runtime = shell_runtime("cat >/dev/null; echo 'it broke' >&2; exit 3");
    let id = create(&runtime).await;
    let ack = runtime.send_input(&id, Input::user("x")).await.unwrap();
    let events = run_events(&runtime, &id, ack.sequence).await;
    assert_eq!(
        kinds(&events),
        ["input_accepted", "run_started", "run_failed"]
    );
    assert_eq!(
        events[2].kind,
        EventKind::RunFailed {
            reason: "exited with status 3".into(),
            exit_code: Some(3),
            stderr_tail: "it broke\n".into(),
        }
    );
    let transcript = runtime.transcript(&id, 0, None).unwrap();
    assert_eq!(transcript.entries.len(), 1, "a failed run adds no message");
    assert_eq!(runtime.get_worker(&id).unwrap().status, WorkerStatus::Idle);
}

#[tokio::test]
async fn the_stderr_tail_is_bounded_to_its_end() {
    let runtime = shell_runtime("head -c 100000 /dev/zero | tr '\\0' x >&2; echo END >&2; exit 1");
    let id = create(&runtime).await;
    let ack = runtime.send_input(&id, Input::user("x")).await.unwrap();
    let events = run_events(&runtime, &id, ack.sequence).await;
    let EventKind::RunFailed { stderr_tail, .. } = &events.last().unwrap().kind else {
        panic!("{:?}", kinds(&events));
    };
    assert_eq!(stderr_tail.len(), 4096);
    assert!(stderr_tail.ends_with("xxEND\n"));
}

#[tokio::test]
async fn a_missing_program_fails_the_run_without_naming_its_path() {
    let runtime = command_runtime("/nonexistent/bin/agent", &[], 10_000);
    let id = create(&runtime).await;
    let ack = runtime.send_input(&id, Input::user("x")).await.unwrap();
    let events = run_events(&runtime, &id, ack.sequence).await;
    let EventKind::RunFailed { reason, .. } = &events.last().unwrap().kind else {
        panic!("{:?}", kinds(&events));
    };
    assert!(
        reason.starts_with("could not start the profile's program"),
        "{reason}"
    );
    assert!(!reason.contains("/nonexistent"), "{reason}");
}

#[tokio::test]
async fn cancel_kills_the_whole_process_group_and_leaves_no_zombie() {
    // The shell prints its own pid and that of a background child, then waits.
    let runtime = shell_runtime("echo $$; sleep 30 & echo $!; wait");
    let id = create(&runtime).await;
    let ack = runtime.send_input(&id, Input::user("go")).await.unwrap();
    let pids = streamed_pids(&runtime, &id, ack.sequence, 2).await;
    assert!(pids.iter().all(|pid| process_running(*pid)), "{pids:?} run");

    let detail = runtime.cancel_worker(&id).await.unwrap();
    assert_eq!(detail.status, WorkerStatus::Idle);
    let events = run_events(&runtime, &id, ack.sequence).await;
    assert_eq!(kinds(&events).last(), Some(&"run_cancelled"));
    // The shell was our child: it is gone, reaped. The grandchild was killed with the group
    // (whoever inherits it reaps it; it runs no more).
    assert!(
        !process_exists(pids[0]),
        "the shell {} is left behind",
        pids[0]
    );
    eventually("the grandchild to die", || !process_running(pids[1])).await;
}

#[tokio::test]
async fn the_profile_timeout_kills_the_run_and_fails_it() {
    let runtime = command_runtime(
        "sh",
        &["-c", "echo $$; echo waiting >&2; exec sleep 30"],
        300,
    );
    let id = create(&runtime).await;
    let ack = runtime.send_input(&id, Input::user("go")).await.unwrap();
    let events = run_events(&runtime, &id, ack.sequence).await;
    let pid: u32 = streamed(&events).trim().parse().unwrap();
    let EventKind::RunFailed {
        reason,
        exit_code,
        stderr_tail,
    } = &events.last().unwrap().kind
    else {
        panic!("{:?}", kinds(&events));
    };
    assert_eq!(reason, "timed out after 300 ms");
    assert_eq!(*exit_code, None);
    assert_eq!(stderr_tail, "waiting\n");
    assert!(
        !process_exists(pid),
        "the timed-out program {pid} is left behind"
    );
}

#[tokio::test]
async fn a_finished_program_takes_its_stray_background_children_with_it() {
    // Without the group kill the background sleep would hold stdout open for 30 s.
    let runtime = shell_runtime("sleep 30 & echo $!; echo done");
    let id = create(&runtime).await;
    let ack = runtime.send_input(&id, Input::user("go")).await.unwrap();
    let events = run_events(&runtime, &id, ack.sequence).await;
    assert_eq!(kinds(&events).last(), Some(&"run_completed"));
    let output = streamed(&events);
    let (pid, rest) = output.split_once('\n').unwrap();
    assert_eq!(rest, "done\n");
    let pid: u32 = pid.parse().unwrap();
    eventually("the stray child to die", || !process_running(pid)).await;
}

#[tokio::test]
async fn stop_during_a_run_cancels_it_then_stops_and_ends_streams() {
    let (runtime, id, ack, pid) = start_sleeper().await;

    let detail = runtime.stop_worker(&id).await.unwrap();
    assert_eq!(detail.status, WorkerStatus::Stopped);
    assert!(!process_exists(pid));
    // The stream of a stopped worker replays to worker_stopped and then ends by itself.
    let mut stream = runtime.subscribe(&id, Some(ack.sequence - 1)).unwrap();
    let mut seen = Vec::new();
    let ended = tokio::time::timeout(crate::support::DEADLINE, async {
        while let Some(event) = futures::StreamExt::next(&mut stream).await {
            seen.push(event.unwrap());
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream of a stopped worker did not end");
    assert_eq!(
        kinds(&seen),
        [
            "input_accepted",
            "run_started",
            "output_delta",
            "run_cancelled",
            "worker_stopped"
        ]
    );
}

#[tokio::test]
async fn dropping_the_runtime_kills_active_runs() {
    let (runtime, _, _, pid) = start_sleeper().await;
    drop(runtime);
    eventually("the program of a dropped runtime to be gone", || {
        !process_exists(pid)
    })
    .await;
}

#[tokio::test]
async fn a_stop_completes_even_when_its_caller_stops_waiting() {
    let (runtime, id, ack, pid) = start_sleeper().await;

    // Poll the stop once, then drop it, as a disconnecting client would.
    assert!(futures::FutureExt::now_or_never(runtime.stop_worker(&id)).is_none());
    let events = events_until(&runtime, &id, ack.sequence, &["worker_stopped"]).await;
    assert_eq!(
        kinds(&events)[kinds(&events).len() - 2..],
        ["run_cancelled", "worker_stopped"]
    );
    assert_eq!(
        runtime.get_worker(&id).unwrap().status,
        WorkerStatus::Stopped
    );
    assert!(!process_exists(pid));
}
