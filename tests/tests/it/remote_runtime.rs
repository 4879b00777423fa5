use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use yoi_registry_core::{
    ErrorCode, EventKind, FeedEvent, Input, PageRequest, RuntimeHandle, RuntimeKind, RuntimeStatus,
    StreamItem, WorkerId, WorkerState,
};

use crate::support::{
    DEADLINE, assert_error, events_only, in_memory_runtime, named, remote_handle,
    remote_handle_with_token, serve, serve_runtime, through_completion, wid,
};

#[tokio::test]
async fn every_operation_routes_to_the_remote_runtime() {
    let served = serve_runtime("remote").await;
    let remote = remote_handle(served.address, Duration::from_secs(5));
    assert_eq!(remote.descriptor().kind, RuntimeKind::RemoteHttp);

    let overview = remote.overview().await;
    assert_eq!(overview.status, RuntimeStatus::Available);
    assert!(overview.capabilities.events);
    assert!(overview.last_seen_at.is_some());

    let w1 = wid("w1");
    let request = named(&w1);
    assert_eq!(
        remote.create_worker(request.clone()).await.unwrap().status,
        WorkerState::Idle
    );
    let taken = remote.create_worker(request).await.unwrap_err();
    assert_error(&taken, ErrorCode::WorkerExists, served.address);

    let ack = remote
        .send_input(&w1, Input::user("over the wire"))
        .await
        .unwrap();
    let stream = remote.subscribe(&w1, Some(ack.sequence - 1)).await.unwrap();
    let seen = through_completion(&mut events_only(stream)).await;
    assert_eq!(seen[0].kind.name(), "input_accepted");
    assert_eq!(seen[0].sequence, ack.sequence);
    let newest = seen.last().unwrap().sequence;
    let transcript = remote.transcript(&w1, 0, Some(10)).await.unwrap();
    assert_eq!(transcript.entries[1].content, "over the wire");

    let page = remote
        .list_workers(&PageRequest {
            limit: Some(1),
            after: None,
        })
        .await
        .unwrap();
    assert_eq!(page.workers[0].worker_id, w1);
    assert_eq!(
        remote.get_worker(&w1).await.unwrap().last_sequence,
        Some(newest)
    );
    assert_eq!(
        remote.cancel_worker(&w1).await.unwrap().status,
        WorkerState::Idle
    );
    assert_eq!(
        remote.stop_worker(&w1).await.unwrap().status,
        WorkerState::Stopped
    );
    let stopped = remote
        .send_input(&w1, Input::user("again"))
        .await
        .unwrap_err();
    assert_error(&stopped, ErrorCode::WorkerStopped, served.address);

    let ghost = remote.get_worker(&wid("ghost")).await.unwrap_err();
    assert_error(&ghost, ErrorCode::UnknownWorker, served.address);
    let unknown_stream = remote.subscribe(&wid("ghost"), None).await.err().unwrap();
    assert_error(&unknown_stream, ErrorCode::UnknownWorker, served.address);
    let beyond = remote.subscribe(&w1, Some(10_000)).await.err().unwrap();
    assert_error(&beyond, ErrorCode::InvalidInput, served.address);
}

#[tokio::test]
async fn a_wrong_token_is_runtime_auth_failed() {
    let served = serve_runtime("remote").await;
    let remote = remote_handle_with_token(served.address, "not-the-token", Duration::from_secs(5));
    let error = remote
        .list_workers(&PageRequest::default())
        .await
        .unwrap_err();
    assert_error(&error, ErrorCode::RuntimeAuthFailed, served.address);
    let error = remote.subscribe(&wid("w1"), None).await.err().unwrap();
    assert_error(&error, ErrorCode::RuntimeAuthFailed, served.address);
}

/// An http-client handle to the runtime at `address`, on which it has created worker `w1`.
async fn remote_with_w1(address: SocketAddr) -> (Arc<dyn RuntimeHandle>, WorkerId) {
    let remote = remote_handle(address, Duration::from_secs(5));
    let w1 = wid("w1");
    remote.create_worker(named(&w1)).await.unwrap();
    (remote, w1)
}

