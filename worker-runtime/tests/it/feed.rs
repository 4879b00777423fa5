use std::collections::BTreeMap;

use futures::StreamExt;
use worker_runtime::{Feed, FeedItem, WorkerSnapshot, WorkerStatus};
use yoi_test_support::within;

use crate::support::{create, named, runtime, runtime_with, send, slow_echo_runtime, wid};

/// The next item of `feed`, which must come in time.
async fn next(feed: &mut Feed) -> FeedItem {
    within("the next feed item", feed.next())
        .await
        .expect("the feed goes on")
}

/// The next Worker state of `feed`.
async fn next_state(feed: &mut Feed) -> WorkerSnapshot {
    match next(feed).await {
        FeedItem::Worker(snapshot) => snapshot,
        FeedItem::Synced => panic!("a state was expected, not synced"),
    }
}

/// The states up to the next `synced`, by Worker.
async fn picture(feed: &mut Feed) -> BTreeMap<String, WorkerSnapshot> {
    let mut states = BTreeMap::new();
    while let FeedItem::Worker(snapshot) = next(feed).await {
        states.insert(snapshot.worker_id.as_str().to_owned(), snapshot);
    }
    states
}

#[tokio::test]
async fn a_feed_starts_with_every_worker_then_synced_then_tells_each_new_state() {
    let runtime = slow_echo_runtime();
    runtime
        .create_worker(worker_runtime::CreateWorker {
            display_name: Some("Reviewer".into()),
            ..named(wid("a"))
        })
        .await
        .unwrap();
    let mut feed = runtime.feed();
    let states = picture(&mut feed).await;
    assert_eq!(states.keys().collect::<Vec<_>>(), ["a"]);
    let a = &states["a"];
    assert_eq!((a.status, a.last_sequence), (WorkerStatus::Idle, 1));
    assert_eq!(
        (a.profile.as_str(), a.display_name.as_deref()),
        ("default", Some("Reviewer"))
    );

    let b = create(&runtime).await;
    let created = next_state(&mut feed).await;
    assert_eq!(
        (&created.worker_id, created.status),
        (&b, WorkerStatus::Idle)
    );

    let ack = send(&runtime, &b, "hello").await.unwrap();
    let running = next_state(&mut feed).await;
    assert_eq!(running.status, WorkerStatus::Running);
    assert_eq!(running.last_sequence, ack.sequence + 1, "after run_started");

    runtime.cancel_worker(&b).await.unwrap();
    let idle = next_state(&mut feed).await;
    assert_eq!(idle.status, WorkerStatus::Idle);
    assert!(idle.last_sequence > running.last_sequence);

    runtime.stop_worker(&b).await.unwrap();
    let stopped = next_state(&mut feed).await;
    assert_eq!(stopped.status, WorkerStatus::Stopped);
    assert_eq!(
        stopped.last_sequence,
        runtime.get_worker(&b).unwrap().last_sequence
    );
    assert!(stopped.at >= idle.at);
}

#[tokio::test]
async fn a_stop_during_a_run_tells_stopped_once_the_run_ended() {
    let runtime = slow_echo_runtime();
    let worker = create(&runtime).await;
    send(&runtime, &worker, "hello").await.unwrap();
    let mut feed = runtime.feed();
    assert_eq!(
        picture(&mut feed).await[worker.as_str()].status,
        WorkerStatus::Running
    );
    runtime.stop_worker(&worker).await.unwrap();
    let stopped = next_state(&mut feed).await;
    assert_eq!(stopped.status, WorkerStatus::Stopped);
    assert_eq!(
        stopped.last_sequence,
        runtime.get_worker(&worker).unwrap().last_sequence
    );
}

#[tokio::test]
async fn a_subscriber_that_fell_behind_is_sent_the_whole_picture_again() {
    let runtime = runtime_with(|config| config.limits.max_workers = 3000);
    let mut feed = runtime.feed();
    assert!(picture(&mut feed).await.is_empty());
    // More new states than a subscriber may fall behind, while this one reads nothing.
    let created = 1500;
    for _ in 0..created {
        create(&runtime).await;
    }
    // What it reads ends with the whole picture and `synced`, whatever came before it.
    let mut seen = BTreeMap::new();
    let mut synced = false;
    while !synced || seen.len() < created {
        match next(&mut feed).await {
            FeedItem::Worker(snapshot) => {
                seen.insert(snapshot.worker_id.clone(), snapshot);
            }
            FeedItem::Synced => synced = true,
        }
    }
    assert_eq!(seen.len(), created);
    assert!(
        seen.values()
            .all(|state| state.status == WorkerStatus::Idle)
    );
}

#[tokio::test]
async fn a_dropped_runtime_ends_its_feeds() {
    let runtime = runtime();
    let worker = create(&runtime).await;
    send(&runtime, &worker, "a run that may still be going")
        .await
        .unwrap();
    let mut feed = runtime.feed();
    assert_eq!(picture(&mut feed).await.len(), 1);
    drop(runtime);
    within("the feed's end", async {
        while feed.next().await.is_some() {}
    })
    .await;
}
