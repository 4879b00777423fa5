//! A browser's event stream: opening one at the Backend and reading its frames.

use futures::StreamExt;
use futures::stream::BoxStream;
use sse_stream::SseByteStream;

use crate::DEADLINE;

/// One frame as a browser's `EventSource` sees it: a missing `id:` or `data:` is empty, a
/// missing `event:` is `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The `id:` field.
    pub id: String,
    /// The `event:` field.
    pub event: String,
    /// The `data:` lines, joined by newlines.
    pub data: String,
}

/// An event stream, frame by frame.
pub type Frames = BoxStream<'static, Frame>;

/// The frames of an event-stream response; blocks without data (which an `EventSource` does not
/// dispatch) are skipped, and a broken stream fails the test.
pub fn frames_of(response: reqwest::Response) -> Frames {
    SseByteStream::new(response.bytes_stream())
        .filter_map(|block| async move {
            let block = block.expect("the event stream is well formed and unbroken");
            Some(Frame {
                id: block.id.unwrap_or_default(),
                event: block.event.unwrap_or_else(|| "message".into()),
                data: block.data?,
            })
        })
        .boxed()
}

/// Opens `runtime/worker`'s event stream at the Backend `base`, resuming after `last`; answers
/// the response's headers (the status must be 200) and its frames.
pub async fn open_events(
    client: &reqwest::Client,
    base: &str,
    runtime: &str,
    worker: &str,
    last: Option<u64>,
) -> (reqwest::header::HeaderMap, Frames) {
    let url = format!("{base}/api/runtimes/{runtime}/workers/{worker}/events");
    let mut request = client.get(url);
    if let Some(last) = last {
        request = request.header("last-event-id", last.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    (headers, frames_of(response))
}

/// Frames up to and including the first of `kind`; fails if the stream ends or stalls first.
pub async fn until(frames: &mut Frames, kind: &str) -> Vec<Frame> {
    let mut seen = Vec::new();
    loop {
        // The description is built only when it is needed: frames may be many.
        let frame = tokio::time::timeout(DEADLINE, frames.next())
            .await
            .unwrap_or_else(|_| panic!("not within {DEADLINE:?}: a {kind} frame after {seen:?}"))
            .unwrap_or_else(|| panic!("the stream ended before {kind}: {seen:?}"));
        let done = frame.event == kind;
        seen.push(frame);
        if done {
            return seen;
        }
    }
}

/// The sequences (`id:` fields) of `frames`; every frame must carry one.
pub fn sequences(frames: &[Frame]) -> Vec<u64> {
    frames
        .iter()
        .map(|frame| {
            frame
                .id
                .parse()
                .unwrap_or_else(|_| panic!("a frame without a sequence: {frame:?}"))
        })
        .collect()
}