#[tokio::test]
async fn a_stream_survives_a_runtime_restart_without_loss_or_duplicates() {
    let runtime = in_memory_runtime("remote");
    let served = serve(runtime.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let address = served.address;
    let (remote, w1) = remote_with_w1(address).await;
    let mut events = events_only(remote.subscribe(&w1, Some(0)).await.unwrap());
    let first = tokio::time::timeout(DEADLINE, events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.sequence, 1);

    // The process goes away: its open stream ends. Events happen while it is gone.
    served.stop().await;
    let ack = runtime
        .send_input(&w1, Input::user("while you were away"))
        .await
        .unwrap();
    let restarted = serve(runtime.clone(), address).await;

    let mut sequences = vec![first.sequence];
    sequences.extend(
        through_completion(&mut events)
            .await
            .iter()
            .map(|e| e.sequence),
    );
    let last = runtime.get_worker(&w1).unwrap().last_sequence;
    assert!(last > ack.sequence);
    assert_eq!(sequences, (1..=last).collect::<Vec<_>>());
    drop(restarted);
}

#[tokio::test]
async fn a_stopped_workers_stream_ends_instead_of_reconnecting() {
    let served = serve_runtime("remote").await;
    let (remote, w1) = remote_with_w1(served.address).await;
    let stopped = remote.stop_worker(&w1).await.unwrap();
    let last = stopped.last_sequence.unwrap();

    // Resuming at the last event (a browser reconnecting after worker_stopped): nothing more.
    let resumed = events_only(remote.subscribe(&w1, Some(last)).await.unwrap());
    let rest: Vec<_> = tokio::time::timeout(DEADLINE, resumed.collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    // From the start: the replay, then the end.
    let replay = events_only(remote.subscribe(&w1, None).await.unwrap());
    let all: Vec<_> = tokio::time::timeout(DEADLINE, replay.collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(
        all.last().unwrap().as_ref().unwrap().kind,
        EventKind::WorkerStopped
    );
}

#[tokio::test]
async fn a_stream_tells_when_its_runtime_is_lost_and_when_it_is_back() {
    let runtime = in_memory_runtime("remote");
    let served = serve(runtime.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let address = served.address;
    let (remote, w1) = remote_with_w1(address).await;
    let mut items = remote.subscribe(&w1, Some(0)).await.unwrap();
    assert!(matches!(next_item(&mut items).await, StreamItem::Event(e) if e.sequence() == 1));

    served.stop().await;
    match next_item(&mut items).await {
        StreamItem::Lost(error) => assert_error(&error, ErrorCode::RuntimeUnavailable, address),
        other => panic!("expected the loss, got {other:?}"),
    }
    let ack = runtime
        .send_input(&w1, Input::user("meanwhile"))
        .await
        .unwrap();
    let _restarted = serve(runtime.clone(), address).await;
    assert_eq!(next_item(&mut items).await, StreamItem::Recovered);
    match next_item(&mut items).await {
        StreamItem::Event(event) => assert_eq!(event.sequence(), ack.sequence),
        other => panic!("expected the next event, got {other:?}"),
    }
}

#[tokio::test]
async fn a_feed_tells_its_runtime_lost_then_the_whole_picture_with_what_changed_meanwhile() {
    let runtime = in_memory_runtime("remote");
    let served = serve(runtime.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let address = served.address;
    let (remote, w1) = remote_with_w1(address).await;
    let mut feed = remote.feed().await.unwrap();
    assert!(
        matches!(next_feed(&mut feed).await, FeedEvent::Worker(state) if state.worker_id == w1)
    );
    assert_eq!(next_feed(&mut feed).await, FeedEvent::Synced);

    served.stop().await;
    match next_feed(&mut feed).await {
        FeedEvent::Lost(error) => assert_error(&error, ErrorCode::RuntimeUnavailable, address),
        other => panic!("expected the loss, got {other:?}"),
    }
    let meanwhile = runtime.create_worker(named(&wid("w2"))).await.unwrap();
    runtime.stop_worker(&w1).await.unwrap();
    let _restarted = serve(runtime.clone(), address).await;
    assert_eq!(next_feed(&mut feed).await, FeedEvent::Resync);
    let mut picture = std::collections::BTreeMap::new();
    loop {
        match next_feed(&mut feed).await {
            FeedEvent::Worker(state) => {
                picture.insert(state.worker_id.clone(), state);
            }
            FeedEvent::Synced => break,
            other => panic!("expected the picture, got {other:?}"),
        }
    }
    assert_eq!(picture.len(), 2);
    assert_eq!(picture[&w1].status, worker_runtime::WorkerStatus::Stopped);
    assert_eq!(picture[&meanwhile.worker_id].last_sequence, 1);
}

async fn next_feed(feed: &mut yoi_registry_core::RuntimeFeed) -> FeedEvent {
    let item = tokio::time::timeout(DEADLINE, feed.next()).await;
    item.unwrap().unwrap().unwrap()
}

async fn next_item(items: &mut yoi_registry_core::WorkerEvents) -> StreamItem {
    let item = tokio::time::timeout(DEADLINE, items.next()).await;
    item.unwrap().unwrap().unwrap()
}
