//! The model engines against a scripted provider on 127.0.0.1, in both wire formats: the whole
//! request, streamed deltas, usage, retries, failures, cancel and timeouts.

use std::time::{Duration, Instant};

use rstest::rstest;
use serde_json::{Value, json};
use worker_runtime::{EngineSettings, Event, EventKind, ModelSettings, Runtime, Secret, WorkerId};
use yoi_test_support::{Reply, ScriptedProvider, eventually};

use crate::support::{create, events_until, kinds, runtime_with, send, streamed};

/// The key the profiles send; no failure, event or detail may show it.
const KEY: &str = "sk-test-do-not-print";

/// Which wire format a case speaks.
#[derive(Debug, Clone, Copy)]
enum Wire {
    OpenAi,
    Anthropic,
}

/// A runtime whose `default` profile talks to `provider` in `wire`'s format.
fn model_runtime(
    wire: Wire,
    provider: &ScriptedProvider,
    adjust: impl FnOnce(&mut ModelSettings),
) -> Runtime {
    let mut model = ModelSettings::new("test-model");
    model.base_url = Some(match wire {
        Wire::OpenAi => format!("{}/v1", provider.base_url()),
        Wire::Anthropic => provider.base_url(),
    });
    model.api_key = Some(Secret::new(KEY));
    model.system_prompt = Some("Be brief.".into());
    model.request_timeout_ms = 2_000;
    adjust(&mut model);
    let settings = match wire {
        Wire::OpenAi => EngineSettings::Openai(model),
        Wire::Anthropic => EngineSettings::Anthropic(model),
    };
    runtime_with(|config| {
        config.profiles.insert("default".into(), settings);
    })
}

/// Sends `content` and answers the run's events up to its end.
async fn converse(runtime: &Runtime, id: &WorkerId, content: &str) -> Vec<Event> {
    let ack = send(runtime, id, content).await.unwrap();
    let ends = ["run_completed", "run_failed", "run_cancelled"];
    events_until(runtime, id, ack.sequence, &ends).await
}

/// The failure reason of the run the events end with.
fn failure(events: &[Event]) -> String {
    match &events.last().unwrap().kind {
        EventKind::RunFailed { reason, .. } => reason.clone(),
        other => panic!("the run did not fail: {other:?}"),
    }
}

/// The messages a request sent, as (role, content), the system prompt first in both formats.
fn messages(wire: Wire, body: &Value) -> Vec<(String, String)> {
    let pairs = body["messages"].as_array().unwrap().iter().map(|message| {
        let text = |key: &str| message[key].as_str().unwrap().to_owned();
        (text("role"), text("content"))
    });
    match wire {
        Wire::OpenAi => pairs.collect(),
        Wire::Anthropic => {
            let system = (
                "system".to_owned(),
                body["system"].as_str().unwrap().to_owned(),
            );
            std::iter::once(system).chain(pairs).collect()
        }
    }
}

