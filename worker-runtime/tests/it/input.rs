use worker_runtime::{EventKind, Input, Role, WorkerStatus};

use crate::support::{
    create, events_until, eventually, kinds, run_events, runtime, runtime_with, send,
    slow_echo_runtime,
};

#[tokio::test]
async fn blank_input_is_invalid_and_records_nothing() {
    let runtime = runtime();
    let id = create(&runtime).await;
    for content in ["", "   ", "\n\t"] {
        let error = send(&runtime, &id, content).await.unwrap_err();
        assert_eq!(error.code(), "invalid_input", "{content:?}");
    }
    assert_eq!(runtime.get_worker(&id).unwrap().last_sequence, 1);
}

#[tokio::test]
async fn input_over_the_limit_is_payload_too_large() {
    let runtime = runtime_with(|config| config.limits.max_input_bytes = 8);
    let id = create(&runtime).await;
    let error = send(&runtime, &id, "123456789").await.unwrap_err();
    assert_eq!(error.code(), "payload_too_large");
    assert_eq!(
        error.to_string(),
        "input is 9 bytes; this runtime accepts at most 8"
    );
    // Bytes count, not characters: four two-byte characters fit, five do not.
    assert!(runtime.send_input(&id, Input::user("ééééé")).await.is_err());
    assert_eq!(runtime.get_worker(&id).unwrap().last_sequence, 1);

    let ack = runtime.send_input(&id, Input::user("éééé")).await.unwrap();
    assert_eq!(ack.sequence, 2);
    let events = run_events(&runtime, &id, ack.sequence).await;
    assert_eq!(
        events.last().unwrap().kind,
        EventKind::RunCompleted { usage: None }
    );
}

#[tokio::test]
async fn input_while_running_is_worker_busy_and_cancel_frees_the_worker() {
    let runtime = slow_echo_runtime();
    let id = create(&runtime).await;
    let ack = runtime.send_input(&id, Input::user("slow")).await.unwrap();
    assert_eq!(
        runtime.get_worker(&id).unwrap().status,
        WorkerStatus::Running
    );
    // The first chunk streams at once; the second waits a minute.
    events_until(&runtime, &id, ack.sequence, &["output_delta"]).await;

    let busy = send(&runtime, &id, "again").await.unwrap_err();
    assert_eq!(busy.code(), "worker_busy");

    let detail = runtime.cancel_worker(&id).await.unwrap();
    assert_eq!(
        detail.status,
        WorkerStatus::Idle,
        "cancel returns once the run has ended"
    );
    let events = run_events(&runtime, &id, ack.sequence).await;
    assert_eq!(
        kinds(&events),
        [
            "input_accepted",
            "run_started",
            "output_delta",
            "run_cancelled"
        ]
    );

    // The Worker takes input again after the cancel.
    let next = runtime.send_input(&id, Input::user("x")).await.unwrap();
    assert!(next.sequence > events.last().unwrap().sequence);
}

#[tokio::test]
async fn the_ack_is_the_input_accepted_sequence_and_run_started_follows() {
    let runtime = runtime();
    let id = create(&runtime).await;
    let ack = runtime
        .send_input(&id, Input::system("be brief"))
        .await
        .unwrap();
    assert_eq!(ack.worker_id, id);
    let events = run_events(&runtime, &id, ack.sequence).await;
    assert_eq!(events[0].sequence, ack.sequence);
    assert_eq!(
        events[0].kind,
        EventKind::InputAccepted {
            role: Role::System,
            content: "be brief".into()
        }
    );
    assert_eq!(events[1].kind, EventKind::RunStarted);
    assert_eq!(events[1].sequence, ack.sequence + 1);

    let transcript = runtime.transcript(&id, 0, None).unwrap();
    assert_eq!(transcript.entries[0].role, Role::System);
    assert_eq!(transcript.entries[1].role, Role::Assistant);
    let idle = || runtime.get_worker(&id).unwrap().status == WorkerStatus::Idle;
    eventually("the worker to be idle", idle).await;
}

#[tokio::test]
async fn many_workers_run_at_once() {
    let runtime = runtime();
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(create(&runtime).await);
    }
    let mut acks = Vec::new();
    for id in &ids {
        let input = Input::user(format!("hello {id}"));
        acks.push(runtime.send_input(id, input).await.unwrap());
    }
    for (id, ack) in ids.iter().zip(acks) {
        let events = run_events(&runtime, id, ack.sequence).await;
        let EventKind::Message { content, .. } = &events[events.len() - 2].kind else {
            panic!("{:?}", kinds(&events));
        };
        assert_eq!(content, &format!("hello {id}"));
    }
}

#[test]
fn a_run_dropped_with_its_tokio_runtime_is_recorded_as_cancelled() {
    let runtime = slow_echo_runtime();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let id = tokio.block_on(async {
        let id = create(&runtime).await;
        runtime.send_input(&id, Input::user("slow")).await.unwrap();
        tokio::task::yield_now().await;
        id
    });
    assert_eq!(
        runtime.get_worker(&id).unwrap().status,
        WorkerStatus::Running
    );
    drop(tokio);

    let detail = runtime.get_worker(&id).unwrap();
    assert_eq!(
        detail.status,
        WorkerStatus::Idle,
        "no Worker stays running without its run"
    );
    let page = runtime.transcript(&id, 0, None).unwrap();
    assert_eq!(page.entries.len(), 1);
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let events = tokio.block_on(crate::support::events_until(
        &runtime,
        &id,
        0,
        &["run_cancelled"],
    ));
    assert_eq!(kinds(&events).last(), Some(&"run_cancelled"));
}
