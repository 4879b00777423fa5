use reqwest::StatusCode;
use serde_json::{Value, json};
use worker_runtime::http::HttpOptions;

use super::{TestServer, expect_error, user};
use crate::support::{eventually, runtime_with, slow_echo_runtime, wid};

#[tokio::test]
async fn runtime_info_has_the_summary_and_diagnostics() {
    let server = TestServer::default().await;
    server.create("w1").await;
    let info: Value = server.json("/runtime").await;
    assert_eq!(info["runtime_id"], "test-runtime");
    assert_eq!(info["workers"]["idle"], 1);
    assert_eq!(info["profiles"], json!(["default"]));
    assert_eq!(info["capabilities"]["events"], true);
    assert_eq!(info["diagnostics"], json!([]));
    let health: Value = server.json("/health").await;
    assert_eq!(health, json!({"status": "ok"}));
}

#[tokio::test]
async fn create_answers_201_with_the_detail_and_typed_refusals() {
    let server = TestServer::start(
        runtime_with(|config| config.limits.max_workers = 2),
        HttpOptions::default(),
    )
    .await;
    let body = json!({"worker_id": "w1", "display_name": "Scout"});
    let created = server.post("/workers", body).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let detail: Value = created.json().await.unwrap();
    assert_eq!(detail["worker_id"], "w1");
    assert_eq!(detail["display_name"], "Scout");
    assert_eq!(detail["status"], "idle");
    assert_eq!(detail["last_sequence"], 1);

    let taken = server.post("/workers", json!({"worker_id": "w1"})).await;
    expect_error(taken, StatusCode::CONFLICT, "worker_exists").await;
    for body in [
        json!({"worker_id": "../x"}),
        json!({"worker_id": "a".repeat(65)}),
        json!({"worker_id": ""}),
        json!({"worker_id": 7}),
        json!({"profile": "nope"}),
        json!({"colour": "red"}),
        json!([]),
    ] {
        let refused = server.post("/workers", body.clone()).await;
        expect_error(refused, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    let idle = server.runtime.summary().workers.idle;
    assert_eq!(idle, 1, "no refusal created a worker");

    server.create("w2").await;
    let over = server.post("/workers", json!({})).await;
    expect_error(over, StatusCode::FORBIDDEN, "forbidden_by_policy").await;
}

#[tokio::test]
async fn malformed_bodies_answer_invalid_input_in_the_project_format() {
    let server = TestServer::default().await;
    let cases: [(&str, &[u8]); 4] = [
        ("application/json", b"{"),
        ("application/json", b"\xff\xfe"),
        ("text/plain", b"{}"),
        ("application/x-www-form-urlencoded", b"worker_id=w1"),
    ];
    for (content_type, body) in cases {
        let response = server
            .client
            .post(server.url("/workers"))
            .header("content-type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    let missing_type = server.client.post(server.url("/workers")).body("{}");
    let missing_type = missing_type.send().await.unwrap();
    expect_error(missing_type, StatusCode::BAD_REQUEST, "invalid_input").await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_payload_too_large() {
    let options = HttpOptions {
        body_limit: 1024,
        ..HttpOptions::default()
    };
    let server = TestServer::start(crate::support::runtime(), options).await;
    server.create("w1").await;
    let big = json!({"kind": "user", "content": "x".repeat(2048)});
    let response = server.post("/workers/w1/input", big).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let worker = server.runtime.get_worker(&wid("w1")).unwrap();
    assert_eq!(worker.last_sequence, 1);
}

#[tokio::test]
async fn listing_pages_and_refuses_bad_parameters() {
    let server = TestServer::default().await;
    for id in ["c", "a", "b"] {
        server.create(id).await;
    }
    let first: Value = server.json("/workers?limit=2").await;
    let names = first["workers"].as_array().unwrap().iter();
    let names: Vec<_> = names.map(|worker| &worker["worker_id"]).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(first["next_after"], "b");
    let rest = server.json("/workers?limit=2&after=b").await;
    assert_eq!(rest["workers"][0]["worker_id"], "c");
    assert_eq!(rest["next_after"], Value::Null);

    for query in [
        "limit=0",
        "limit=-1",
        "limit=1001",
        "limit=99999999999999999999999",
        "limit=ten",
        "after=..%2Fx",
        "sort=name",
    ] {
        let response = server.get(&format!("/workers?{query}")).await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
}

#[tokio::test]
async fn worker_paths_validate_the_id_then_find_the_worker() {
    let server = TestServer::default().await;
    server.create("w1").await;
    let detail: Value = server.json("/workers/w1").await;
    assert_eq!(detail["worker_id"], "w1");

    let unknown = server.get("/workers/ghost").await;
    expect_error(unknown, StatusCode::NOT_FOUND, "unknown_worker").await;
    let long = "a".repeat(65);
    for bad in ["..%2Fx", "a.b", "a%00b", "w%C3%B6rker", "-w", long.as_str()] {
        for suffix in ["", "/transcript", "/events"] {
            let response = server.get(&format!("/workers/{bad}{suffix}")).await;
            expect_error(response, StatusCode::BAD_REQUEST, "invalid_input").await;
        }
        for action in ["input", "stop", "cancel"] {
            let path = format!("/workers/{bad}/{action}");
            let response = server.post(&path, user("x")).await;
            expect_error(response, StatusCode::BAD_REQUEST, "invalid_input").await;
        }
    }
}

#[tokio::test]
async fn input_answers_202_with_the_ack_and_typed_refusals() {
    let server = TestServer::start(slow_echo_runtime(), HttpOptions::default()).await;
    server.create("w1").await;
    for body in [
        json!({"kind": "user", "content": ""}),
        json!({"kind": "user", "content": "  "}),
        json!({"kind": "robot", "content": "hi"}),
        json!({"kind": "user"}),
        json!({"kind": "user", "content": 5}),
        json!({"kind": "user", "content": "hi", "extra": true}),
    ] {
        let response = server.post("/workers/w1/input", body.clone()).await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    let too_big = json!({"kind": "user", "content": "x".repeat(256 * 1024 + 1)});
    let response = server.post("/workers/w1/input", too_big).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let worker = server.runtime.get_worker(&wid("w1")).unwrap();
    assert_eq!(worker.last_sequence, 1);

    let accepted = server.post("/workers/w1/input", user("slow")).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(
        accepted.json::<Value>().await.unwrap(),
        json!({"worker_id": "w1", "sequence": 2})
    );

    let busy = server.post("/workers/w1/input", user("again")).await;
    expect_error(busy, StatusCode::CONFLICT, "worker_busy").await;

    let unknown = server.post("/workers/ghost/input", user("hi")).await;
    expect_error(unknown, StatusCode::NOT_FOUND, "unknown_worker").await;
}

#[tokio::test]
async fn cancel_and_stop_answer_the_detail_and_stopped_workers_refuse() {
    let server = TestServer::start(slow_echo_runtime(), HttpOptions::default()).await;
    server.create("w1").await;
    server.input("w1", "slow").await;

    let cancelled = server.post("/workers/w1/cancel", json!(null)).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    assert_eq!(cancelled.json::<Value>().await.unwrap()["status"], "idle");

    server.input("w1", "slow").await;
    let stopped = server.post_empty("/workers/w1/stop").await;
    assert_eq!(stopped.status(), StatusCode::OK);
    assert_eq!(stopped.json::<Value>().await.unwrap()["status"], "stopped");

    let input = server.post("/workers/w1/input", user("hi")).await;
    expect_error(input, StatusCode::CONFLICT, "worker_stopped").await;
    let cancel = server.post_empty("/workers/w1/cancel").await;
    expect_error(cancel, StatusCode::CONFLICT, "worker_stopped").await;
    let again = server.post_empty("/workers/w1/stop").await;
    assert_eq!(again.status(), StatusCode::OK);

    for action in ["stop", "cancel"] {
        let response = server.post_empty(&format!("/workers/ghost/{action}")).await;
        expect_error(response, StatusCode::NOT_FOUND, "unknown_worker").await;
    }
}

#[tokio::test]
async fn transcript_pages_and_refuses_bad_parameters() {
    let server = TestServer::default().await;
    server.create("w1").await;
    server.input("w1", "hello").await;
    let runtime = server.runtime.clone();
    let transcript = || runtime.transcript(&wid("w1"), 0, None).unwrap();
    eventually("the run to finish", || transcript().entries.len() == 2).await;

    let first = server.json("/workers/w1/transcript?limit=1").await;
    assert_eq!(first["entries"][0]["role"], "user");
    assert_eq!(first["entries"][0]["content"], "hello");
    assert_eq!(first["entries"][0]["sequence"], 2);
    let next = first["next_start"].as_u64().unwrap();
    let path = format!("/workers/w1/transcript?start={next}&limit=1");
    let second = server.json(&path).await;
    assert_eq!(second["entries"][0]["role"], "assistant");
    assert_eq!(second["next_start"], Value::Null);

    for query in ["limit=0", "limit=1001", "start=-1", "start=x", "begin=1"] {
        let response = server.get(&format!("/workers/w1/transcript?{query}")).await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    let unknown = server.get("/workers/ghost/transcript").await;
    expect_error(unknown, StatusCode::NOT_FOUND, "unknown_worker").await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_project_format() {
    let server = TestServer::default().await;
    let nope = server.get("/nope").await;
    expect_error(nope, StatusCode::NOT_FOUND, "not_found").await;
    let delete = server.client.delete(server.url("/workers"));
    let delete = delete.send().await.unwrap();
    expect_error(delete, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}
