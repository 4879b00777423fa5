use reqwest::StatusCode;
use worker_runtime::http::{BearerToken, HttpOptions};

use super::{TestServer, expect_error};
use crate::support::runtime;

const TOKEN: &str = "s3cret-token-value";

async fn guarded() -> TestServer {
    let options = HttpOptions {
        token: Some(BearerToken::new(TOKEN).unwrap()),
        ..HttpOptions::default()
    };
    TestServer::start(runtime(), options).await
}

#[tokio::test]
async fn health_is_open_and_everything_else_needs_the_token() {
    let server = guarded().await;
    assert_eq!(server.get("/health").await.status(), StatusCode::OK);

    for path in [
        "/runtime",
        "/workers",
        "/workers/w1",
        "/workers/w1/events",
        "/feed",
    ] {
        let missing = server.get(path).await;
        let message = expect_error(missing, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert!(!message.contains(TOKEN));
    }
    let attempts = [
        format!("Bearer {TOKEN}x"),
        format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]),
        format!("Basic {TOKEN}"),
        format!("bearer{TOKEN}"),
        "Bearer ".to_owned(),
    ];
    for header in attempts {
        let wrong = server.get_with("/workers", "authorization", &header).await;
        expect_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let created = server
        .client
        .post(server.url("/workers"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let listed = server
        .client
        .get(server.url("/workers"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    assert!(!listed.text().await.unwrap().contains(TOKEN));
}

#[tokio::test]
async fn an_unauthenticated_mutation_changes_nothing() {
    let server = guarded().await;
    let response = server
        .post("/workers", serde_json::json!({"worker_id": "w1"}))
        .await;
    expect_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(
        server
            .runtime
            .get_worker(&crate::support::wid("w1"))
            .is_err()
    );
}

#[test]
fn tokens_never_show_in_debug_output_and_must_be_printable() {
    let token = BearerToken::new(" abc\n").unwrap();
    assert_eq!(token.expose(), "abc");
    assert!(!format!("{token:?}").contains("abc"));
    assert!(BearerToken::new(" \n").is_err());
    assert!(BearerToken::new("a b").is_err());
}
