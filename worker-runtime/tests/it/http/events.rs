use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use worker_runtime::http::HttpOptions;
use worker_runtime::{EchoSettings, EngineSettings};

use super::{SHORT_KEEP_ALIVE, TestServer, expect_error, ids, read_frames};
use crate::support::{DEADLINE, runtime_with, wid};

#[tokio::test]
async fn replay_then_live_with_sse_fields() {
    let server = TestServer::default().await;
    server.create("w1").await;
    let response = server.get("/workers/w1/events?cursor=0").await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let reader = tokio::spawn(read_frames(response, &["run_completed"]));
    server.input("w1", "hello").await;
    let frames = reader.await.unwrap();

    assert_eq!(ids(&frames), (1..=frames.len() as u64).collect::<Vec<_>>());
    let kinds: Vec<&str> = frames.iter().map(|frame| frame.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "worker_created",
            "input_accepted",
            "run_started",
            "output_delta",
            "output_delta",
            "message",
            "run_completed"
        ]
    );
    for frame in &frames {
        assert_eq!(frame.data["kind"], frame.event);
        assert_eq!(frame.data["sequence"].to_string(), frame.id);
    }
    assert_eq!(frames[5].data["content"], "hello");
}

#[tokio::test]
async fn last_event_id_resumes_exactly_after_the_cursor() {
    let server = TestServer::default().await;
    server.create("w1").await;
    server
        .input("w1", "a longer input that streams in several chunks")
        .await;
    let all = read_frames(server.get("/workers/w1/events").await, &["run_completed"]).await;
    let last = all.len() as u64;

    for cursor in [0, 1, 4, last - 1] {
        // The header wins over a stale cursor in the URL.
        let (path, cursor_text) = ("/workers/w1/events?cursor=0", cursor.to_string());
        let resumed = server.get_with(path, "last-event-id", &cursor_text).await;
        let frames = read_frames(resumed, &["run_completed"]).await;
        assert_eq!(ids(&frames), (cursor + 1..=last).collect::<Vec<_>>());
    }
    let query = server
        .get(&format!("/workers/w1/events?cursor={}", last - 2))
        .await;
    assert_eq!(
        ids(&read_frames(query, &["run_completed"]).await),
        [last - 1, last]
    );

    for bad in ["x", "-1", "1.5", ""] {
        let response = server
            .get_with("/workers/w1/events", "last-event-id", bad)
            .await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    let beyond = server
        .get(&format!("/workers/w1/events?cursor={}", last + 1))
        .await;
    expect_error(beyond, StatusCode::BAD_REQUEST, "invalid_input").await;
    let unknown = server.get("/workers/ghost/events").await;
    expect_error(unknown, StatusCode::NOT_FOUND, "unknown_worker").await;
}

#[tokio::test]
async fn idle_streams_get_keep_alive_comments() {
    let options = HttpOptions {
        keep_alive: SHORT_KEEP_ALIVE,
        ..HttpOptions::default()
    };
    let server = TestServer::start(crate::support::runtime(), options).await;
    server.create("w1").await;
    let response = server.get("/workers/w1/events?cursor=1").await;
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    let found = tokio::time::timeout(DEADLINE, async {
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if seen.matches(": keep-alive\n").count() >= 2 {
                return;
            }
        }
    })
    .await;
    assert!(found.is_ok(), "no keep-alive comments: {seen:?}");
}

#[tokio::test]
async fn a_cursor_outside_retention_is_410_before_streaming() {
    let runtime = runtime_with(|config| config.limits.retained_events = 3);
    let server = TestServer::start(runtime, HttpOptions::default()).await;
    server.create("w1").await;
    server.input("w1", "enough text for many events").await;
    read_frames(server.get("/workers/w1/events").await, &["run_completed"]).await;
    let response = server.get("/workers/w1/events?cursor=1").await;
    let message = expect_error(response, StatusCode::GONE, "cursor_expired").await;
    assert!(
        message.starts_with("events after sequence 1 are no longer retained"),
        "{message}"
    );
}

#[tokio::test]
async fn a_client_that_falls_behind_gets_reset_and_the_stream_ends() {
    // A client with a small, fixed receive buffer that does not read, and output far larger than
    // what the sockets can hold, with only 4 events retained: the server cannot write, and the
    // events it still has to send are dropped meanwhile.
    let runtime = runtime_with(|config| {
        config.limits.retained_events = 4;
        config.limits.max_input_bytes = 16 << 20;
        config.profiles.insert(
            "default".into(),
            EngineSettings::Echo(EchoSettings {
                chunk_chars: 64 << 10,
                delay_ms: 0,
            }),
        );
    });
    let options = HttpOptions {
        body_limit: 32 << 20,
        ..HttpOptions::default()
    };
    let server = TestServer::start(runtime, options).await;
    server.create("w1").await;
    let mut client = slow_reader(&server.base, "/workers/w1/events?cursor=1").await;
    let sequence = server.input("w1", &"x".repeat(16 << 20)).await;
    let runtime = server.runtime.clone();
    crate::support::eventually("the run to end", || {
        runtime.get_worker(&wid("w1")).unwrap().status == worker_runtime::WorkerStatus::Idle
    })
    .await;

    // Each SSE frame is written as one chunk, so its lines arrive intact in the raw bytes.
    let mut raw = Vec::new();
    let read = tokio::time::timeout(DEADLINE, client.read_to_end(&mut raw)).await;
    assert!(read.is_ok(), "the stream did not end after its reset");
    let text = String::from_utf8_lossy(&raw);
    let reset = text.find("event: reset\ndata: ").expect("a reset frame");
    assert!(text[reset..].contains("\"code\":\"cursor_expired\""));
    // Everything before the reset was contiguous from the cursor, and some events were skipped.
    let delivered: Vec<u64> = text[..reset]
        .lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .map(|id| id.parse().unwrap())
        .collect();
    assert_eq!(
        delivered,
        (sequence..sequence + delivered.len() as u64).collect::<Vec<_>>()
    );
    let last = runtime.get_worker(&wid("w1")).unwrap().last_sequence;
    assert!(
        sequence + (delivered.len() as u64) < last,
        "nothing was dropped: no fall-behind"
    );
}

/// Opens `path` over a raw connection with a small receive buffer, sends the request and does
/// not read, so the server's writes soon block.
async fn slow_reader(base: &str, path: &str) -> tokio::net::TcpStream {
    let address = base
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .parse()
        .unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    let request = format!("GET /v1{path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn streams_end_after_worker_stopped_and_on_shutdown() {
    let server = TestServer::default().await;
    server.create("w1").await;
    server.create("w2").await;
    let stopping = tokio::spawn(read_frames(
        server.get("/workers/w1/events?cursor=1").await,
        &[],
    ));
    let watching = tokio::spawn(read_frames(
        server.get("/workers/w2/events?cursor=1").await,
        &[],
    ));

    let stopped = server.post("/workers/w1/stop", json!(null)).await;
    assert_eq!(stopped.status(), StatusCode::OK);
    let frames = stopping.await.unwrap();
    assert_eq!(
        frames.last().unwrap().event,
        "worker_stopped",
        "the stream ended after it"
    );

    // A stopped worker's stream replays and ends by itself.
    let replay = read_frames(server.get("/workers/w1/events").await, &[]).await;
    assert_eq!(ids(&replay), [1, 2]);

    server.shutdown.cancel();
    assert!(
        watching.await.unwrap().is_empty(),
        "the idle stream ended on shutdown"
    );
}
