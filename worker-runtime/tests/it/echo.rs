use worker_runtime::{EchoSettings, EngineSettings, EventKind, Role};

use crate::support::{create, events_until, kinds, runtime_with, send};

#[tokio::test]
async fn echo_streams_chunks_then_one_message_with_contiguous_sequences() {
    let runtime = runtime_with(|config| {
        config.profiles.insert(
            "default".into(),
            EngineSettings::Echo(EchoSettings {
                chunk_chars: 4,
                delay_ms: 0,
            }),
        );
    });
    let id = create(&runtime).await;
    send(&runtime, &id, "hello wörld").await.unwrap();
    let events = events_until(&runtime, &id, 0, &["run_completed"]).await;

    assert_eq!(
        kinds(&events),
        [
            "worker_created",
            "input_accepted",
            "run_started",
            "output_delta",
            "output_delta",
            "output_delta",
            "message",
            "run_completed"
        ]
    );
    let sequences: Vec<u64> = events.iter().map(|event| event.sequence).collect();
    assert_eq!(sequences, (1..=8).collect::<Vec<_>>());
    let deltas: Vec<&str> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::OutputDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, ["hell", "o wö", "rld"]);
    assert_eq!(
        events[6].kind,
        EventKind::Message {
            role: Role::Assistant,
            content: "hello wörld".into()
        }
    );
    assert!(events.windows(2).all(|pair| pair[0].at <= pair[1].at));
}

#[test]
fn events_serialize_with_kind_and_fields_side_by_side() {
    let event: worker_runtime::Event = serde_json::from_str(
        r#"{"sequence":7,"at":"2026-11-24T08:40:00.123Z","kind":"output_delta","text":"hi"}"#,
    )
    .unwrap();
    assert_eq!(event.sequence, 7);
    assert_eq!(event.kind, EventKind::OutputDelta { text: "hi".into() });
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["kind"], "output_delta");
    assert_eq!(json["at"], "2026-11-24T08:40:00.123Z");
    assert_eq!(json["text"], "hi");
}
