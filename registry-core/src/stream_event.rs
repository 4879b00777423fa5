//! [`StreamEvent`]: a Worker's event as an event stream delivers it. An embedded runtime's
//! events are decoded already; a runtime process's arrive as JSON, which is checked where the
//! Backend relies on it (one object on one line, its sequence, a known kind, no `runtime_id` or
//! `worker_id` of its own) and then forwarded as it is, never decoded and encoded again.

use std::io::{self, Write};

use serde::Deserialize;
use serde::de::IgnoredAny;
use worker_runtime::{Event, EventKind};

/// One event of a Worker's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    sequence: u64,
    kind: &'static str,
    form: Form,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Form {
    Decoded(Event),
    /// One JSON object without line breaks, starting with `{`.
    Json(String),
}

/// Why a runtime's JSON is not an event the Backend can forward.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an event: {0}")]
pub struct InvalidEvent(&'static str);

/// Why JSON that does not parse as [`Head`] is refused.
const NOT_AN_EVENT: &str = "not an object with one sequence and one kind";

/// The members of an event's JSON that are checked before it is forwarded.
#[derive(Deserialize)]
struct Head<'a> {
    sequence: u64,
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    /// Set by the Backend: an event may not carry its own, not even `null`.
    #[serde(default, deserialize_with = "present")]
    runtime_id: bool,
    #[serde(default, deserialize_with = "present")]
    worker_id: bool,
}

/// `true` for a member that is there, whatever its value.
fn present<'de, D: serde::Deserializer<'de>>(value: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(value).map(|_| true)
}

impl StreamEvent {
    /// An event that is already decoded.
    pub fn decoded(event: Event) -> Self {
        Self {
            sequence: event.sequence,
            kind: event.kind.name(),
            form: Form::Decoded(event),
        }
    }

    /// An event's JSON, as a runtime process sends it, checked to be one the Backend can forward.
    pub fn from_json(json: String) -> Result<Self, InvalidEvent> {
        if json.contains(['\n', '\r']) {
            return Err(InvalidEvent("it spans lines"));
        }
        // serde reads a struct from an array too; only an object is an event.
        if !json.trim_start().starts_with('{') {
            return Err(InvalidEvent(NOT_AN_EVENT));
        }
        let head: Head<'_> = serde_json::from_str(&json).map_err(|_| InvalidEvent(NOT_AN_EVENT))?;
        if head.runtime_id || head.worker_id {
            return Err(InvalidEvent("it names a runtime or worker"));
        }
        if head.sequence == 0 {
            return Err(InvalidEvent("its sequence is 0"));
        }
        let kind = EventKind::named(&head.kind).ok_or(InvalidEvent("its kind is unknown"))?;
        let sequence = head.sequence;
        let json = match json.trim() {
            trimmed if trimmed.len() == json.len() => json,
            trimmed => trimmed.to_owned(),
        };
        Ok(Self {
            sequence,
            kind,
            form: Form::Json(json),
        })
    }

    /// Its position in the Worker's events.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Its kind's name (one of [`EventKind::NAMES`]).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Whether it is the Worker's last (`worker_stopped`).
    pub fn is_last(&self) -> bool {
        self.kind == EventKind::WorkerStopped.name()
    }

    /// Writes its JSON object (`{"sequence",...,"kind",...}`, one line) to `out`.
    pub fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        match &self.form {
            Form::Decoded(event) => serde_json::to_writer(out, event).map_err(io::Error::other),
            Form::Json(json) => out.write_all(json.as_bytes()),
        }
    }

    /// The event, decoded; `None` when a runtime's JSON does not decode as one.
    pub fn into_event(self) -> Option<Event> {
        match self.form {
            Form::Decoded(event) => Some(event),
            Form::Json(json) => serde_json::from_str(&json).ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use worker_runtime::{EventKind, Timestamp};

    use super::*;

    fn written(event: &StreamEvent) -> String {
        let mut out = Vec::new();
        event.write_json(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_runtime_event_is_forwarded_as_it_came() {
        let json = r#"{"sequence":7,"at":"2026-01-01T00:00:00Z","kind":"output_delta","text":"hi","new":1}"#;
        let event = StreamEvent::from_json(json.to_owned()).unwrap();
        assert_eq!(
            (event.sequence(), event.kind(), event.is_last()),
            (7, "output_delta", false)
        );
        assert_eq!(written(&event), json);
        let decoded = event.into_event().unwrap();
        assert_eq!(decoded.kind, EventKind::OutputDelta { text: "hi".into() });
        let padded = StreamEvent::from_json(format!("  {json} ")).unwrap();
        assert_eq!(written(&padded), json);
    }

    #[test]
    fn what_the_backend_relies_on_is_checked() {
        let refused = [
            ("[1]", NOT_AN_EVENT),
            (r#"[5,"output_delta",null,null]"#, NOT_AN_EVENT),
            (r#"{"kind":"run_started"}"#, NOT_AN_EVENT),
            (
                r#"{"sequence":1,"sequence":2,"kind":"run_started"}"#,
                NOT_AN_EVENT,
            ),
            (
                r#"{"sequence":0,"kind":"run_started"}"#,
                "its sequence is 0",
            ),
            (
                r#"{"sequence":1,"kind":"run_started\nid: 9"}"#,
                "its kind is unknown",
            ),
            (
                "{\"sequence\":1,\n\"kind\":\"run_started\"}",
                "it spans lines",
            ),
            (
                r#"{"sequence":1,"kind":"run_begun"}"#,
                "its kind is unknown",
            ),
            (
                r#"{"sequence":1,"kind":"run_started","runtime_id":"x"}"#,
                "it names a runtime or worker",
            ),
            (
                r#"{"sequence":1,"kind":"run_started","runtime_id":null}"#,
                "it names a runtime or worker",
            ),
            (
                r#"{"worker_id":null,"sequence":1,"kind":"run_started"}"#,
                "it names a runtime or worker",
            ),
            (
                r#"{"sequence":1,"kind":"run_started","worker_id":"x"}"#,
                "it names a runtime or worker",
            ),
        ];
        for (json, why) in refused {
            assert_eq!(
                StreamEvent::from_json(json.into()),
                Err(InvalidEvent(why)),
                "{json}"
            );
        }
    }

    #[test]
    fn a_decoded_event_is_written_as_its_json() {
        let event = worker_runtime::Event {
            sequence: 3,
            at: Timestamp::now(),
            kind: EventKind::WorkerStopped,
        };
        let stream_event = StreamEvent::decoded(event.clone());
        assert!(stream_event.is_last());
        let json = written(&stream_event);
        assert_eq!(
            serde_json::from_str::<worker_runtime::Event>(&json).unwrap(),
            event
        );
        assert_eq!(
            StreamEvent::from_json(json).unwrap().into_event(),
            Some(event)
        );
    }
}
