//! Every route, and every error code each one can produce from an embedded runtime.

use serde_json::{Value, json};

use crate::support::{WORKSPACE, assert_error, backend, backend_with, user};

#[tokio::test]
async fn runtimes_are_listed_with_kind_status_and_authority() {
    let backend = backend().await;
    let (status, body) = backend.get("/api/runtimes").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|runtime| runtime["runtime_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alpha", "frozen"]);
    let alpha = &body["runtimes"][0];
    assert_eq!(alpha["kind"], "embedded");
    assert_eq!(alpha["status"], "available");
    assert_eq!(alpha["authority"], "registry");
    assert_eq!(alpha["compatibility_adapter"], false);
    assert_eq!(alpha["capabilities"]["send_input"], true);
    assert!(alpha["diagnostics"].is_array());
    assert!(alpha["last_seen_at"].is_string());

    let (status, one) = backend.get("/api/runtimes/alpha").await;
    assert_eq!(status, 200);
    assert_eq!(one["runtime_id"], "alpha");
    let answer = backend.get("/api/runtimes/nowhere").await;
    assert_error(&answer, 404, "unknown_runtime");
    let answer = backend.get("/api/runtimes/bad%20id").await;
    assert_error(&answer, 400, "invalid_input");
}

#[tokio::test]
async fn a_worker_lives_its_whole_life_through_the_api() {
    let backend = backend().await;
    let create = json!({ "worker_id": "w1", "profile": "default", "display_name": "reviewer" });
    let response = backend
        .client
        .post(backend.url("/api/runtimes/alpha/workers"))
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["location"],
        "/api/runtimes/alpha/workers/w1"
    );
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["runtime_id"], "alpha");
    assert_eq!(created["worker_id"], "w1");
    assert_eq!(created["display_ref"], "reviewer@alpha");
    assert_eq!(created["kind"], "embedded");
    assert_eq!(created["status"], "idle");

    let sequence = backend.send("alpha", "w1", "hello backend").await;
    assert_eq!(sequence, 2);
    let detail = backend.wait_idle("alpha", "w1").await;
    assert!(detail["last_sequence"].as_u64().unwrap() > sequence);

    let (status, list) = backend.get("/api/runtimes/alpha/workers?limit=10").await;
    assert_eq!(status, 200);
    assert_eq!(list["workers"][0]["worker_id"], "w1");
    assert_eq!(list["next_after"], Value::Null);

    let (status, transcript) = backend
        .get("/api/runtimes/alpha/workers/w1/transcript?start=0&limit=10")
        .await;
    assert_eq!(status, 200);
    let entries = transcript["entries"].as_array().unwrap();
    let said: Vec<(&str, &str)> = entries
        .iter()
        .map(|entry| {
            (
                entry["role"].as_str().unwrap(),
                entry["content"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        said,
        [("user", "hello backend"), ("assistant", "hello backend")]
    );
    assert!(entries[0]["sequence"].is_u64() && entries[0]["at"].is_string());

    let (status, cancelled) = backend
        .post("/api/runtimes/alpha/workers/w1/cancel", Value::Null)
        .await;
    assert_eq!((status, &cancelled["status"]), (200, &json!("idle")));
    let (status, stopped) = backend
        .post("/api/runtimes/alpha/workers/w1/stop", Value::Null)
        .await;
    assert_eq!((status, &stopped["status"]), (200, &json!("stopped")));
}

#[tokio::test]
async fn worker_errors_keep_their_codes() {
    let backend = backend().await;
    backend.create("alpha", "w1", "slow").await;
    let path = "/api/runtimes/alpha/workers";
    let answer = backend.post(path, json!({ "worker_id": "w1" })).await;
    assert_error(&answer, 409, "worker_exists");
    let answer = backend.post(path, json!({ "profile": "nope" })).await;
    assert_error(&answer, 400, "invalid_input");
    let answer = backend.get("/api/runtimes/alpha/workers/ghost").await;
    assert_error(&answer, 404, "unknown_worker");
    let ghost = backend
        .post("/api/runtimes/alpha/workers/ghost/input", user("hi"))
        .await;
    assert_error(&ghost, 404, "unknown_worker");
    assert_eq!(ghost.1["error"]["runtime_id"], "alpha");
    assert_eq!(ghost.1["error"]["worker_id"], "ghost");

    let input = "/api/runtimes/alpha/workers/w1/input";
    backend.send("alpha", "w1", "a slow answer").await;
    let answer = backend.post(input, user("again")).await;
    assert_error(&answer, 409, "worker_busy");
    let answer = backend.post(input, user("  ")).await;
    assert_error(&answer, 400, "invalid_input");
    backend
        .post("/api/runtimes/alpha/workers/w1/stop", Value::Null)
        .await;
    let answer = backend.post(input, user("late")).await;
    assert_error(&answer, 409, "worker_stopped");
    let answer = backend
        .post("/api/runtimes/alpha/workers/w1/cancel", Value::Null)
        .await;
    assert_error(&answer, 409, "worker_stopped");
}

#[tokio::test]
async fn malformed_requests_answer_invalid_input_in_the_error_format() {
    let backend = backend().await;
    backend.create("alpha", "w1", "default").await;
    let input = backend.url("/api/runtimes/alpha/workers/w1/input");
    let raw = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = backend.client.post(&input).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let json_type = Some("application/json");
    for (body, content_type) in [
        (r#"{"kind":"user","content":"x"#, json_type),
        (r#"{"kind":"user","content":5}"#, json_type),
        (r#"{"kind":"robot","content":"x"}"#, json_type),
        (r#"{"kind":"user","content":"x","extra":1}"#, json_type),
        (r#"["user","x"]"#, json_type),
        (r#"{"kind":"user","content":"x"}"#, None),
        (r#"{"kind":"user","content":"x"}"#, Some("text/plain")),
    ] {
        assert_error(&raw(body, content_type).await, 400, "invalid_input");
    }
    for path in [
        "/api/runtimes/alpha/workers?limit=-1",
        "/api/runtimes/alpha/workers?limit=0",
        "/api/runtimes/alpha/workers?after=..",
        "/api/runtimes/alpha/workers?bogus=1",
        "/api/runtimes/alpha/workers/w1/transcript?limit=x",
        "/api/runtimes/alpha/workers/bad.id",
        "/api/runtimes/alpha/workers/%00",
        "/api/runtimes/alpha/workers/%C3%A9",
    ] {
        assert_error(&backend.get(path).await, 400, "invalid_input");
    }
    let long = "x".repeat(65);
    let answer = backend
        .get(&format!("/api/runtimes/alpha/workers/{long}"))
        .await;
    assert_error(&answer, 400, "invalid_input");
    // A segment that is not UTF-8 is named, not blamed on its neighbour.
    let (_, body) = backend.get("/api/runtimes/alpha/workers/%ff").await;
    assert_eq!(
        body["error"]["message"],
        "the worker id in the path is not valid UTF-8"
    );
    assert_error(&backend.get("/api/nothing-here").await, 404, "not_found");
    let wrong_method = backend
        .client
        .delete(backend.url("/api/runtimes"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    let body: Value = wrong_method.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn a_body_over_the_limit_is_payload_too_large() {
    let backend = backend_with(WORKSPACE, |options| options.body_limit = 1024).await;
    backend.create("alpha", "w1", "default").await;
    let content = "x".repeat(4096);
    let answer = backend
        .post("/api/runtimes/alpha/workers/w1/input", user(&content))
        .await;
    assert_error(&answer, 413, "payload_too_large");
    let (_, transcript) = backend
        .get("/api/runtimes/alpha/workers/w1/transcript")
        .await;
    assert_eq!(transcript["entries"], json!([]));
}

#[tokio::test]
async fn an_early_answer_reaches_a_client_that_sends_its_whole_body_first() {
    let backend = backend().await;
    backend.create("alpha", "w1", "default").await;
    let address = backend.base.strip_prefix("http://").unwrap().to_owned();
    let head = "POST /api/runtimes/alpha/workers/w1/input HTTP/1.1\r\nHost: backend\r\n\
                Content-Type: application/json\r\n";
    let answer = yoi_test_support::send_all_then_read(&address, head, 9 * 1024 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains(r#""code":"payload_too_large""#), "{answer}");
    // Refused before the body is read at all: the same.
    let token = worker_runtime::http::BearerToken::new("browser-secret").unwrap();
    let guarded = backend_with(WORKSPACE, |options| options.token = Some(token)).await;
    let address = guarded.base.strip_prefix("http://").unwrap().to_owned();
    let answer = yoi_test_support::send_all_then_read(&address, head, 9 * 1024 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 401 "), "{answer}");
}

#[tokio::test]
async fn the_browser_token_guards_every_api_route_but_not_health() {
    let token = worker_runtime::http::BearerToken::new("browser-secret").unwrap();
    let backend = backend_with(WORKSPACE, |options| options.token = Some(token)).await;
    for path in [
        "/api/runtimes",
        "/api/workers",
        "/api/hosts",
        "/api/openapi.json",
        "/api/events",
    ] {
        assert_error(&backend.get(path).await, 401, "unauthorized");
        let wrong = backend
            .client
            .get(backend.url(path))
            .bearer_auth("browser-secreT")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
        let right = backend
            .client
            .get(backend.url(path))
            .bearer_auth("browser-secret")
            .send()
            .await
            .unwrap();
        assert_eq!(right.status(), 200, "{path}");
    }
    // A mutation refused for want of the token is audited like any other attempt.
    let refused = backend
        .client
        .post(backend.url("/api/runtimes/alpha/workers/w1/stop"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let lines = backend.audit_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        (
            &lines[0]["operation"],
            &lines[0]["outcome"],
            &lines[0]["error_code"]
        ),
        (
            &json!("stop_worker"),
            &json!("denied"),
            &json!("unauthorized")
        )
    );
    assert_eq!(
        (&lines[0]["runtime_id"], &lines[0]["worker_id"]),
        (&json!("alpha"), &json!("w1"))
    );
    let (status, health) = backend.get("/healthz").await;
    assert_eq!((status, health), (200, json!({ "status": "ok" })));
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let backend = backend().await;
    let echoed = backend
        .client
        .get(backend.url("/api/runtimes"))
        .header("x-request-id", "trace-42.a_b")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-42.a_b");
    let mut generated = Vec::new();
    for unusable in ["", "has space", &"x".repeat(65)] {
        let response = backend
            .client
            .get(backend.url("/api/nothing"))
            .header("x-request-id", unusable)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(!id.is_empty() && id != unusable);
        generated.push(id);
    }
    generated.dedup();
    assert_eq!(generated.len(), 3, "ids are unique: {generated:?}");
}
