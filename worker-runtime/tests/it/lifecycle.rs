use worker_runtime::{
    CreateWorker, DEFAULT_PAGE_LIMIT, EchoSettings, EngineSettings, MAX_PAGE_LIMIT, PageRequest,
    Runtime, WorkerStatus,
};

use crate::support::{
    create, events_until, kinds, named, runtime, runtime_with, send, slow_echo, wid,
};

#[test]
fn runtime_and_its_streams_are_shareable_across_tasks() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    fn sendable<T: Send + 'static>() {}
    shareable::<Runtime>();
    sendable::<worker_runtime::EventStream>();
}

#[tokio::test]
async fn create_picks_free_ids_or_takes_the_callers() {
    let runtime = runtime();
    let first = runtime
        .create_worker(CreateWorker::default())
        .await
        .unwrap();
    assert_eq!(first.worker_id.as_str(), "worker-1");
    assert_eq!(first.status, WorkerStatus::Idle);
    assert_eq!(first.profile, "default");
    assert_eq!(first.last_sequence, 1, "worker_created is sequence 1");

    // A caller-chosen id that looks generated is skipped by the generator.
    let chosen = runtime
        .create_worker(CreateWorker {
            display_name: Some("Reviewer".into()),
            ..named(wid("worker-2"))
        })
        .await
        .unwrap();
    assert_eq!(chosen.display_name.as_deref(), Some("Reviewer"));
    assert_eq!(create(&runtime).await.as_str(), "worker-3");

    let taken = runtime
        .create_worker(named(wid("worker-2")))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), "worker_exists");
    assert_eq!(
        runtime.summary().workers.idle,
        3,
        "nothing was created by the refusal"
    );
}

#[tokio::test]
async fn create_refuses_unknown_profiles_and_bad_display_names() {
    let runtime = runtime();
    let unknown = runtime
        .create_worker(CreateWorker {
            profile: Some("gpt".into()),
            ..CreateWorker::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), "invalid_input");
    assert_eq!(
        unknown.to_string(),
        "unknown profile gpt; available: default"
    );

    let junk = runtime
        .create_worker(CreateWorker {
            profile: Some("../../bin/sh".into()),
            ..CreateWorker::default()
        })
        .await
        .unwrap_err();
    assert!(!junk.to_string().contains("../"), "{junk}");

    for name in ["", "   ", "tab\there", &"n".repeat(129)] {
        let error = runtime
            .create_worker(CreateWorker {
                display_name: Some(name.into()),
                ..CreateWorker::default()
            })
            .await
            .unwrap_err();
        assert_eq!(error.code(), "invalid_input", "{name:?}");
    }
    assert_eq!(
        runtime
            .list_workers(&PageRequest::default())
            .unwrap()
            .workers
            .len(),
        0
    );
}

