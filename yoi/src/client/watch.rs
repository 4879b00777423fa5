//! `yoi watch`: follows a worker's event stream, printing output as it arrives. After a lost
//! connection or a `reset` it resumes from the last event it printed (`Last-Event-ID`), backing
//! off up to a few seconds; it ends when the worker stops.

use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::ACCEPT;
use reqwest::{Method, Response, StatusCode};
use serde::Deserialize;
use sse_stream::{Sse, SseByteStream};
use worker_runtime::protocol::ErrorBody;
use yoi_registry_core::{Event as WorkerEvent, EventKind, RuntimeStatus};

use super::commands::{name, warn};
use super::http::{Backend, ClientError, api_error};

/// The first pause before reconnecting, doubled after each failed attempt.
pub(super) const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// The longest pause between reconnect attempts.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a note shows for a field the Backend did not send.
const MISSING: &str = "-";

/// Follows the events at `path` until the worker stops; a typed error (an unknown worker, a
/// resume point that is gone) ends it.
pub(crate) async fn follow(backend: &Backend, path: &str, json: bool) -> Result<(), ClientError> {
    let mut watch = Watch {
        printer: Printer {
            json,
            mid_line: false,
        },
        last: None,
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        let mut request = backend
            .request(Method::GET, path)
            .header(ACCEPT, "text/event-stream");
        // A new connection resumes after the last event printed.
        if let Some(last) = watch.last {
            request = request.header("last-event-id", last.to_string());
        }
        match request.send().await {
            // The worker is stopped and everything was shown.
            Ok(response) if response.status() == StatusCode::NO_CONTENT => {
                watch.printer.end_line();
                return Ok(());
            }
            Ok(response) if response.status().is_success() => {
                backoff = FIRST_BACKOFF;
                if let StreamEnd::Stopped = watch.read(response).await? {
                    return Ok(());
                }
            }
            // The runtime behind the Backend is down or slow: it may come back.
            Ok(response) if response.status().is_server_error() => {
                watch.printer.end_line();
                warn(&format!("{}; retrying", api_error(response).await));
            }
            Ok(response) => return Err(api_error(response).await),
            Err(error) => {
                watch.printer.end_line();
                warn(&format!("{}; retrying", backend.unreachable(&error)));
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// How one connection's stream ended.
enum StreamEnd {
    /// The worker stopped: the watch is over.
    Stopped,
    /// The connection was lost or the stream reset: reconnect and resume.
    Resume,
}

/// One watch of a worker's events, across connections.
struct Watch {
    printer: Printer,
    /// The sequence of the last event printed: where a new connection resumes.
    last: Option<u64>,
}

impl Watch {
    /// Prints the frames of one connection until it ends.
    async fn read(&mut self, response: Response) -> Result<StreamEnd, ClientError> {
        let mut frames = SseByteStream::new(response.bytes_stream());
        while let Some(frame) = frames.next().await {
            let Ok(frame) = frame else {
                self.printer.end_line();
                warn("the connection to the backend was lost; resuming");
                return Ok(StreamEnd::Resume);
            };
            if let Some(end) = self.frame(&frame)? {
                return Ok(end);
            }
        }
        Ok(StreamEnd::Resume)
    }

    /// Prints one frame; `Some` when it ends the connection's stream. A block without data
    /// (only an `id:` or `retry:`) is not an event.
    fn frame(&mut self, frame: &Sse) -> Result<Option<StreamEnd>, ClientError> {
        let Some(data) = frame.data.as_deref() else {
            return Ok(None);
        };
        match frame.event.as_deref().unwrap_or("message") {
            "reset" => {
                self.printer.end_line();
                warn("the stream was reset; resuming from the last event shown");
                Ok(Some(StreamEnd::Resume))
            }
            "error" => {
                self.printer.end_line();
                // A body that is not the API's error still ends the watch with an error.
                let body =
                    serde_json::from_str(data).unwrap_or_else(|_| ErrorBody::new(MISSING, MISSING));
                Err(body.into())
            }
            "runtime_status" => {
                let notice = serde_json::from_str::<StatusNotice>(data).ok();
                self.printer.end_line();
                warn(&match notice {
                    Some(notice) => format!("runtime {}: {}", name(&notice.status), notice.message),
                    None => format!("runtime {MISSING}: {MISSING}"),
                });
                Ok(None)
            }
            kind => {
                let sequence = frame.id.as_deref().and_then(|id| id.parse::<u64>().ok());
                // A resumed stream may repeat events already printed.
                if sequence.is_some_and(|sequence| self.last.is_some_and(|last| sequence <= last)) {
                    return Ok(None);
                }
                self.last = sequence.or(self.last);
                self.printer.event(kind, data);
                Ok((kind == "worker_stopped").then_some(StreamEnd::Stopped))
            }
        }
    }
}

/// What a `runtime_status` frame says that a watch shows.
#[derive(Deserialize)]
struct StatusNotice {
    status: RuntimeStatus,
    message: String,
}

/// Prints events: output on stdout as it streams, everything else as notes on stderr.
struct Printer {
    json: bool,
    /// Output was printed without its final newline.
    mid_line: bool,
}

impl Printer {
    fn event(&mut self, kind: &str, data: &str) {
        if self.json {
            write_out(&format!("{data}\n"));
            return;
        }
        let event = serde_json::from_str::<WorkerEvent>(data)
            .ok()
            .map(|event| event.kind);
        match (kind, event) {
            ("output_delta", Some(EventKind::OutputDelta { text })) => {
                write_out(&text);
                self.mid_line = true;
            }
            ("message", Some(EventKind::Message { content, .. })) if !self.mid_line => {
                write_out(&format!("{content}\n"));
            }
            ("message", _) => self.end_line(),
            ("run_failed", Some(EventKind::RunFailed { reason, .. })) => {
                self.end_line();
                warn(&format!("run failed: {reason}"));
            }
            ("input_accepted", Some(EventKind::InputAccepted { content, .. })) => {
                self.end_line();
                warn(&format!("> {content}"));
            }
            (other, _) => {
                self.end_line();
                warn(other);
            }
        }
    }

    fn end_line(&mut self) {
        if std::mem::take(&mut self.mid_line) {
            write_out("\n");
        }
    }
}

/// Writes to stdout at once (output arrives in pieces without newlines).
pub(super) fn write_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (e.g. `yoi watch | head`) is not worth failing the watch over.
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}
