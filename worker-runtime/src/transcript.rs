//! Transcript pages: the conversation of a Worker, one entry per input and per engine message.

use serde::{Deserialize, Serialize};

use crate::event::Role;
use crate::time::Timestamp;

/// One turn of the conversation. Its `sequence` is that of the event that recorded it
/// (`input_accepted` or `message`), so a transcript and the event stream line up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    /// The sequence of the recording event.
    pub sequence: u64,
    /// Who spoke.
    pub role: Role,
    /// What was said.
    pub content: String,
    /// When.
    pub at: Timestamp,
}

/// A bounded page of a transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptPage {
    /// Entries with `sequence >= start`, oldest first.
    pub entries: Vec<TranscriptEntry>,
    /// Pass as `start` for the next page; `None` when this page reaches the end.
    pub next_start: Option<u64>,
}
