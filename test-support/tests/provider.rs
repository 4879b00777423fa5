//! The scripted provider as a client reads it: the exact frames of both formats, the variants
//! that must parse to the same events, error answers, the cut and the counted disconnects.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use sse_stream::{Sse, SseByteStream};
use yoi_test_support::{Reply, ScriptedProvider, eventually, within};

const OPENAI: &str = "/v1/chat/completions";
const ANTHROPIC: &str = "/v1/messages";

/// Posts a streaming request for model `m` to `path`.
async fn post(provider: &ScriptedProvider, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", provider.base_url()))
        .header("authorization", "Bearer sk-test")
        .json(
            &json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap()
}

/// The whole body of a streamed answer as text.
async fn body(provider: &ScriptedProvider, path: &str) -> String {
    let response = post(provider, path).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    within("the body", response.text()).await.unwrap()
}

/// The events of a streamed answer; keep-alive comments (dropped by the parser) and `ping`
/// events do not count.
async fn events(provider: &ScriptedProvider, path: &str) -> Vec<(String, String)> {
    let response = post(provider, path).await;
    let frames = SseByteStream::new(response.bytes_stream());
    let events: Vec<Sse> = within("the events", frames.map(Result::unwrap).collect()).await;
    let events = events
        .into_iter()
        .filter(|event| event.event.as_deref() != Some("ping"));
    let named = |event: Sse| (event.event.unwrap_or_else(|| "message".into()), event.data);
    events
        .map(named)
        .map(|(name, data)| (name, data.unwrap()))
        .collect()
}

#[tokio::test]
async fn openai_streams_chunks_usage_and_done_and_records_the_request() {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::stream(["Hel", "lo"]).usage(12, 2));
    let chunk = |rest: &str| {
        format!(
            r#"data: {{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{rest}}}"#
        )
    };
    let expected = [
        chunk(r#"{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]"#),
        chunk(r#"{"index":0,"delta":{"content":"lo"},"finish_reason":null}]"#),
        chunk(r#"{"index":0,"delta":{},"finish_reason":"stop"}]"#),
        chunk(r#"],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}"#),
        "data: [DONE]".to_owned(),
    ]
    .map(|frame| frame + "\n\n")
    .concat();
    assert_eq!(body(&provider, OPENAI).await, expected);
    // Without the `/v1` prefix too, and the last reply repeats.
    assert_eq!(body(&provider, "/chat/completions").await, expected);
    let requests = provider.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("POST", OPENAI)
    );
    assert_eq!(requests[0].headers["authorization"], "Bearer sk-test");
    assert_eq!(
        requests[0].body["messages"][0],
        json!({"role": "user", "content": "hi"})
    );
    assert_eq!(requests[0].body["stream"], true);
}

#[tokio::test]
async fn anthropic_streams_the_documented_events() {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::stream(["Hel", "lo"]).usage(12, 2));
    let delta = |text: &str| {
        format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{text}"}}}}"#
        )
    };
    let expected = [
        ("message_start", r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"usage":{"input_tokens":12,"output_tokens":1}}}"#.to_owned()),
        ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#.to_owned()),
        ("ping", r#"{"type":"ping"}"#.to_owned()),
        ("content_block_delta", delta("Hel")),
        ("content_block_delta", delta("lo")),
        ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#.to_owned()),
        ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}"#.to_owned()),
        ("message_stop", r#"{"type":"message_stop"}"#.to_owned()),
    ]
    .map(|(event, data)| format!("event: {event}\ndata: {data}\n\n"))
    .concat();
    assert_eq!(body(&provider, ANTHROPIC).await, expected);
}

#[tokio::test]
async fn split_crlf_and_keep_alive_variants_parse_to_the_same_events() {
    let provider = ScriptedProvider::start().await;
    let pieces = ["Hel", "lo", " wörld", "!"];
    for path in [OPENAI, ANTHROPIC] {
        provider.push(Reply::stream(pieces).usage(3, 4));
        let plain = events(&provider, path).await;
        for variant in [
            Reply::stream(pieces).usage(3, 4).split_writes(),
            Reply::stream(pieces).usage(3, 4).crlf(),
            Reply::stream(pieces)
                .usage(3, 4)
                .split_writes()
                .crlf()
                .keep_alive(),
            Reply::stream(pieces)
                .usage(3, 4)
                .delay(Duration::from_millis(2)),
        ] {
            provider.push(variant.clone());
            assert_eq!(
                events(&provider, path).await,
                plain,
                "{variant:?} on {path}"
            );
        }
    }
}

#[tokio::test]
async fn split_writes_cut_frames_and_join_others() {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::stream(["Hel", "lo", "!"]).split_writes().crlf());
    let chunks: Vec<_> = post(&provider, OPENAI).await.bytes_stream().collect().await;
    let chunks: Vec<String> = chunks
        .into_iter()
        .map(|chunk| String::from_utf8(chunk.unwrap().to_vec()).unwrap())
        .collect();
    assert!(
        chunks.iter().any(|chunk| chunk.ends_with("da")),
        "{chunks:?}"
    );
    assert!(
        chunks.iter().any(|chunk| chunk.ends_with("\r")),
        "{chunks:?}"
    );
    assert!(
        chunks
            .iter()
            .any(|chunk| chunk.matches("data:").count() == 2),
        "{chunks:?}"
    );
}

