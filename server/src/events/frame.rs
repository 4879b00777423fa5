//! SSE frames, rendered once and shared by every browser watching a worker: `id: <sequence>`,
//! `event: <kind>`, `data: {"runtime_id","worker_id","sequence","kind",...}` for events;
//! `event: runtime_status` when the upstream connection is lost or back; `event: reset` (the
//! stream cannot continue without a gap) or `event: error` as a stream's last frame.

use std::io::Write;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use yoi_registry_core::{ErrorCode, Event, RegistryError, RuntimeId, RuntimeStatus, WorkerId};

use super::batch::Batch;
use crate::error::{ApiError, body_of, public_message};

/// What a shared stream sends its clients.
#[derive(Debug, Clone)]
pub(crate) enum Frame {
    /// Events of the worker, in order.
    Events(Arc<Batch>),
    /// A `runtime_status` frame.
    Notice(Bytes),
    /// The stream ends, after this frame when there is one.
    End(Option<Bytes>),
}

/// `data:` of an event.
#[derive(Serialize)]
struct EventData<'a> {
    runtime_id: &'a RuntimeId,
    worker_id: &'a WorkerId,
    #[serde(flatten)]
    event: &'a Event,
}

/// `data:` of a `runtime_status` frame.
#[derive(Serialize)]
struct StatusData<'a> {
    runtime_id: &'a RuntimeId,
    worker_id: &'a WorkerId,
    status: RuntimeStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<ErrorCode>,
    message: String,
}

/// Appends the frame of `event` to `buffer`. JSON has no raw newline, so one `data:` line
/// holds it.
pub(crate) fn write_event(
    buffer: &mut BytesMut,
    runtime_id: &RuntimeId,
    worker_id: &WorkerId,
    event: &Event,
) {
    let data = EventData {
        runtime_id,
        worker_id,
        event,
    };
    let kind = event.kind.name();
    let mut writer = buffer.writer();
    write!(writer, "id: {}\nevent: {kind}\ndata: ", event.sequence).expect("memory takes writes");
    serde_json::to_writer(&mut writer, &data).expect("frames serialize to JSON");
    writer.into_inner().extend_from_slice(b"\n\n");
}

/// A `runtime_status` frame: `unavailable` with the error's code when the connection to the
/// runtime is lost (`Some`), `available` when it is back (`None`).
pub(crate) fn status(
    runtime_id: &RuntimeId,
    worker_id: &WorkerId,
    lost: Option<&RegistryError>,
) -> Bytes {
    let data = StatusData {
        runtime_id,
        worker_id,
        status: match lost {
            Some(_) => RuntimeStatus::Unavailable,
            None => RuntimeStatus::Available,
        },
        code: lost.map(|error| error.code),
        message: match lost {
            Some(error) => public_message(error).unwrap_or_else(|| error.message.clone()),
            None => format!("runtime {runtime_id} answers again"),
        },
    };
    render("runtime_status", &data)
}

/// The last frame of a stream that failed: `reset` when the resume point is gone, `error`
/// otherwise, with the error body of the API.
pub(crate) fn failure(error: RegistryError) -> Bytes {
    let kind = match error.code {
        ErrorCode::CursorExpired => "reset",
        _ => "error",
    };
    render(kind, &body_of(ApiError::Registry(error)))
}

/// The `reset` of a client that fell behind its stream.
pub(crate) fn fell_behind(runtime_id: &RuntimeId, worker_id: &WorkerId) -> Bytes {
    let error = RegistryError::new(
        ErrorCode::CursorExpired,
        "this client fell behind the stream; reconnect with Last-Event-ID to resume",
    )
    .for_runtime(runtime_id)
    .for_worker(worker_id);
    failure(error)
}

/// A frame without an `id:`: `event:` and one `data:` line.
fn render(kind: &str, data: &impl Serialize) -> Bytes {
    let data = serde_json::to_string(data).expect("frames serialize to JSON");
    Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))
}
