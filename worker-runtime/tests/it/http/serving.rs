//! The server loop (`worker_runtime::http::serve`, the runtime process's and the Backend's)
//! through real sockets: half-sent requests are closed after the header timeout while ordinary
//! requests and an open event stream go on; past the connection cap a new connection is
//! answered `503 too_many_connections`, and the server recovers once connections close.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use worker_runtime::http::{HttpOptions, ServeOptions};

use super::TestServer;
use crate::support::DEADLINE;

/// A short header timeout, so that the test waits little.
const HEADER_TIMEOUT: Duration = Duration::from_millis(500);

/// How many half-sent requests the probe holds.
const HALF_SENT: usize = 1000;

/// The server's address (`127.0.0.1:PORT`).
fn address(server: &TestServer) -> String {
    let rest = server.base.strip_prefix("http://").unwrap();
    rest.trim_end_matches("/v1").to_owned()
}

/// Waits until `socket` is closed by the server (end of file or reset), failing after the
/// deadline; answers what it sent first, if anything.
async fn closed(socket: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 1024];
    let read = tokio::time::timeout(DEADLINE, async {
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "still open after {DEADLINE:?}");
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_after_the_header_timeout_and_nothing_else_is() {
    let serving = ServeOptions {
        header_timeout: HEADER_TIMEOUT,
        max_connections: 10_000,
        tls: None,
    };
    let server =
        TestServer::serving(crate::support::runtime(), HttpOptions::default(), serving).await;
    let worker = server.create("w1").await;
    let events = server.get(&format!("/workers/{worker}/events")).await;
    assert_eq!(events.status(), StatusCode::OK);
    let mut events = yoi_test_support::frames_of(events);

    let address = address(&server);
    let started = Instant::now();
    let mut probes = Vec::with_capacity(HALF_SENT);
    for _ in 0..HALF_SENT {
        let mut socket = TcpStream::connect(&address).await.unwrap();
        socket.write_all(b"GET /v1/hea").await.unwrap();
        probes.push(socket);
    }
    // Ordinary requests are served meanwhile.
    let health = server.get("/health").await;
    assert_eq!(health.status(), StatusCode::OK);
    for socket in &mut probes {
        closed(socket).await;
    }
    let took = started.elapsed();
    assert!(
        took >= HEADER_TIMEOUT,
        "closed before the timeout: {took:?}"
    );

    // The stream, open all along and longer than the timeout, still delivers.
    let sequence = server.input(&worker, "after the probes").await;
    let delivered = tokio::time::timeout(DEADLINE, async {
        while let Some(frame) = events.next().await {
            if frame.id == sequence.to_string() {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(delivered, Ok(true), "the event stream was cut");
}

#[tokio::test]
async fn past_the_cap_a_connection_is_told_to_retry_and_the_server_recovers() {
    let serving = ServeOptions {
        header_timeout: DEADLINE,
        max_connections: 8,
        tls: None,
    };
    let server =
        TestServer::serving(crate::support::runtime(), HttpOptions::default(), serving).await;
    let address = address(&server);
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(&address).await.unwrap());
    }
    // Held connections are accepted in order; wait until the server has taken them all.
    let mut refused = TcpStream::connect(&address).await.unwrap();
    let answer = String::from_utf8(closed(&mut refused).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
    assert!(
        answer.contains(r#""code":"too_many_connections""#),
        "{answer}"
    );

    // One closes: a new request is served again.
    drop(held.pop());
    let started = Instant::now();
    loop {
        let attempt = reqwest::Client::new()
            .get(server.url("/health"))
            .send()
            .await
            .unwrap();
        if attempt.status() == StatusCode::OK {
            break;
        }
        assert_eq!(attempt.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(started.elapsed() < DEADLINE, "never served again");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_early_answer_reaches_a_client_that_sends_its_whole_body_first() {
    let server = TestServer::default().await;
    let worker = server.create("w1").await;
    let head = format!(
        "POST /v1/workers/{worker}/input HTTP/1.1\r\nHost: runtime\r\nContent-Type: application/json\r\n"
    );
    let answer =
        yoi_test_support::send_all_then_read(&address(&server), &head, 9 * 1024 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains(r#""code":"payload_too_large""#), "{answer}");
}