#[tokio::test]
async fn error_answers_carry_the_format_body_and_retry_after() {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::error(429, "slow down").retry_after(1));
    let response = post(&provider, OPENAI).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "slow down", "type": "invalid_request_error", "code": null}})
    );
    provider.push(Reply::error(401, "invalid x-api-key"));
    let response = post(&provider, ANTHROPIC).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#
    );
}

#[tokio::test]
async fn malformed_and_mid_stream_errors() {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::malformed());
    let events = events(&provider, OPENAI).await;
    assert!(
        serde_json::from_str::<Value>(&events[0].1).is_err(),
        "{events:?}"
    );
    assert_eq!(events.last().unwrap().1, "[DONE]");
    provider.push(Reply::stream(["a", "b"]).error_after(1));
    let text = body(&provider, ANTHROPIC).await;
    assert!(
        text.ends_with(concat!(
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}"#,
            "\n\nevent: error\n",
            r#"data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            "\n\n"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_cut_ends_the_body_with_an_error_after_the_pieces_sent() {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::stream(["a", "b"]).cut_after(1));
    let mut frames = SseByteStream::new(post(&provider, OPENAI).await.bytes_stream());
    let first = within("the first piece", frames.next())
        .await
        .unwrap()
        .unwrap();
    assert!(first.data.unwrap().contains(r#""content":"a""#));
    let end = within("the cut", frames.next()).await;
    assert!(matches!(end, Some(Err(_))), "{end:?}");
    assert_eq!(provider.disconnected(), 0);
}

#[tokio::test]
async fn a_client_leaving_a_stalled_stream_is_counted() {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::stream(["a", "b"]).stall_after(1));
    for (left, path) in [OPENAI, ANTHROPIC].into_iter().enumerate() {
        let mut frames = SseByteStream::new(post(&provider, path).await.bytes_stream());
        let delta = |event: &Sse| {
            event
                .data
                .as_ref()
                .is_some_and(|data| data.contains(r#""a""#))
        };
        while !delta(
            &within("the first piece", frames.next())
                .await
                .unwrap()
                .unwrap(),
        ) {}
        let stalled = tokio::time::timeout(Duration::from_millis(50), frames.next()).await;
        assert!(stalled.is_err(), "{stalled:?}");
        eventually("the earlier disconnect", || provider.disconnected() == left).await;
        drop(frames);
    }
    eventually("both disconnects", || provider.disconnected() == 2).await;
    provider.wait_for_disconnect().await;
    // Streams that ran to their end do not count.
    provider.push(Reply::stream(["a"]));
    body(&provider, OPENAI).await;
    assert_eq!(provider.disconnected(), 2);
}

#[tokio::test]
async fn ten_thousand_deltas_arrive_in_order() {
    let provider = ScriptedProvider::start().await;
    let pieces: Vec<String> = (0..10_000).map(|index| index.to_string()).collect();
    provider.push(Reply::stream(pieces));
    let events = events(&provider, OPENAI).await;
    assert_eq!(events.len(), 10_002);
    assert!(events[9_999].1.contains(r#""content":"9999""#));
}
