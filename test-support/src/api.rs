//! The Backend's HTTP API as a browser calls it, with a record of every answer for leak checks.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use crate::{DEADLINE, Frames, frames_of, open_events};

/// A client of one Backend: JSON calls and event streams, each answer recorded.
pub struct Api {
    /// The Backend's URL, `http://127.0.0.1:PORT`.
    pub base: String,
    /// The HTTP client every call goes through.
    pub client: reqwest::Client,
    /// Every answer's status line, headers and body, in order.
    pub answers: Mutex<Vec<String>>,
}

impl Api {
    /// A client of the Backend at `base`.
    pub fn new(base: String) -> Self {
        // Pooled connections are let go before the server's header timeout (10 s) would close
        // them under a request.
        let client = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .expect("a client builds");
        Self {
            base,
            client,
            answers: Mutex::new(Vec::new()),
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`, or `POST path` with `body` (none when `Value::Null`): the status and the
    /// JSON body (`null` when the body is empty; anything else must be JSON).
    pub async fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let url = self.url(path);
        let request = match method {
            "GET" => self.client.get(url),
            _ if body.is_null() => self.client.post(url),
            _ => self.client.post(url).json(&body),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let mut record = format!("{method} {path} -> {status}\n{:?}\n", response.headers());
        let text = response.text().await.unwrap();
        record.push_str(&text);
        self.answers.lock().unwrap().push(record);
        if text.is_empty() {
            return (status, Value::Null);
        }
        let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, json)
    }

    /// `GET path`: status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, Value::Null).await
    }

    /// `POST path` with a JSON body (none when `Value::Null`): status and JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, body).await
    }

    /// Opens `runtime/worker`'s event stream, resuming after `last`; its headers are recorded.
    pub async fn events(&self, runtime: &str, worker: &str, last: Option<u64>) -> Frames {
        let (headers, frames) = open_events(&self.client, &self.base, runtime, worker, last).await;
        self.answers.lock().unwrap().push(format!("{headers:?}"));
        frames
    }

    /// Opens the workspace feed, `GET /api/events` followed by `query` (empty, or from `?`); the
    /// status must be 200, and the headers are recorded.
    pub async fn feed(&self, query: &str) -> Frames {
        let response = self
            .client
            .get(self.url(&format!("/api/events{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "the feed at {query:?}");
        let record = format!("GET /api/events{query} -> 200\n{:?}", response.headers());
        self.answers.lock().unwrap().push(record);
        frames_of(response)
    }

    /// Polls `runtime/worker` until it is idle; answers its detail.
    pub async fn wait_idle(&self, runtime: &str, worker: &str) -> Value {
        let path = format!("/api/runtimes/{runtime}/workers/{worker}");
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let (_, detail) = self.get(&path).await;
            if detail["status"] == "idle" {
                return detail;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never idle: {detail}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Polls `runtime/worker` until it is idle; answers its last sequence.
    pub async fn idle_sequence(&self, runtime: &str, worker: &str) -> u64 {
        let detail = self.wait_idle(runtime, worker).await;
        detail["last_sequence"].as_u64().unwrap()
    }
}
