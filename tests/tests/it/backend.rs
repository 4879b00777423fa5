use std::sync::Arc;
use std::sync::atomic::Ordering;

use rstest::rstest;
use serde_json::{Value, json};
use yoi_test_support::{sequences, until};

use crate::support::backend::{backend, log_capture};
use crate::support::{Kind, POD_WORKER};

#[rstest]
#[cfg_attr(feature = "embedded", case::embedded(Kind::Embedded))]
#[cfg_attr(feature = "http-client", case::http_client(Kind::HttpClient))]
#[tokio::test]
async fn every_route_reaches_a_runtime_that_owns_workers(#[case] kind: Kind) {
    let backend = backend().await;
    let runtime = kind.runtime();
    let (status, body) = backend.get(&format!("/api/runtimes/{runtime}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&body["kind"], &body["status"]),
        (&json!(kind.json_kind()), &json!("available"))
    );

    let workers = format!("/api/runtimes/{runtime}/workers");
    let (status, created) = backend
        .post(
            &workers,
            json!({ "worker_id": "w1", "display_name": "pair" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["display_ref"], format!("pair@{runtime}"));
    assert_eq!(created["kind"], kind.json_kind());
    let mut stream = backend.events(runtime, "w1", None).await;

    let (status, ack) = backend
        .post(
            &format!("{workers}/w1/input"),
            json!({ "kind": "user", "content": format!("hello {runtime}") }),
        )
        .await;
    assert_eq!(status, 202, "{ack}");
    assert_eq!(
        (&ack["runtime_id"], &ack["worker_id"]),
        (&json!(runtime), &json!("w1"))
    );
    let last = backend.idle_sequence(runtime, "w1").await;
    let seen = until(&mut stream, "run_completed").await;
    assert_eq!(sequences(&seen), (1..=last).collect::<Vec<_>>());
    let data: Value = serde_json::from_str(&seen.last().unwrap().data).unwrap();
    assert_eq!(
        (&data["runtime_id"], &data["worker_id"]),
        (&json!(runtime), &json!("w1"))
    );

    let (_, listed) = backend.get(&workers).await;
    assert_eq!(listed["workers"][0]["worker_id"], "w1");
    let (_, transcript) = backend.get(&format!("{workers}/w1/transcript")).await;
    assert_eq!(
        transcript["entries"][1]["content"],
        format!("hello {runtime}")
    );
    let (status, _) = backend
        .post(&format!("{workers}/w1/cancel"), Value::Null)
        .await;
    assert_eq!(status, 200);
    let (status, stopped) = backend
        .post(&format!("{workers}/w1/stop"), Value::Null)
        .await;
    assert_eq!((status, &stopped["status"]), (200, &json!("stopped")));
    until(&mut stream, "worker_stopped").await;
    let unknown = backend.get(&format!("{workers}/ghost")).await;
    assert_eq!(
        (unknown.0, &unknown.1["error"]["code"]),
        (404, &json!("unknown_worker"))
    );
}

#[rstest]
#[cfg_attr(
    feature = "local-pod-compat",
    case::local_pod_compat(Kind::LocalPodCompat)
)]
#[tokio::test]
async fn the_compatibility_runtime_is_a_read_only_view(#[case] kind: Kind) {
    let backend = backend().await;
    let runtime = kind.runtime();
    let (_, body) = backend.get(&format!("/api/runtimes/{runtime}")).await;
    assert_eq!(body["kind"], kind.json_kind());
    assert_eq!(body["compatibility_adapter"], true);
    assert_eq!(body["read_only"], true);
    assert_eq!(body["authority"], "registry");
    let workers = format!("/api/runtimes/{runtime}/workers");
    let (_, listed) = backend.get(&workers).await;
    assert_eq!(listed["workers"][0]["worker_id"], POD_WORKER);
    assert_eq!(listed["workers"][0]["status"], "metadata_only");
    let (status, _) = backend.get(&format!("{workers}/{POD_WORKER}")).await;
    assert_eq!(status, 200);
    for (path, body) in [
        (workers.clone(), json!({})),
        (
            format!("{workers}/{POD_WORKER}/input"),
            json!({ "kind": "user", "content": "hi" }),
        ),
        (format!("{workers}/{POD_WORKER}/stop"), Value::Null),
    ] {
        let (status, refused) = backend.post(&path, body).await;
        assert_eq!(
            (status, &refused["error"]["code"]),
            (403, &json!("forbidden_by_policy"))
        );
    }
    for path in [
        format!("{workers}/{POD_WORKER}/transcript"),
        format!("{workers}/{POD_WORKER}/events"),
    ] {
        let (status, refused) = backend.get(&path).await;
        assert_eq!(
            (status, &refused["error"]["code"]),
            (501, &json!("unsupported_operation"))
        );
    }
    let (_, all) = backend.get("/api/workers").await;
    assert!(
        all["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|worker| worker["worker_id"] == POD_WORKER)
    );
    let (_, hosts) = backend.get("/api/hosts").await;
    let host = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|host| host["host_id"] == runtime)
        .cloned()
        .unwrap();
    assert_eq!(host["compatibility_adapter"], true);
}

#[cfg(feature = "http-client")]
#[tokio::test]
async fn browsers_watching_a_remote_worker_share_one_connection_to_its_runtime() {
    let backend = backend().await;
    let streams = Arc::clone(&backend.served.as_ref().unwrap().event_streams);
    backend
        .post("/api/runtimes/beta/workers", json!({ "worker_id": "w1" }))
        .await;
    let mut browsers = Vec::new();
    // Browsers resume from the worker's last_sequence, as its detail gives it.
    for _ in 0..5 {
        browsers.push(backend.events("beta", "w1", Some(1)).await);
    }
    backend
        .post(
            "/api/runtimes/beta/workers/w1/input",
            json!({ "kind": "user", "content": "fan out" }),
        )
        .await;
    let last = backend.idle_sequence("beta", "w1").await;
    for browser in &mut browsers {
        let seen = until(browser, "run_completed").await;
        assert_eq!(sequences(&seen), (2..=last).collect::<Vec<_>>());
    }
    assert_eq!(streams.load(Ordering::SeqCst), 1);
}

#[cfg(feature = "http-client")]
#[tokio::test]
async fn a_lost_remote_runtime_is_told_to_its_browsers_and_nothing_leaks() {
    let capture = log_capture();
    let mut backend = backend().await;
    let served = backend.served.take().unwrap();
    let address = served.address;
    backend
        .post("/api/runtimes/beta/workers", json!({ "worker_id": "w1" }))
        .await;
    let mut browser = backend.events("beta", "w1", None).await;
    until(&mut browser, "worker_created").await;

    served.stop().await;
    let lost = until(&mut browser, "runtime_status").await;
    let notice: Value = serde_json::from_str(&lost.last().unwrap().data).unwrap();
    assert_eq!(
        (&notice["status"], &notice["code"]),
        (&json!("unavailable"), &json!("runtime_unavailable"))
    );
    let refused = backend
        .post(
            "/api/runtimes/beta/workers/w1/input",
            json!({ "kind": "user", "content": "x" }),
        )
        .await;
    assert_eq!(
        (refused.0, &refused.1["error"]["code"]),
        (503, &json!("runtime_unavailable"))
    );
    let (status, runtimes) = backend.get("/api/runtimes").await;
    assert_eq!(status, 200);
    let beta = runtimes["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["runtime_id"] == "beta")
        .cloned()
        .unwrap();
    assert_eq!(beta["status"], "unavailable");
    let (_, all) = backend.get("/api/workers").await;
    assert_eq!(all["partial"], true);
    let (_, hosts) = backend.get("/api/hosts").await;
    assert!(hosts.to_string().contains("unavailable"));

    // Back on the same address: the stream says so and continues without a gap.
    let ack = backend
        .beta
        .send_input(
            &crate::support::wid("w1"),
            worker_runtime::Input::user("meanwhile"),
        )
        .await
        .unwrap();
    let restarted = crate::support::serve(backend.beta.clone(), address).await;
    let back = until(&mut browser, "runtime_status").await;
    let notice: Value = serde_json::from_str(&back.last().unwrap().data).unwrap();
    assert_eq!(notice["status"], "available");
    let seen = until(&mut browser, "run_completed").await;
    assert_eq!(sequences(&seen)[0], ack.sequence);
    drop(browser);
    drop(restarted);

    let token = std::fs::read_to_string(backend.dir.path().join("runtime.token")).unwrap();
    let log = capture.text();
    assert!(log.contains("request"), "the log was captured: {log}");
    let answers = backend.answers.lock().unwrap().join("\n");
    let folder = backend.dir.path().to_string_lossy().into_owned();
    for leak in [
        token.trim().to_owned(),
        format!("127.0.0.1:{}", address.port()),
        format!(":{}", address.port()),
        folder,
    ] {
        assert!(!answers.contains(&leak), "{leak} in an answer");
        assert!(!log.contains(&leak), "{leak} in the log");
    }
}
