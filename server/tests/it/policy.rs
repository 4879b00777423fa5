//! Policy: a hidden runtime answers exactly like a nonexistent one, everywhere; a read-only one
//! refuses every mutation and still answers reads.

use serde_json::{Value, json};

use crate::support::{assert_error, backend};

/// Every route, with `{r}` for the runtime id, and its body when it is a POST.
fn every_route() -> Vec<(&'static str, &'static str, Value)> {
    let input = json!({ "kind": "user", "content": "hi" });
    vec![
        ("GET", "/api/runtimes/{r}", Value::Null),
        ("GET", "/api/runtimes/{r}/workers", Value::Null),
        (
            "POST",
            "/api/runtimes/{r}/workers",
            json!({ "worker_id": "w1" }),
        ),
        ("GET", "/api/runtimes/{r}/workers/w1", Value::Null),
        ("POST", "/api/runtimes/{r}/workers/w1/input", input),
        ("POST", "/api/runtimes/{r}/workers/w1/stop", Value::Null),
        ("POST", "/api/runtimes/{r}/workers/w1/cancel", Value::Null),
        (
            "GET",
            "/api/runtimes/{r}/workers/w1/transcript",
            Value::Null,
        ),
        ("GET", "/api/runtimes/{r}/workers/w1/events", Value::Null),
    ]
}

#[tokio::test]
async fn a_hidden_runtime_answers_exactly_like_a_nonexistent_one() {
    let backend = backend().await;
    for (method, route, body) in every_route() {
        let mut answers = Vec::new();
        for runtime in ["hidden", "ghost"] {
            let path = route.replace("{r}", runtime);
            let answer = match method {
                "GET" => backend.get(&path).await,
                _ => backend.post(&path, body.clone()).await,
            };
            // The same answer, but for the id it names.
            let text = answer.1.to_string().replace(runtime, "<id>");
            answers.push((answer.0, text));
        }
        assert_eq!(answers[0], answers[1], "{method} {route}");
        assert_eq!(answers[0].0, 404, "{method} {route}");
    }
    for path in ["/api/runtimes", "/api/workers", "/api/hosts"] {
        let (status, body) = backend.get(path).await;
        assert_eq!(status, 200);
        assert!(!body.to_string().contains("hidden"), "{path}: {body}");
    }
}

#[tokio::test]
async fn a_read_only_runtime_refuses_mutations_and_answers_reads() {
    let backend = backend().await;
    for (method, route, body) in every_route() {
        let path = route.replace("{r}", "frozen");
        if method == "POST" {
            let answer = backend.post(&path, body).await;
            assert_error(&answer, 403, "forbidden_by_policy");
            assert_eq!(answer.1["error"]["runtime_id"], "frozen");
        }
    }
    let (status, runtime) = backend.get("/api/runtimes/frozen").await;
    assert_eq!(status, 200);
    assert_eq!(runtime["read_only"], true);
    for capability in [
        "create_worker",
        "send_input",
        "stop_worker",
        "cancel_worker",
    ] {
        assert_eq!(runtime["capabilities"][capability], false, "{capability}");
    }
    assert_eq!(runtime["capabilities"]["transcript"], true);
    let (status, workers) = backend.get("/api/runtimes/frozen/workers").await;
    assert_eq!((status, &workers["workers"]), (200, &json!([])));
}

#[tokio::test]
async fn the_compatibility_views_are_projected_from_the_registry() {
    let backend = backend().await;
    backend.create("alpha", "w1", "default").await;
    let (status, all) = backend.get("/api/workers").await;
    assert_eq!(status, 200);
    assert_eq!(all["partial"], false);
    assert_eq!(all["workers"].as_array().unwrap().len(), 1);
    assert_eq!(all["workers"][0]["display_ref"], "w1@alpha");
    let (status, hosts) = backend.get("/api/hosts").await;
    assert_eq!(status, 200);
    let hosts = hosts["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts[0]["host_id"], "alpha");
    assert_eq!(hosts[0]["runtime_id"], "alpha");
    assert_eq!(hosts[0]["worker_count"], 1);
    assert_eq!(hosts[1]["read_only"], true);
}
