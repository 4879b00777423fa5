//! A browser's event stream: opening one at the Backend and reading its frames.

use eventsource_stream::Eventsource;
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::within;

/// A browser's event stream, frame by frame.
pub type Frames = BoxStream<'static, eventsource_stream::Event>;

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
    let frames = response
        .bytes_stream()
        .eventsource()
        .map(|frame| frame.unwrap())
        .boxed();
    (headers, frames)
}

/// Frames up to and including the first of `kind`; fails if the stream ends or stalls first.
pub async fn until(frames: &mut Frames, kind: &str) -> Vec<eventsource_stream::Event> {
    let mut seen = Vec::new();
    loop {
        let frame = within(&format!("a {kind} frame after {seen:?}"), frames.next())
            .await
            .unwrap_or_else(|| panic!("the stream ended before {kind}: {seen:?}"));
        let done = frame.event == kind;
        seen.push(frame);
        if done {
            return seen;
        }
    }
}

/// The sequences (`id:` fields) of `frames`; every frame must carry one.
pub fn sequences(frames: &[eventsource_stream::Event]) -> Vec<u64> {
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
