//! Runtime feeds through the registry, across adapter kinds: the picture, `Synced`, each new
//! state in order; the compatibility adapter has none.

use futures::StreamExt;
use rstest::rstest;
use yoi_registry_core::{ErrorCode, FeedEvent, Input, RuntimeFeed, WorkerSnapshot, WorkerStatus};
use yoi_test_support::within;

use crate::support::{Kind, named, rid, wid, workspace};

async fn next(feed: &mut RuntimeFeed) -> FeedEvent {
    within("the next feed item", feed.next())
        .await
        .expect("the feed goes on")
        .expect("the feed has no error")
}

/// The next state, skipping nothing but asserting it is one.
async fn next_state(feed: &mut RuntimeFeed) -> WorkerSnapshot {
    match next(feed).await {
        FeedEvent::Worker(snapshot) => snapshot,
        other => panic!("a state was expected: {other:?}"),
    }
}

#[rstest]
#[cfg_attr(feature = "embedded", case::embedded(Kind::Embedded))]
#[cfg_attr(feature = "http-client", case::http_client(Kind::HttpClient))]
#[tokio::test]
async fn a_feed_tells_the_picture_then_every_new_state_in_order(#[case] kind: Kind) {
    let workspace = workspace().await;
    let handle = workspace.registry.get(&rid(kind.runtime())).unwrap();
    let first = wid("first");
    handle.create_worker(named(&first)).await.unwrap();
    let mut feed = handle.feed().await.unwrap();
    assert_eq!(next_state(&mut feed).await.worker_id, first);
    assert_eq!(next(&mut feed).await, FeedEvent::Synced);

    let w1 = wid("w1");
    handle.create_worker(named(&w1)).await.unwrap();
    handle.send_input(&w1, Input::user("fed")).await.unwrap();
    handle.stop_worker(&w1).await.unwrap();
    let mut states = Vec::new();
    while states.last().map(|state: &WorkerSnapshot| state.status) != Some(WorkerStatus::Stopped) {
        states.push(next_state(&mut feed).await);
    }
    assert!(states.iter().all(|state| state.worker_id == w1));
    let statuses: Vec<WorkerStatus> = states.iter().map(|state| state.status).collect();
    assert_eq!(statuses.first(), Some(&WorkerStatus::Idle), "created");
    assert!(statuses.contains(&WorkerStatus::Running), "{statuses:?}");
    let sequences: Vec<u64> = states.iter().map(|state| state.last_sequence).collect();
    assert!(
        sequences.windows(2).all(|pair| pair[0] < pair[1]),
        "{sequences:?}"
    );
    let detail = handle.get_worker(&w1).await.unwrap();
    assert_eq!(
        states.last().unwrap().last_sequence,
        detail.last_sequence.unwrap()
    );
}

#[cfg(feature = "local-pod-compat")]
#[tokio::test]
async fn the_compatibility_runtime_has_no_feed() {
    let workspace = workspace().await;
    let handle = workspace
        .registry
        .get(&rid(Kind::LocalPodCompat.runtime()))
        .unwrap();
    let refused = handle.feed().await.err().expect("no feed");
    assert_eq!(refused.code, ErrorCode::UnsupportedOperation);
}
