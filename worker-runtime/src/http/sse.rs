//! The HTTP response of an event stream, shared by a runtime and the Backend: rendered frames as
//! they come, a keep-alive comment after each idle interval, and an end when the server shuts
//! down. Each item of the frames' stream is one body chunk, so frames that are ready together
//! (rendered into one buffer) cost one write and one chunk for the reader.

use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use futures::stream::BoxStream;
use futures::{FutureExt, Stream, StreamExt};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::IdleTimer;

/// The comment that keeps an idle stream open.
const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// Appends one frame to `buffer`: `id:` (when given), `event:` and `data:` with `data` as JSON,
/// which has no raw line break, so one `data:` line holds it.
pub fn write_frame(buffer: &mut Vec<u8>, id: Option<u64>, event: &str, data: &impl Serialize) {
    if let Some(id) = id {
        writeln!(buffer, "id: {id}").expect("a Vec takes writes");
    }
    write!(buffer, "event: {event}\ndata: ").expect("a Vec takes writes");
    serde_json::to_writer(&mut *buffer, data).expect("frames serialize to JSON");
    buffer.extend_from_slice(b"\n\n");
}

/// Scheduler turns in a row that bring no new item and so complete a batch.
const IDLE_TURNS: usize = 2;

/// The most scheduler turns a batch waits for, however many bring items.
const MAX_TURNS: usize = 4;

/// The items of `stream` in batches of those that are ready together: each batch is the next
/// item, waited for, and every further item that comes without waiting, at most `max` in all.
/// A batch gives the tasks that feed the stream a few scheduler turns (yields, no timer) to add
/// what they have at hand, such as the rest of one read of several frames: it is complete after
/// [`IDLE_TURNS`] turns in a row bring nothing, after [`MAX_TURNS`], or when the stream ends. Rendering a batch into one
/// buffer makes it one write and one body chunk, so a stream that runs at full speed costs a
/// fraction of the wake-ups and system calls of one frame at a time.
pub fn ready_batches<S>(stream: S, max: usize) -> impl Stream<Item = Vec<S::Item>> + Send
where
    S: Stream + Send + Unpin,
    S::Item: Send,
{
    futures::stream::unfold(stream.fuse(), move |mut stream| async move {
        let mut batch = vec![stream.next().await?];
        let (mut turns, mut idle_turns) = (0, 0);
        loop {
            let before = batch.len();
            let mut ended = false;
            while batch.len() < max {
                match stream.next().now_or_never() {
                    Some(Some(item)) => batch.push(item),
                    Some(None) => {
                        ended = true;
                        break;
                    }
                    None => break,
                }
            }
            // Only the turns given away count: the first look comes before any.
            if turns > 0 {
                idle_turns = if batch.len() > before {
                    0
                } else {
                    idle_turns + 1
                };
            }
            if ended || batch.len() == max || idle_turns == IDLE_TURNS || turns == MAX_TURNS {
                return Some((batch, stream));
            }
            tokio::task::yield_now().await;
            turns += 1;
        }
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

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::ready_batches;

    #[tokio::test]
    async fn ready_items_come_in_batches_of_at_most_max_and_the_last_is_not_held() {
        let batches: Vec<Vec<u32>> = ready_batches(futures::stream::iter(1..=7), 3)
            .collect()
            .await;
        assert_eq!(batches, [vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    }

    #[tokio::test]
    async fn an_item_that_comes_later_starts_a_new_batch() {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let mut batches = ready_batches(tokio_stream_of(receiver), 8).boxed();
        sender.send(1).unwrap();
        sender.send(2).unwrap();
        assert_eq!(batches.next().await, Some(vec![1, 2]));
        sender.send(3).unwrap();
        assert_eq!(batches.next().await, Some(vec![3]));
        drop(sender);
        assert_eq!(batches.next().await, None);
    }

    fn tokio_stream_of(
        receiver: tokio::sync::mpsc::UnboundedReceiver<u32>,
    ) -> impl futures::Stream<Item = u32> + Send + Unpin {
        futures::stream::unfold(receiver, |mut receiver| async move {
            Some((receiver.recv().await?, receiver))
        })
        .boxed()
    }
}