#[rstest]
#[case::openai(Wire::OpenAi)]
#[case::anthropic(Wire::Anthropic)]
#[tokio::test]
async fn two_inputs_send_the_conversation_stream_deltas_and_count_usage(#[case] wire: Wire) {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::stream(["Hel", "", "lo"]).usage(12, 2));
    provider.push(Reply::stream(["Fine", "."]).usage(20, 3));
    let runtime = model_runtime(wire, &provider, |_| {});
    let id = create(&runtime).await;

    let first = converse(&runtime, &id, "Hi").await;
    assert_eq!(streamed(&first), "Hello");
    let deltas = kinds(&first)
        .iter()
        .filter(|kind| **kind == "output_delta")
        .count();
    assert_eq!(deltas, 2, "an empty delta is no event: {:?}", kinds(&first));
    let usage = worker_runtime::Usage {
        input_tokens: 12,
        output_tokens: 2,
    };
    assert_eq!(
        first.last().unwrap().kind,
        EventKind::RunCompleted { usage: Some(usage) }
    );
    let second = converse(&runtime, &id, "How are you?").await;
    assert_eq!(streamed(&second), "Fine.");

    let transcript = runtime.transcript(&id, 0, None).unwrap();
    let turns: Vec<&str> = transcript
        .entries
        .iter()
        .map(|entry| entry.content.as_str())
        .collect();
    assert_eq!(turns, ["Hi", "Hello", "How are you?", "Fine."]);
    let total = runtime.get_worker(&id).unwrap().usage.unwrap();
    assert_eq!((total.input_tokens, total.output_tokens), (32, 5));

    let requests = provider.requests();
    assert_eq!(requests.len(), 2);
    let second = &requests[1];
    assert_eq!(second.body["model"], "test-model");
    assert_eq!(second.body["stream"], true);
    let expected = [
        ("system", "Be brief."),
        ("user", "Hi"),
        ("assistant", "Hello"),
        ("user", "How are you?"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(role, text)| ((*role).into(), (*text).into()))
        .collect();
    assert_eq!(messages(wire, &second.body), expected);
    match wire {
        Wire::OpenAi => {
            assert_eq!(second.path, "/v1/chat/completions");
            assert_eq!(second.headers["authorization"], format!("Bearer {KEY}"));
            assert_eq!(
                second.body["stream_options"],
                json!({ "include_usage": true })
            );
        }
        Wire::Anthropic => {
            assert_eq!(second.path, "/v1/messages");
            assert_eq!(second.headers["x-api-key"], KEY);
            assert_eq!(second.headers["anthropic-version"], "2023-06-01");
            assert_eq!(second.body["max_tokens"], 1024);
        }
    }
}

#[rstest]
#[case::openai(Wire::OpenAi)]
#[case::anthropic(Wire::Anthropic)]
#[tokio::test]
async fn split_frames_crlf_and_keep_alives_read_as_the_plain_stream(#[case] wire: Wire) {
    let provider = ScriptedProvider::start().await;
    let pieces = ["naïve ", "café ", "日本"];
    provider.push(
        Reply::stream(pieces)
            .split_writes()
            .crlf()
            .keep_alive()
            .usage(3, 3),
    );
    let runtime = model_runtime(wire, &provider, |_| {});
    let id = create(&runtime).await;
    let events = converse(&runtime, &id, "Hi").await;
    assert_eq!(streamed(&events), "naïve café 日本");
    assert!(matches!(
        events.last().unwrap().kind,
        EventKind::RunCompleted { usage: Some(_) }
    ));
}

#[rstest]
#[case::openai(Wire::OpenAi)]
#[case::anthropic(Wire::Anthropic)]
#[tokio::test]
async fn a_stream_closed_after_its_stop_reason_without_a_final_frame_completes(#[case] wire: Wire) {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::stream(["all ", "there"]).usage(4, 2).unterminated());
    let runtime = model_runtime(wire, &provider, |_| {});
    let id = create(&runtime).await;
    let events = converse(&runtime, &id, "Hi").await;
    assert_eq!(streamed(&events), "all there");
    let usage = worker_runtime::Usage {
        input_tokens: 4,
        output_tokens: 2,
    };
    assert_eq!(
        events.last().unwrap().kind,
        EventKind::RunCompleted { usage: Some(usage) }
    );
}

#[tokio::test]
async fn an_anthropic_overload_before_any_output_is_retried() {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::stream(["x"]).error_after(0));
    provider.push(Reply::stream(["fine"]));
    let runtime = model_runtime(Wire::Anthropic, &provider, |_| {});
    let id = create(&runtime).await;
    let events = converse(&runtime, &id, "Hi").await;
    assert_eq!(streamed(&events), "fine", "{:?}", kinds(&events));
    assert_eq!(provider.requests().len(), 2);
}

#[tokio::test]
async fn anthropic_requests_start_with_the_users_turn_and_skip_empty_answers() {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::stream(Vec::<String>::new()));
    provider.push(Reply::stream(["b"]));
    provider.push(Reply::stream(["c"]));
    let runtime = model_runtime(Wire::Anthropic, &provider, |model| {
        model.context_entries = 2
    });
    let id = create(&runtime).await;
    for input in ["one", "two", "three"] {
        converse(&runtime, &id, input).await;
    }
    // The transcript ends: "two", "b", "three"; its newest two begin with an answer.
    let turns = |index: usize| messages(Wire::Anthropic, &provider.requests()[index].body);
    let said = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(role, text)| ((*role).into(), (*text).into()))
            .collect()
    };
    assert_eq!(
        turns(1),
        said(&[("system", "Be brief."), ("user", "two")]),
        "the empty answer is left out"
    );
    assert_eq!(
        turns(2),
        said(&[("system", "Be brief."), ("user", "three")])
    );
}

