//! The SSE proxy: one upstream subscription however many browsers watch, resume from the shared
//! buffer or a private replay, a reset for a client that falls behind (and only for it), the
//! grace period, keep-alives, the end of a stopped worker's stream, and refusals before the
//! stream starts.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use yoi_test_support::{Frames, open_events, sequences, until};

use crate::support::{
    Backend, DEADLINE, WORKSPACE, assert_error, backend, backend_with, eventually,
};

/// Opens `worker`'s stream on `alpha`, resuming after `last_event_id` when given.
async fn open(backend: &Backend, worker: &str, last_event_id: Option<u64>) -> Frames {
    let (headers, frames) = open_events(
        &backend.client,
        &backend.base,
        "alpha",
        worker,
        last_event_id,
    )
    .await;
    assert_eq!(headers["content-type"], "text/event-stream");
    frames
}

#[tokio::test]
async fn many_browsers_share_one_upstream_subscription_and_see_the_same_events() {
    let backend = backend().await;
    backend.create("alpha", "w1", "default").await;
    // Browsers resume from the worker's last_sequence, as its detail gives it.
    let mut browsers = Vec::new();
    for _ in 0..3 {
        browsers.push(open(&backend, "w1", Some(1)).await);
    }
    assert_eq!(backend.upstream.load(Ordering::SeqCst), 1);
    assert_eq!(backend.state.shared_streams(), 1);

    backend.send("alpha", "w1", "to everyone").await;
    let last = backend.idle_sequence("alpha", "w1").await;
    for browser in &mut browsers {
        let seen = until(browser, "run_completed").await;
        assert_eq!(sequences(&seen), (2..=last).collect::<Vec<_>>());
        assert_eq!(seen[0].id, "2");
        let data: Value = serde_json::from_str(&seen[0].data).unwrap();
        let identity = [
            &data["runtime_id"],
            &data["worker_id"],
            &data["sequence"],
            &data["kind"],
        ];
        assert_eq!(
            identity,
            [
                &json!("alpha"),
                &json!("w1"),
                &json!(2),
                &json!("input_accepted")
            ]
        );
    }
    assert_eq!(backend.upstream.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_browser_resumes_from_the_shared_buffer_or_a_private_replay_then_joins() {
    let backend = backend().await;
    backend.create("alpha", "w1", "default").await;
    backend.send("alpha", "w1", "first").await;
    let last = backend.idle_sequence("alpha", "w1").await;

    // The shared subscription opens at the newest event.
    let mut tail = open(&backend, "w1", Some(last)).await;
    // Resuming inside what the channel holds costs no upstream subscription.
    let mut inside = open(&backend, "w1", Some(last)).await;
    assert_eq!(backend.upstream.load(Ordering::SeqCst), 1);
    // Resuming from before it needs a private replay, which ends once it has caught up.
    let mut from_start = open(&backend, "w1", None).await;
    let replayed = until(&mut from_start, "run_completed").await;
    assert_eq!(sequences(&replayed), (1..=last).collect::<Vec<_>>());

    backend.send("alpha", "w1", "second").await;
    let newest = backend.idle_sequence("alpha", "w1").await;
    for browser in [&mut tail, &mut inside, &mut from_start] {
        let seen = until(browser, "run_completed").await;
        assert_eq!(sequences(&seen), (last + 1..=newest).collect::<Vec<_>>());
    }
    eventually("the private replay is closed after joining", || {
        backend.upstream.load(Ordering::SeqCst) == 1
    })
    .await;
}

#[tokio::test]
async fn the_upstream_subscription_closes_a_grace_period_after_the_last_browser() {
    let backend = backend_with(WORKSPACE, |options| {
        options.stream_grace = Duration::from_millis(100);
    })
    .await;
    backend.create("alpha", "w1", "default").await;
    let browser = open(&backend, "w1", Some(1)).await;
    drop(browser);
    // A browser that comes back within the grace period finds it open.
    let mut again = open(&backend, "w1", Some(1)).await;
    assert_eq!(backend.upstream.load(Ordering::SeqCst), 1);
    backend.send("alpha", "w1", "still here").await;
    until(&mut again, "run_completed").await;
    drop(again);
    eventually("the channel closes", || backend.state.shared_streams() == 0).await;
    eventually("the upstream subscription is dropped", || {
        backend.upstream.load(Ordering::SeqCst) == 0
    })
    .await;
}

#[tokio::test]
async fn a_browser_that_falls_behind_is_reset_and_the_others_are_not_slowed() {
    let backend = backend_with(WORKSPACE, |options| options.stream_buffer = 64).await;
    backend.create("alpha", "w1", "bulky").await;

    // A browser that reads nothing, with a tiny receive window.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let address = backend.base.trim_start_matches("http://").parse().unwrap();
    let mut slow = socket.connect(address).await.unwrap();
    let request =
        format!("GET /api/runtimes/alpha/workers/w1/events HTTP/1.1\r\nHost: {address}\r\n\r\n");
    slow.write_all(request.as_bytes()).await.unwrap();
    let mut reader = open(&backend, "w1", None).await;
    until(&mut reader, "worker_created").await;

    let content = "y".repeat(200_000);
    let mut expected = 2;
    for _ in 0..24 {
        backend.send("alpha", "w1", &content).await;
        let last = backend.idle_sequence("alpha", "w1").await;
        let seen = until(&mut reader, "run_completed").await;
        assert_eq!(sequences(&seen), (expected..=last).collect::<Vec<_>>());
        expected = last + 1;
    }

    // Reading again, it gets what was queued, then the reset, then the end of the body.
    let mut received = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    while !received.ends_with(b"\r\n0\r\n\r\n") {
        let read = tokio::time::timeout(DEADLINE, slow.read(&mut buffer))
            .await
            .expect("the slow browser's stream ends")
            .unwrap();
        assert!(read > 0, "the connection closed before the body ended");
        received.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&received);
    let tail = &text[text.len().saturating_sub(400)..];
    assert!(tail.contains("event: reset"), "{tail}");
    assert!(tail.contains("\"code\":\"cursor_expired\""), "{tail}");
}

#[tokio::test]
async fn a_stopped_workers_streams_end_after_worker_stopped() {
    let backend = backend().await;
    backend.create("alpha", "w1", "default").await;
    let mut browsers = vec![
        open(&backend, "w1", None).await,
        open(&backend, "w1", None).await,
    ];
    backend
        .post("/api/runtimes/alpha/workers/w1/stop", Value::Null)
        .await;
    for browser in &mut browsers {
        until(browser, "worker_stopped").await;
        let end = tokio::time::timeout(DEADLINE, browser.next())
            .await
            .unwrap();
        assert!(end.is_none(), "{end:?}");
    }
}

#[tokio::test]
async fn idle_streams_get_keep_alive_comments() {
    let backend = backend_with(WORKSPACE, |options| {
        options.keep_alive = Duration::from_millis(50);
    })
    .await;
    backend.create("alpha", "w1", "default").await;
    let response = backend
        .client
        .get(backend.url("/api/runtimes/alpha/workers/w1/events"))
        .header("last-event-id", "1")
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let chunk = tokio::time::timeout(DEADLINE, body.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&chunk[..], b": keep-alive\n\n");
}

#[tokio::test]
async fn streams_are_refused_before_they_start() {
    let backend = backend().await;
    backend.create("alpha", "w1", "default").await;
    let events = backend.url("/api/runtimes/alpha/workers/w1/events");
    let with_id = |id: &'static str| {
        let request = backend.client.get(&events).header("last-event-id", id);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    assert_error(&with_id("one").await, 400, "invalid_input");
    assert_error(&with_id("-1").await, 400, "invalid_input");
    assert_error(&with_id("99").await, 400, "invalid_input");
    let answer = backend
        .get("/api/runtimes/alpha/workers/w1/events?cursor=x")
        .await;
    assert_error(&answer, 400, "invalid_input");
    let answer = backend
        .get("/api/runtimes/alpha/workers/ghost/events")
        .await;
    assert_error(&answer, 404, "unknown_worker");
    assert_eq!(backend.upstream.load(Ordering::SeqCst), 0);
    assert_eq!(backend.state.shared_streams(), 0);
}

#[tokio::test]
async fn the_opening_browser_gets_every_retained_event_even_beyond_the_buffer() {
    let backend = backend_with(WORKSPACE, |options| options.stream_buffer = 4).await;
    backend.create("alpha", "w1", "default").await;
    backend
        .send("alpha", "w1", "more events than the buffer holds")
        .await;
    let last = backend.idle_sequence("alpha", "w1").await;
    assert!(last > 4);
    let mut browser = open(&backend, "w1", None).await;
    let seen = until(&mut browser, "run_completed").await;
    assert_eq!(sequences(&seen), (1..=last).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_browser_reconnecting_after_worker_stopped_is_told_there_is_nothing_more() {
    let backend = backend().await;
    backend.create("alpha", "w1", "default").await;
    let (_, stopped) = backend
        .post("/api/runtimes/alpha/workers/w1/stop", Value::Null)
        .await;
    let last = stopped["last_sequence"].as_u64().unwrap();
    let url = backend.url("/api/runtimes/alpha/workers/w1/events");
    let upstream = backend.upstream.load(Ordering::SeqCst);
    for _ in 0..3 {
        // 204 is what makes an EventSource stop reconnecting.
        let response = backend
            .client
            .get(&url)
            .header("last-event-id", last.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        assert!(response.bytes().await.unwrap().is_empty());
    }
    // No subscription at the runtime was left open for them.
    assert_eq!(backend.upstream.load(Ordering::SeqCst), upstream);
    // One that has not seen the end gets it, and the stream ends.
    let mut browser = open(&backend, "w1", Some(last - 1)).await;
    let seen = until(&mut browser, "worker_stopped").await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    let end = tokio::time::timeout(DEADLINE, browser.next())
        .await
        .unwrap();
    assert!(end.is_none(), "{end:?}");
}
