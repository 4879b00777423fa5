use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yoi_registry_core::{ErrorCode, PageRequest, RuntimeStatus};

use crate::support::{assert_error, remote_handle, wid};

/// How the mock runtime misbehaves.
#[derive(Clone, Copy)]
enum Misbehaviour {
    GarbageError,
    NeverAnswers,
    ClosesMidBody,
    Unauthorized,
    HtmlInsteadOfJson,
    TruncatedJson,
}

/// A runtime that accepts connections and answers every request with `misbehaviour`; counts
/// requests.
async fn mock(misbehaviour: Misbehaviour) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let answer: &[u8] = match misbehaviour {
                    Misbehaviour::GarbageError => {
                        b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: 7\r\n\r\ngarbage"
                    }
                    Misbehaviour::NeverAnswers => {
                        std::future::pending::<()>().await;
                        return;
                    }
                    Misbehaviour::ClosesMidBody => {
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"workers\":"
                    }
                    Misbehaviour::Unauthorized => {
                        b"HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
                    }
                    Misbehaviour::HtmlInsteadOfJson => {
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 13\r\n\r\n<html></html>"
                    }
                    Misbehaviour::TruncatedJson => {
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"workers\":"
                    }
                };
                let _ = socket.write_all(answer).await;
                // Closing here cuts a body that promised more.
            });
        }
    });
    (address, requests)
}

#[tokio::test]
async fn every_misbehaviour_maps_to_its_code_without_the_url() {
    use ErrorCode::{RuntimeAuthFailed, RuntimeProtocolError, RuntimeTimeout, RuntimeUnavailable};
    // (misbehaviour, code for a command, code for an event subscription)
    let cases = [
        (
            Misbehaviour::GarbageError,
            RuntimeProtocolError,
            RuntimeProtocolError,
        ),
        (Misbehaviour::NeverAnswers, RuntimeTimeout, RuntimeTimeout),
        // The head says JSON, not an event stream: the subscription refuses it as such.
        (
            Misbehaviour::ClosesMidBody,
            RuntimeUnavailable,
            RuntimeProtocolError,
        ),
        (
            Misbehaviour::Unauthorized,
            RuntimeAuthFailed,
            RuntimeAuthFailed,
        ),
        (
            Misbehaviour::HtmlInsteadOfJson,
            RuntimeProtocolError,
            RuntimeProtocolError,
        ),
        (
            Misbehaviour::TruncatedJson,
            RuntimeProtocolError,
            RuntimeProtocolError,
        ),
    ];
    for (misbehaviour, command_code, stream_code) in cases {
        let (address, _) = mock(misbehaviour).await;
        let remote = remote_handle(address, Duration::from_millis(300));
        let error = remote
            .list_workers(&PageRequest::default())
            .await
            .unwrap_err();
        assert_error(&error, command_code, address);
        let error = remote.subscribe(&wid("w1"), None).await.err().unwrap();
        assert_error(&error, stream_code, address);
    }
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_and_then_listed_from_the_cache() {
    // A port that was just free: nothing listens there.
    let address = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let remote = remote_handle(address, Duration::from_secs(5));
    let error = remote.get_worker(&wid("w1")).await.unwrap_err();
    assert_error(&error, ErrorCode::RuntimeUnavailable, address);
    let overview = remote.overview().await;
    assert_eq!(overview.status, RuntimeStatus::Unavailable);
    assert_eq!(overview.diagnostics[0].code, "runtime_unavailable");
}

#[tokio::test]
async fn a_runtime_known_to_hang_is_listed_without_waiting_again() {
    let (address, requests) = mock(Misbehaviour::NeverAnswers).await;
    let remote = remote_handle(address, Duration::from_millis(300));
    let first = remote.overview().await;
    assert_eq!(first.status, RuntimeStatus::Unavailable);
    assert_eq!(first.diagnostics[0].code, "runtime_timeout");
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    // Known down: answered from the cache, the runtime is not asked again.
    let second = remote.overview().await;
    assert_eq!(second.status, RuntimeStatus::Unavailable);
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}