#[rstest]
#[case::openai(Wire::OpenAi)]
#[case::anthropic(Wire::Anthropic)]
#[tokio::test]
async fn busy_answers_are_retried_honouring_retry_after(#[case] wire: Wire) {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::error(429, "slow down").retry_after(1));
    provider.push(Reply::error(503, "overloaded"));
    provider.push(Reply::stream(["ok"]));
    let runtime = model_runtime(wire, &provider, |_| {});
    let id = create(&runtime).await;
    let started = Instant::now();
    let events = converse(&runtime, &id, "Hi").await;
    assert_eq!(streamed(&events), "ok", "{:?}", kinds(&events));
    assert_eq!(provider.requests().len(), 3);
    if let Wire::OpenAi = wire {
        let completed = &events.last().unwrap().kind;
        assert_eq!(
            *completed,
            EventKind::RunCompleted { usage: None },
            "no usage reported, none shown"
        );
        let detail = serde_json::to_value(runtime.get_worker(&id).unwrap()).unwrap();
        assert!(detail.get("usage").is_none(), "absent, not zero: {detail}");
    }
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
}

#[rstest]
#[case::openai(Wire::OpenAi)]
#[case::anthropic(Wire::Anthropic)]
#[tokio::test]
async fn retries_end_after_max_retries(#[case] wire: Wire) {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::error(500, "broken"));
    let runtime = model_runtime(wire, &provider, |model| model.max_retries = 1);
    let id = create(&runtime).await;
    let events = converse(&runtime, &id, "Hi").await;
    assert_eq!(failure(&events), "the provider is busy (HTTP 500)");
    assert_eq!(provider.requests().len(), 2);
}

#[rstest]
#[case::openai_401(Wire::OpenAi, 401)]
#[case::anthropic_403(Wire::Anthropic, 403)]
#[tokio::test]
async fn a_refused_credential_fails_at_once_without_the_key(
    #[case] wire: Wire,
    #[case] status: u16,
) {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::error(status, KEY));
    let runtime = model_runtime(wire, &provider, |_| {});
    let id = create(&runtime).await;
    let reason = failure(&converse(&runtime, &id, "Hi").await);
    assert!(
        reason.starts_with(&format!(
            "the provider refused the credential (HTTP {status})"
        )),
        "{reason}"
    );
    assert!(
        !reason.contains(KEY) && !reason.contains(&provider.base_url()),
        "{reason}"
    );
    assert_eq!(provider.requests().len(), 1, "not retried");
}

#[rstest]
#[case::openai(Wire::OpenAi)]
#[case::anthropic(Wire::Anthropic)]
#[tokio::test]
async fn another_refusal_shows_the_providers_message_cut_to_a_kibibyte(#[case] wire: Wire) {
    let provider = ScriptedProvider::start().await;
    let long = format!("model not found: {}", "x".repeat(3000));
    provider.push(Reply::error(404, &long));
    let runtime = model_runtime(wire, &provider, |_| {});
    let id = create(&runtime).await;
    let reason = failure(&converse(&runtime, &id, "Hi").await);
    let prefix = "the provider refused the request (HTTP 404): model not found: xxx";
    assert!(reason.starts_with(prefix), "{reason}");
    assert_eq!(
        reason.len(),
        "the provider refused the request (HTTP 404): ".len() + 1024
    );
}

#[tokio::test]
async fn a_provider_writing_back_the_key_or_its_url_has_them_redacted() {
    let provider = ScriptedProvider::start().await;
    let echoed = format!(
        "bad key {KEY} for {}/v1/chat/completions",
        provider.base_url()
    );
    provider.push(Reply::error(400, &echoed));
    let runtime = model_runtime(Wire::OpenAi, &provider, |_| {});
    let id = create(&runtime).await;
    let reason = failure(&converse(&runtime, &id, "Hi").await);
    assert_eq!(
        reason,
        "the provider refused the request (HTTP 400): bad key [redacted] for [redacted]/chat/completions"
    );
}

