//! SSE frames, rendered once and shared by every browser watching a worker: `id: <sequence>`,
//! `event: <kind>`, `data: {"runtime_id","worker_id","sequence","kind",...}` for events;
//! `event: runtime_status` when the upstream connection is lost or back; `event: reset` (the
//! stream cannot continue without a gap) or `event: error` as a stream's last frame.

use std::io::Write;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use worker_runtime::http::write_frame;
use yoi_registry_core::{
    ErrorCode, RegistryError, RuntimeId, RuntimeStatus, StreamEvent, WorkerId,
};

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

/// The ids that open the `data:` of a worker's events.
#[derive(Serialize)]
struct Ids<'a> {
    runtime_id: &'a RuntimeId,
    worker_id: &'a WorkerId,
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

/// `{"runtime_id":"...","worker_id":"..."`: the start of the `data:` of the worker's events,
/// which [`write_event`] completes with the event's own members.
pub(crate) fn ids_prefix(runtime_id: &RuntimeId, worker_id: &WorkerId) -> Vec<u8> {
    let mut prefix = serde_json::to_vec(&Ids {
        runtime_id,
        worker_id,
    })
    .expect("ids serialize to JSON");
    prefix.pop();
    prefix
}

/// Appends the frame of `event` to `buffer`: its `data:` is `ids` (from [`ids_prefix`]) and then
/// the members of the event's JSON object, on one line (the event's JSON has no line break).
pub(crate) fn write_event(buffer: &mut BytesMut, ids: &[u8], event: &StreamEvent) {
    let (sequence, kind) = (event.sequence(), event.kind());
    let mut writer = buffer.writer();
    write!(writer, "id: {sequence}\nevent: {kind}\ndata: ").expect("memory takes writes");
    writer.write_all(ids).expect("memory takes writes");
    let object = writer.get_ref().len();
    event
        .write_json(&mut writer)
        .expect("events serialize to JSON");
    let buffer = writer.into_inner();
    // The event's `{` becomes the `,` after the ids: one object, the ids first.
    buffer[object] = b',';
    buffer.extend_from_slice(b"\n\n");
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
pub(crate) fn render(kind: &str, data: &impl Serialize) -> Bytes {
    let mut frame = Vec::new();
    write_frame(&mut frame, None, kind, data);
    Bytes::from(frame)
}
