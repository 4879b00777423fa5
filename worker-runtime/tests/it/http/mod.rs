//! The REST + SSE server, driven through real HTTP on 127.0.0.1:0.

/// Bearer-token authentication.
mod auth;
/// Server-Sent Events: replay, live, resume, keep-alive, expiry, ends.
mod events;
/// The feed over SSE.
mod feed;
/// Every REST route and the errors each can return.
mod routes;
/// The server loop: header timeout, connection cap, streams left alone.
mod serving;

use std::time::Duration;

use futures::StreamExt;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use worker_runtime::Runtime;
use worker_runtime::http::{HttpOptions, ServeOptions, router, serve};

use crate::support::DEADLINE;

/// A runtime served on an ephemeral loopback port.
pub(crate) struct TestServer {
    pub(crate) base: String,
    pub(crate) client: Client,
    pub(crate) runtime: Runtime,
    pub(crate) shutdown: CancellationToken,
}

impl TestServer {
    /// Serves `runtime` with `options` (its shutdown token is replaced by the server's own).
    pub(crate) async fn start(runtime: Runtime, options: HttpOptions) -> Self {
        Self::serving(runtime, options, ServeOptions::default()).await
    }

    /// Serves `runtime` with `options`, its connections treated as `serving` says.
    pub(crate) async fn serving(
        runtime: Runtime,
        mut options: HttpOptions,
        serving: ServeOptions,
    ) -> Self {
        let shutdown = CancellationToken::new();
        options.shutdown = shutdown.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        let app = router(runtime.clone(), options);
        let stop = shutdown.clone();
        let header_timeout = serving.header_timeout;
        tokio::spawn(async move {
            serve(listener, app, serving, stop.cancelled_owned())
                .await
                .unwrap()
        });
        // As the Backend's client does: pooled connections are let go before the server's
        // header timeout would close them under a request.
        let client = Client::builder()
            .timeout(DEADLINE)
            .pool_idle_timeout(header_timeout / 2)
            .build()
            .unwrap();
        Self {
            base,
            client,
            runtime,
            shutdown,
        }
    }

    /// Serves a default runtime without authentication.
    pub(crate) async fn default() -> Self {
        Self::start(crate::support::runtime(), HttpOptions::default()).await
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// `GET path` with one more header.
    pub(crate) async fn get_with(&self, path: &str, name: &str, value: &str) -> Response {
        let request = self.client.get(self.url(path)).header(name, value);
        request.send().await.unwrap()
    }

    /// `GET path`, its body as JSON.
    pub(crate) async fn json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Response {
        let request = self.client.post(self.url(path)).json(&body);
        request.send().await.unwrap()
    }

    /// `POST path` without a body.
    pub(crate) async fn post_empty(&self, path: &str) -> Response {
        self.client.post(self.url(path)).send().await.unwrap()
    }

    /// Creates a Worker over HTTP and returns its id.
    pub(crate) async fn create(&self, id: &str) -> String {
        let response = self.post("/workers", json!({ "worker_id": id })).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        id.to_owned()
    }

    /// Sends a user input and returns the ack's sequence.
    pub(crate) async fn input(&self, id: &str, content: &str) -> u64 {
        let path = format!("/workers/{id}/input");
        let response = self.post(&path, user(content)).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        response.json::<Value>().await.unwrap()["sequence"]
            .as_u64()
            .unwrap()
    }
}

/// A user input's body.
pub(crate) fn user(content: &str) -> Value {
    json!({ "kind": "user", "content": content })
}

/// Asserts an error answer: its status and `{"error":{"code"}}`; returns the message.
pub(crate) async fn expect_error(response: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(response.status(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

/// One parsed SSE frame.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) id: String,
    pub(crate) event: String,
    pub(crate) data: Value,
}

/// Reads SSE frames from `response` until one of `last_events` (inclusive) or the stream's end.
pub(crate) async fn read_frames(response: Response, last_events: &[&str]) -> Vec<Frame> {
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = yoi_test_support::frames_of(response);
    let mut frames = Vec::new();
    let read = tokio::time::timeout(DEADLINE, async {
        while let Some(event) = stream.next().await {
            let frame = Frame {
                id: event.id,
                event: event.event,
                data: serde_json::from_str(&event.data).unwrap(),
            };
            let done = last_events.contains(&frame.event.as_str());
            frames.push(frame);
            if done {
                return;
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no {last_events:?} within {DEADLINE:?}: {frames:?}"
    );
    frames
}

/// The `id:` fields of `frames` as numbers.
pub(crate) fn ids(frames: &[Frame]) -> Vec<u64> {
    let ids = frames.iter().map(|frame| frame.id.parse().unwrap());
    ids.collect()
}

/// A short interval for keep-alive tests.
pub(crate) const SHORT_KEEP_ALIVE: Duration = Duration::from_millis(100);
