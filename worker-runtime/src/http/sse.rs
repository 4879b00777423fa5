//! The HTTP response of an event stream, shared by a runtime and the Backend: rendered frames as
//! they come, a keep-alive comment after each idle interval, and an end when the server shuts
//! down. Each item of the frames' stream is one body chunk, so frames that are ready together
//! (rendered into one buffer) cost one write and one chunk for the reader.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use futures::stream::BoxStream;
use futures::{FutureExt, Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::IdleTimer;

/// The comment that keeps an idle stream open.
pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// The items of `stream` in batches of those that are ready together: each batch is the next
/// item, waited for, and every further item that is ready without waiting, at most `max` in
/// all. Rendering a batch into one buffer makes it one write and one body chunk.
pub fn ready_batches<S>(stream: S, max: usize) -> impl Stream<Item = Vec<S::Item>> + Send
where
    S: Stream + Send + Unpin,
    S::Item: Send,
{
    futures::stream::unfold(stream.fuse(), move |mut stream| async move {
        let mut batch = vec![stream.next().await?];
        while batch.len() < max {
            match stream.next().now_or_never() {
                Some(Some(item)) => batch.push(item),
                Some(None) | None => break,
            }
        }
        Some((batch, stream))
    })
}

/// `frames` as a `text/event-stream` response.
pub fn sse_response(
    frames: impl Stream<Item = Bytes> + Send + 'static,
    keep_alive: Duration,
    shutdown: CancellationToken,
) -> Response {
    let frames = KeepAlive {
        frames: frames.take_until(shutdown.cancelled_owned()).boxed(),
        idle: IdleTimer::new(keep_alive),
    };
    let headers = [
        (CONTENT_TYPE, "text/event-stream"),
        (CACHE_CONTROL, "no-cache"),
    ];
    let buffering = [("x-accel-buffering", "no")];
    (
        headers,
        buffering,
        Body::from_stream(frames.map(Ok::<_, Infallible>)),
    )
        .into_response()
}

/// Frames with a keep-alive comment whenever none came for the interval.
struct KeepAlive {
    frames: BoxStream<'static, Bytes>,
    idle: IdleTimer,
}

impl Stream for KeepAlive {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = &mut *self;
        match this.frames.poll_next_unpin(cx) {
            Poll::Ready(frame) => {
                this.idle.touch();
                Poll::Ready(frame)
            }
            Poll::Pending => {
                ready!(this.idle.poll_idle(cx));
                Poll::Ready(Some(Bytes::from_static(KEEP_ALIVE)))
            }
        }
    }
}
