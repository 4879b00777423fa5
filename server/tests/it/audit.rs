//! The audit log: one line per mutation attempt, allowed or refused, written before the
//! mutation; no line, no mutation.

use serde_json::{Value, json};

use crate::support::{assert_error, backend};

#[tokio::test]
async fn every_mutation_attempt_is_one_line_and_content_is_never_logged() {
    let backend = backend().await;
    backend.create("alpha", "w1", "default").await;
    backend.send("alpha", "w1", "a secret plan").await;
    backend.wait_idle("alpha", "w1").await;
    let attempts = [
        ("/api/runtimes/frozen/workers", json!({})),
        ("/api/runtimes/ghost/workers/w1/stop", Value::Null),
        (
            "/api/runtimes/alpha/workers/w1/input",
            json!({ "kind": "user" }),
        ),
        ("/api/runtimes/alpha/workers/bad.id/cancel", Value::Null),
        ("/api/runtimes/alpha/workers/w1/cancel", Value::Null),
    ];
    for (path, body) in attempts {
        backend.post(path, body).await;
    }
    let response = backend
        .client
        .post(backend.url("/api/runtimes/alpha/workers/w1/stop"))
        .header("x-request-id", "stop-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let lines = backend.audit_lines();
    let summary: Vec<(Value, Value, Value, Value, Value)> = lines
        .iter()
        .map(|line| {
            (
                line["operation"].clone(),
                line["outcome"].clone(),
                line["error_code"].clone(),
                line["runtime_id"].clone(),
                line["worker_id"].clone(),
            )
        })
        .collect();
    let expected = [
        (
            "create_worker",
            "allowed",
            Value::Null,
            "alpha",
            json!("w1"),
        ),
        ("send_input", "allowed", Value::Null, "alpha", json!("w1")),
        (
            "create_worker",
            "denied",
            json!("forbidden_by_policy"),
            "frozen",
            Value::Null,
        ),
        (
            "stop_worker",
            "rejected",
            json!("unknown_runtime"),
            "ghost",
            json!("w1"),
        ),
        (
            "send_input",
            "rejected",
            json!("invalid_input"),
            "alpha",
            json!("w1"),
        ),
        (
            "cancel_worker",
            "rejected",
            json!("invalid_input"),
            "alpha",
            Value::Null,
        ),
        (
            "cancel_worker",
            "allowed",
            Value::Null,
            "alpha",
            json!("w1"),
        ),
        ("stop_worker", "allowed", Value::Null, "alpha", json!("w1")),
    ]
    .map(|(operation, outcome, code, runtime, worker)| {
        (
            json!(operation),
            json!(outcome),
            code,
            json!(runtime),
            worker,
        )
    });
    assert_eq!(summary, expected);
    assert_eq!(lines[1]["input_bytes"], 41, "the body's size: {}", lines[1]);
    assert_eq!(lines[7]["request_id"], "stop-1");
    assert!(lines.iter().all(|line| line["at"].is_string()));
    let raw = std::fs::read_to_string(&backend.audit).unwrap();
    assert!(!raw.contains("secret plan"));
}

#[tokio::test]
async fn without_an_audit_line_nothing_is_mutated_and_reads_still_work() {
    let backend = backend().await;
    backend.create("alpha", "w1", "default").await;
    // A folder where the file was: no process, not even root, can append to it.
    std::fs::remove_file(&backend.audit).unwrap();
    std::fs::create_dir(&backend.audit).unwrap();

    let refused = backend
        .post("/api/runtimes/alpha/workers", json!({ "worker_id": "w2" }))
        .await;
    assert_error(&refused, 500, "internal");
    assert!(
        refused.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audit")
    );
    assert!(!refused.1.to_string().contains(".yoi"), "{}", refused.1);
    let refused_input = backend
        .post(
            "/api/runtimes/alpha/workers/w1/input",
            json!({ "kind": "user", "content": "not sent" }),
        )
        .await;
    assert_error(&refused_input, 500, "internal");

    let (status, workers) = backend.get("/api/runtimes/alpha/workers").await;
    assert_eq!(status, 200);
    assert_eq!(
        workers["workers"].as_array().unwrap().len(),
        1,
        "w2 was not created"
    );
    let (_, transcript) = backend
        .get("/api/runtimes/alpha/workers/w1/transcript")
        .await;
    assert_eq!(transcript["entries"], json!([]), "the input was not sent");

    // Writable again: mutations resume.
    std::fs::remove_dir(&backend.audit).unwrap();
    backend.create("alpha", "w2", "default").await;
    assert_eq!(backend.audit_lines().len(), 1);
}

#[tokio::test]
async fn a_log_moved_away_keeps_its_lines_and_the_next_line_goes_to_a_new_file_at_the_path() {
    let backend = backend().await;
    backend.create("alpha", "w1", "default").await;
    let rotated = backend.audit.with_extension("jsonl.1");
    std::fs::rename(&backend.audit, &rotated).unwrap();

    backend.create("alpha", "w2", "default").await;

    let old: Vec<Value> = std::fs::read_to_string(&rotated)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        old.len(),
        1,
        "the moved file keeps its line and gets no more"
    );
    assert_eq!(old[0]["worker_id"], "w1");
    let new = backend.audit_lines();
    assert_eq!(new.len(), 1, "the next line is in a new file at the path");
    assert_eq!(new[0]["worker_id"], "w2");
}
