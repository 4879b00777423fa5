//! A lean event-stream subscriber: one keep-alive connection, frames split on blank lines, each
//! event's key (its `id`, or what the scenario makes of the frame) and arrival time noted. Frames
//! without a key (keep-alive comments) are skipped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::load::{self, Target};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};

/// An open event stream, read by a task of its own until dropped.
pub(crate) struct Subscriber {
    seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

/// What a subscriber has read.
#[derive(Default)]
struct Seen {
    /// Events received.
    events: AtomicU64,
    /// The key of the newest event.
    last_id: AtomicU64,
    /// Whether arrivals are noted.
    recording: AtomicBool,
    /// `(key, arrival)` of each event while recording.
    arrivals: Mutex<Vec<(u64, Instant)>>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscriber {
    /// Opens `target` as an event stream and waits for its `200` head; its events are the
    /// frames with an `id:`, which is their key.
    pub(crate) async fn open(target: &Target) -> Self {
        Self::open_keyed(target, frame_id).await
    }

    /// Opens `target` as an event stream and waits for its `200` head; its events are the
    /// frames that `key` gives a key.
    pub(crate) async fn open_keyed(target: &Target, key: fn(&[u8]) -> Option<u64>) -> Self {
        let mut sender = load::connect(target.address).await;
        let request = load::request(target).header(hyper::header::ACCEPT, "text/event-stream");
        let response = sender
            .send_request(
                request
                    .body(Empty::<Bytes>::new())
                    .expect("a valid request"),
            )
            .await
            .unwrap_or_else(|error| panic!("GET {}: {error}", target.path));
        assert_eq!(response.status(), 200, "GET {}", target.path);
        let seen = Arc::new(Seen::default());
        let reader = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            // Keeps the connection's sender alive as long as the stream is read.
            let _sender = sender;
            let mut body = response.into_body();
            let mut pending = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let arrival = Instant::now();
                pending.extend_from_slice(&data);
                reader.take_frames(&mut pending, arrival, key);
            }
        });
        Self { seen, task }
    }

    /// Events received so far.
    pub(crate) fn events(&self) -> u64 {
        self.seen.events.load(Ordering::Acquire)
    }

    /// The key of the newest event received (0 before any).
    pub(crate) fn last_id(&self) -> u64 {
        self.seen.last_id.load(Ordering::Acquire)
    }

    /// Notes each event's arrival from now on (or stops noting).
    pub(crate) fn record(&self, on: bool) {
        self.seen.recording.store(on, Ordering::Release);
    }

    /// The arrivals noted so far, emptied.
    pub(crate) fn take_arrivals(&self) -> Vec<(u64, Instant)> {
        std::mem::take(&mut *self.seen.arrivals.lock().expect("not poisoned"))
    }
}

impl Seen {
    /// Takes every complete frame off the front of `pending`, counting those with a key.
    fn take_frames(&self, pending: &mut Vec<u8>, arrival: Instant, key: fn(&[u8]) -> Option<u64>) {
        let mut start = 0;
        while let Some(end) = find_blank_line(&pending[start..]) {
            let frame = &pending[start..start + end];
            if let Some(id) = key(frame) {
                if self.recording.load(Ordering::Acquire) {
                    self.arrivals
                        .lock()
                        .expect("not poisoned")
                        .push((id, arrival));
                }
                self.last_id.store(id, Ordering::Release);
                self.events.fetch_add(1, Ordering::AcqRel);
            }
            start += end + 2;
        }
        pending.drain(..start);
    }
}

/// How long every subscriber may take to reach an event before it counts as a hang.
const DELIVERY_LIMIT: Duration = Duration::from_secs(30);

/// Waits until every one of `subscribers` has received the event `id`.
pub(crate) async fn wait_all(subscribers: &[Subscriber], id: u64) {
    let started = Instant::now();
    while subscribers
        .iter()
        .any(|subscriber| subscriber.last_id() < id)
    {
        let behind = subscribers.iter().filter(|s| s.last_id() < id).count();
        assert!(
            started.elapsed() < DELIVERY_LIMIT,
            "{behind} of {} subscribers never got event {id}",
            subscribers.len()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Where the first `\n\n` of `bytes` starts.
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|pair| pair == b"\n\n")
}

/// The value of a frame's `id:` line.
fn frame_id(frame: &[u8]) -> Option<u64> {
    frame.split(|&byte| byte == b'\n').find_map(|line| {
        let value = line.strip_prefix(b"id:")?;
        std::str::from_utf8(value).ok()?.trim().parse().ok()
    })
}
