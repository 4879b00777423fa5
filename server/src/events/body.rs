//! The HTTP response of an event stream: frames as they come, a keep-alive comment after each
//! idle interval, and an end when the server shuts down.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use super::frame::KEEP_ALIVE;

/// `frames` as a `text/event-stream` response.
pub(crate) fn sse_response(
    frames: impl Stream<Item = Bytes> + Send + 'static,
    keep_alive: Duration,
    shutdown: CancellationToken,
) -> Response {
    let frames = KeepAlive {
        frames: frames.take_until(shutdown.cancelled_owned()).boxed(),
        interval: keep_alive,
        idle: Box::pin(tokio::time::sleep(keep_alive)),
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

/// Frames with a keep-alive comment whenever none came for `interval`.
struct KeepAlive {
    frames: BoxStream<'static, Bytes>,
    interval: Duration,
    idle: Pin<Box<Sleep>>,
}

impl Stream for KeepAlive {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = &mut *self;
        match this.frames.poll_next_unpin(cx) {
            Poll::Ready(frame) => {
                this.idle.as_mut().reset(Instant::now() + this.interval);
                Poll::Ready(frame)
            }
            Poll::Pending => {
                if this.idle.as_mut().poll(cx).is_ready() {
                    this.idle.as_mut().reset(Instant::now() + this.interval);
                    return Poll::Ready(Some(Bytes::from_static(KEEP_ALIVE)));
                }
                Poll::Pending
            }
        }
    }
}
