use futures::StreamExt;
use serde_json::Value;
use yoi_test_support::{Frame, frames_of, within};

use super::TestServer;

async fn next(frames: &mut yoi_test_support::Frames) -> Frame {
    within("the next feed frame", frames.next())
        .await
        .expect("the feed goes on")
}

fn data(frame: &Frame) -> Value {
    serde_json::from_str(&frame.data).unwrap()
}

#[tokio::test]
async fn the_feed_is_every_worker_s_state_then_synced_then_each_new_state() {
    let server = TestServer::default().await;
    server.create("w1").await;
    let response = server.get("/feed").await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut frames = frames_of(response);

    let first = next(&mut frames).await;
    assert_eq!(
        (first.event.as_str(), first.id.as_str()),
        ("worker_status", "")
    );
    let state = data(&first);
    assert_eq!(state["worker_id"], "w1");
    assert_eq!(state["status"], "idle");
    assert_eq!(state["profile"], "default");
    assert_eq!(state["last_sequence"], 1);
    assert!(state["at"].is_string() && state.get("display_name").is_some());
    let synced = next(&mut frames).await;
    assert_eq!(
        (synced.event.as_str(), data(&synced)),
        ("synced", serde_json::json!({}))
    );

    server.create("w2").await;
    let created = next(&mut frames).await;
    assert_eq!(created.event, "worker_status");
    assert_eq!(data(&created)["worker_id"], "w2");
    server.input("w2", "hello").await;
    let mut statuses = Vec::new();
    while statuses.last().map(String::as_str) != Some("idle") {
        let state = data(&next(&mut frames).await);
        assert_eq!(state["worker_id"], "w2");
        statuses.push(state["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses, ["running", "idle"]);
}