#[rstest]
#[case::openai(Wire::OpenAi)]
#[case::anthropic(Wire::Anthropic)]
#[tokio::test]
async fn a_stream_cut_after_output_fails_and_keeps_the_partial_text(#[case] wire: Wire) {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::stream(["par", "tial", "never"]).cut_after(2));
    let runtime = model_runtime(wire, &provider, |_| {});
    let id = create(&runtime).await;
    let events = converse(&runtime, &id, "Hi").await;
    assert_eq!(streamed(&events), "partial");
    assert_eq!(failure(&events), "the provider's stream ended early");
    assert_eq!(provider.requests().len(), 1, "not retried after output");
}

#[rstest]
#[case::openai(Wire::OpenAi)]
#[case::anthropic(Wire::Anthropic)]
#[tokio::test]
async fn malformed_chunks_and_stream_errors_fail_the_run(#[case] wire: Wire) {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::malformed());
    provider.push(Reply::stream(["a", "b"]).error_after(1));
    let runtime = model_runtime(wire, &provider, |_| {});
    let id = create(&runtime).await;
    let malformed = converse(&runtime, &id, "Hi").await;
    assert_eq!(failure(&malformed), "the provider sent a malformed stream");
    let reported = failure(&converse(&runtime, &id, "Again").await);
    assert!(
        reported.starts_with("the provider reported an error: "),
        "{reported}"
    );
}

#[rstest]
#[case::openai(Wire::OpenAi)]
#[case::anthropic(Wire::Anthropic)]
#[tokio::test]
async fn a_silent_provider_fails_the_run_after_request_timeout(#[case] wire: Wire) {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::stream(["a", "b"]).stall_after(1));
    let runtime = model_runtime(wire, &provider, |model| model.request_timeout_ms = 300);
    let id = create(&runtime).await;
    let events = converse(&runtime, &id, "Hi").await;
    assert_eq!(streamed(&events), "a");
    assert_eq!(failure(&events), "the provider sent nothing for 300 ms");
}

#[rstest]
#[case::openai(Wire::OpenAi)]
#[case::anthropic(Wire::Anthropic)]
#[tokio::test]
async fn cancel_mid_stream_closes_the_providers_connection(#[case] wire: Wire) {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::stream(["first", "never"]).stall_after(1));
    let runtime = model_runtime(wire, &provider, |model| model.request_timeout_ms = 60_000);
    let id = create(&runtime).await;
    let ack = send(&runtime, &id, "Hi").await.unwrap();
    events_until(&runtime, &id, ack.sequence, &["output_delta"]).await;
    let detail = runtime.cancel_worker(&id).await.unwrap();
    assert_eq!(detail.status, worker_runtime::WorkerStatus::Idle);
    let events = events_until(&runtime, &id, ack.sequence, &["run_cancelled"]).await;
    assert_eq!(streamed(&events), "first");
    provider.wait_for_disconnect().await;
    assert_eq!(provider.disconnected(), 1);
}

#[tokio::test]
async fn the_whole_run_is_bounded_by_its_timeout() {
    let provider = ScriptedProvider::start().await;
    provider.push(Reply::stream(["a", "b", "c"]).delay(Duration::from_millis(400)));
    let runtime = model_runtime(Wire::OpenAi, &provider, |model| model.timeout_ms = 200);
    let id = create(&runtime).await;
    let events = converse(&runtime, &id, "Hi").await;
    assert_eq!(failure(&events), "the run timed out after 200 ms");
    eventually("the provider to see the request dropped", || {
        provider.disconnected() == 1
    })
    .await;
}

#[test]
fn debug_output_shows_neither_the_key_nor_the_url() {
    let mut model = ModelSettings::new("m");
    model.base_url = Some("http://127.0.0.1:9/secret-path".into());
    model.api_key = Some(Secret::new(KEY));
    let printed = format!("{:?}", EngineSettings::Openai(model));
    assert!(
        !printed.contains(KEY) && !printed.contains("secret-path"),
        "{printed}"
    );
}

#[tokio::test]
async fn capabilities_name_each_profiles_engine_and_model_but_not_its_url() {
    let provider = ScriptedProvider::start().await;
    let runtime = model_runtime(Wire::Anthropic, &provider, |_| {});
    let profile = worker_runtime::ProfileInfo {
        name: "default".into(),
        engine: "anthropic".into(),
        model: Some("test-model".into()),
    };
    assert_eq!(runtime.capabilities().profiles, [profile]);
    let summary = serde_json::to_string(&runtime.summary()).unwrap();
    assert!(
        !summary.contains(&provider.base_url()) && !summary.contains(KEY),
        "{summary}"
    );
}