#[tokio::test]
async fn create_over_max_workers_is_forbidden_by_policy() {
    let runtime = runtime_with(|config| config.limits.max_workers = 2);
    create(&runtime).await;
    create(&runtime).await;
    let error = runtime
        .create_worker(CreateWorker::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden_by_policy");
    assert_eq!(error.to_string(), "this runtime holds at most 2 workers");
}

#[tokio::test]
async fn listing_pages_in_stable_id_order() {
    let runtime = runtime();
    for id in ["delta", "alpha", "echo", "charlie", "bravo"] {
        runtime.create_worker(named(wid(id))).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = runtime
            .list_workers(&PageRequest {
                limit: Some(2),
                after: after.clone(),
            })
            .unwrap();
        assert!(page.workers.len() <= 2);
        seen.extend(
            page.workers
                .iter()
                .map(|worker| worker.worker_id.to_string()),
        );
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"]);

    let everything = runtime.list_workers(&PageRequest::default()).unwrap();
    assert_eq!(everything.workers.len(), 5);
    assert_eq!(
        everything.next_after, None,
        "5 < the default page of {DEFAULT_PAGE_LIMIT}"
    );

    let past_the_end = runtime
        .list_workers(&PageRequest {
            limit: None,
            after: Some(wid("echo")),
        })
        .unwrap();
    assert!(past_the_end.workers.is_empty());
    assert_eq!(past_the_end.next_after, None);
}

#[test]
fn page_limits_outside_1_to_max_are_invalid_input() {
    let runtime = runtime();
    for limit in [0, MAX_PAGE_LIMIT + 1, usize::MAX] {
        let error = runtime
            .list_workers(&PageRequest {
                limit: Some(limit),
                after: None,
            })
            .unwrap_err();
        assert_eq!(error.code(), "invalid_input", "limit {limit}");
    }
    assert!(
        runtime
            .list_workers(&PageRequest {
                limit: Some(MAX_PAGE_LIMIT),
                after: None
            })
            .is_ok()
    );
}

#[tokio::test]
async fn unknown_workers_are_unknown_worker_everywhere() {
    let runtime = runtime();
    let ghost = wid("ghost");
    let errors = [
        runtime.get_worker(&ghost).unwrap_err(),
        send(&runtime, &ghost, "hi").await.unwrap_err(),
        runtime.cancel_worker(&ghost).await.unwrap_err(),
        runtime.stop_worker(&ghost).await.unwrap_err(),
        runtime.transcript(&ghost, 0, None).unwrap_err(),
        runtime.subscribe(&ghost, None).unwrap_err(),
    ];
    for error in errors {
        assert_eq!(error.code(), "unknown_worker");
        assert_eq!(error.to_string(), "worker ghost does not exist");
    }
}

#[tokio::test]
async fn stop_is_final_and_idempotent() {
    let runtime = runtime();
    let id = create(&runtime).await;
    let stopped = runtime.stop_worker(&id).await.unwrap();
    assert_eq!(stopped.status, WorkerStatus::Stopped);
    assert_eq!(stopped.last_sequence, 2);
    let events = events_until(&runtime, &id, 0, &["worker_stopped"]).await;
    assert_eq!(kinds(&events), ["worker_created", "worker_stopped"]);

    let again = runtime.stop_worker(&id).await.unwrap();
    assert_eq!(again.status, WorkerStatus::Stopped);
    assert_eq!(again.last_sequence, 2, "a second stop records nothing");

    let input = send(&runtime, &id, "hi").await.unwrap_err();
    assert_eq!(input.code(), "worker_stopped");
    let cancel = runtime.cancel_worker(&id).await.unwrap_err();
    assert_eq!(cancel.code(), "worker_stopped");
    assert_eq!(runtime.get_worker(&id).unwrap().last_sequence, 2);
}

#[tokio::test]
async fn cancelling_an_idle_worker_changes_nothing() {
    let runtime = runtime();
    let id = create(&runtime).await;
    let detail = runtime.cancel_worker(&id).await.unwrap();
    assert_eq!(detail.status, WorkerStatus::Idle);
    assert_eq!(detail.last_sequence, 1);
}

#[tokio::test]
async fn summary_counts_workers_by_status() {
    let runtime = runtime_with(|config| {
        config.profiles.insert("slow".into(), slow_echo());
        config.profiles.insert(
            "default".into(),
            EngineSettings::Echo(EchoSettings::default()),
        );
    });
    let idle = create(&runtime).await;
    let running = runtime
        .create_worker(CreateWorker {
            profile: Some("slow".into()),
            ..CreateWorker::default()
        })
        .await
        .unwrap()
        .worker_id;
    let stopped = create(&runtime).await;
    send(&runtime, &running, "ab").await.unwrap();
    runtime.stop_worker(&stopped).await.unwrap();

    let summary = runtime.summary();
    assert_eq!(summary.runtime_id.as_str(), "test-runtime");
    assert_eq!(summary.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        (
            summary.workers.idle,
            summary.workers.running,
            summary.workers.stopped
        ),
        (1, 1, 1)
    );
    assert_eq!(summary.profiles, ["default", "slow"]);
    assert!(summary.capabilities.send_input && summary.capabilities.events);
    assert_eq!(
        runtime.get_worker(&idle).unwrap().status,
        WorkerStatus::Idle
    );
}
