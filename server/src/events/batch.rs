//! Event frames rendered together: what arrived from the runtime in one read becomes one buffer,
//! one broadcast and one socket write per browser, instead of one of each per event.

use bytes::{Bytes, BytesMut};
use yoi_registry_core::{RuntimeId, StreamEvent, WorkerId};

use super::frame;

/// How many upstream items are taken at once when more are ready.
pub(crate) const READY_ITEMS: usize = 256;

/// A batch is sent once its frames reach this size, so that a browser's frames in flight stay
/// bounded in bytes as well as in batches.
const MAX_BYTES: usize = 64 * 1024;

/// The room a batcher's buffer makes when it runs out: batches are cut from one allocation of
/// this size until it is used up.
const BLOCK_BYTES: usize = 16 * 1024;

/// Event frames in order of sequence, in one buffer.
#[derive(Debug)]
pub(crate) struct Batch {
    bytes: Bytes,
    /// Each frame's sequence and where it starts in `bytes`.
    starts: Vec<(u64, usize)>,
}

impl Batch {
    /// The frames newer than `last` (the newest the client has) as one buffer, and `last`
    /// advanced to the newest of them; `None` when the client has them all.
    pub(crate) fn after(&self, last: &mut Option<u64>) -> Option<Bytes> {
        let first_new = self
            .starts
            .iter()
            .position(|(sequence, _)| last.is_none_or(|last| *sequence > last))?;
        *last = self.starts.last().map(|(sequence, _)| *sequence);
        Some(self.bytes.slice(self.starts[first_new].1..))
    }

    /// The frames as one buffer.
    pub(crate) fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Each frame by itself, with its sequence, sharing the batch's buffer.
    pub(crate) fn frames(&self) -> impl Iterator<Item = (u64, Bytes)> + '_ {
        let ends = self
            .starts
            .iter()
            .skip(1)
            .map(|(_, start)| *start)
            .chain([self.bytes.len()]);
        self.starts
            .iter()
            .zip(ends)
            .map(|((sequence, start), end)| (*sequence, self.bytes.slice(*start..end)))
    }
}

/// Renders a worker's events into batches.
pub(crate) struct Batcher {
    /// The start of every event's `data:`.
    ids: Vec<u8>,
    /// The frames of the batch being made; its spare room is the next batches'.
    buffer: BytesMut,
    starts: Vec<(u64, usize)>,
}

impl Batcher {
    /// A batcher for the events of `worker_id` on `runtime_id`.
    pub(crate) fn new(runtime_id: &RuntimeId, worker_id: &WorkerId) -> Self {
        Self {
            ids: frame::ids_prefix(runtime_id, worker_id),
            buffer: BytesMut::new(),
            starts: Vec::new(),
        }
    }

    /// Renders `event` after the frames held; answers the batch when it is full.
    pub(crate) fn push(&mut self, event: &StreamEvent) -> Option<Batch> {
        if self.buffer.capacity() - self.buffer.len() < BLOCK_BYTES / 8 {
            self.buffer.reserve(BLOCK_BYTES);
        }
        self.starts.push((event.sequence(), self.buffer.len()));
        frame::write_event(&mut self.buffer, &self.ids, event);
        (self.buffer.len() >= MAX_BYTES)
            .then(|| self.take())
            .flatten()
    }

    /// The frames held, if any, as a batch; the batcher is empty after.
    pub(crate) fn take(&mut self) -> Option<Batch> {
        if self.starts.is_empty() {
            return None;
        }
        Some(Batch {
            bytes: self.buffer.split().freeze(),
            starts: std::mem::take(&mut self.starts),
        })
    }
}

#[cfg(test)]
mod tests {
    use worker_runtime::{Event, EventKind, Timestamp};

    use super::*;

    fn delta(sequence: u64, text: &str) -> StreamEvent {
        StreamEvent::decoded(Event {
            sequence,
            at: Timestamp::now(),
            kind: EventKind::OutputDelta { text: text.into() },
        })
    }

    fn batch_of(sequences: &[u64]) -> Batch {
        let mut batcher = Batcher::new(&"r".parse().unwrap(), &"w".parse().unwrap());
        for sequence in sequences {
            assert!(batcher.push(&delta(*sequence, "x")).is_none());
        }
        batcher.take().expect("events were pushed")
    }

    fn ids(bytes: &Bytes) -> Vec<String> {
        std::str::from_utf8(bytes)
            .unwrap()
            .lines()
            .filter_map(|line| line.strip_prefix("id: ").map(str::to_owned))
            .collect()
    }

    #[test]
    fn a_client_gets_only_the_frames_newer_than_its_last() {
        let batch = batch_of(&[4, 5, 6]);
        let mut last = Some(4);
        assert_eq!(ids(&batch.after(&mut last).unwrap()), ["5", "6"]);
        assert_eq!(last, Some(6));
        assert!(batch.after(&mut last).is_none());
        let mut none = None;
        assert_eq!(ids(&batch.after(&mut none).unwrap()), ["4", "5", "6"]);
    }

    #[test]
    fn each_frame_is_whole_and_the_frames_add_up_to_the_batch() {
        let batch = batch_of(&[1, 2, 3]);
        let frames: Vec<(u64, Bytes)> = batch.frames().collect();
        assert_eq!(
            frames.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        for (sequence, bytes) in &frames {
            let text = std::str::from_utf8(bytes).unwrap();
            assert!(text.starts_with(&format!("id: {sequence}\n")), "{text}");
            assert!(text.ends_with("\n\n") && text.matches("\n\n").count() == 1);
        }
        let joined: Vec<u8> = frames.iter().flat_map(|(_, b)| b.to_vec()).collect();
        assert_eq!(joined, batch.bytes.to_vec());
    }

    #[test]
    fn a_frame_s_data_is_the_ids_then_the_event_s_own_members_in_either_form() {
        let json =
            r#"{"sequence":9,"at":"2026-01-01T00:00:00Z","kind":"output_delta","text":"é\"x"}"#;
        let events = [
            StreamEvent::from_json(json.into()).unwrap(),
            delta(10, "é\"x"),
        ];
        let mut batcher = Batcher::new(&"r-1".parse().unwrap(), &"w".parse().unwrap());
        for event in &events {
            assert!(batcher.push(event).is_none());
        }
        let batch = batcher.take().unwrap();
        for ((sequence, bytes), event) in batch.frames().zip(&events) {
            let text = std::str::from_utf8(&bytes).unwrap();
            let data = text
                .lines()
                .find_map(|line| line.strip_prefix("data: "))
                .unwrap();
            assert!(
                data.starts_with(r#"{"runtime_id":"r-1","worker_id":"w","sequence":"#),
                "{data}"
            );
            let value: serde_json::Value = serde_json::from_str(data).unwrap();
            assert_eq!(value["sequence"], sequence);
            assert_eq!(value["text"], "é\"x");
            assert!(text.starts_with(&format!("id: {sequence}\nevent: {}\n", event.kind())));
        }
    }

    #[test]
    fn a_batch_is_answered_once_it_reaches_its_size() {
        let mut batcher = Batcher::new(&"r".parse().unwrap(), &"w".parse().unwrap());
        let text = "y".repeat(1024);
        let full = (1..=100).find_map(|sequence| batcher.push(&delta(sequence, &text)));
        let full = full.expect("a hundred 1 KiB frames fill a batch");
        assert!(full.bytes.len() >= MAX_BYTES && full.bytes.len() < MAX_BYTES + 2048);
        assert!(batcher.take().is_none(), "the full batch took every frame");
    }
}
