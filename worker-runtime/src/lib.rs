//! `worker-runtime`: an embeddable Runtime that owns long-lived agent Workers.
//!
//! A [`Runtime`] holds Workers. Each Worker runs the engine of the profile it was created with
//! (`echo`, or `command` for a program the operator configured), keeps a bounded transcript, and
//! records everything that happens as [`Event`]s numbered 1, 2, 3, ... A subscriber resumes from
//! any retained sequence with no gap and no duplicate; when the events it needs are gone it is
//! told so (`cursor_expired`) instead of missing them silently.
//!
//! The same value serves an in-process embedder and, behind the `http-server` feature, a
//! standalone runtime process (`http::router`), so Worker semantics exist once. Default features
//! pull in no HTTP stack.
//!
//! ```
//! use futures::StreamExt;
//! use worker_runtime::{CreateWorker, EventKind, Input, Runtime, RuntimeConfig, RuntimeId};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Embed: with no profiles configured, the `default` profile echoes its input.
//! let runtime = Runtime::new(RuntimeConfig::new(RuntimeId::new("laptop")?))?;
//!
//! // Create a Worker and send it an input; the run proceeds on its own task.
//! let worker = runtime.create_worker(CreateWorker::default()).await?;
//! let ack = runtime.send_input(&worker.worker_id, Input::user("hello")).await?;
//!
//! // Subscribe from just before the input: replay, then live, until the run completes.
//! let mut events = runtime.subscribe(&worker.worker_id, Some(ack.sequence - 1))?;
//! let mut streamed = String::new();
//! while let Some(event) = events.next().await {
//!     match event?.kind {
//!         EventKind::OutputDelta { text } => streamed.push_str(&text),
//!         EventKind::RunCompleted { .. } => break,
//!         _ => {}
//!     }
//! }
//! assert_eq!(streamed, "hello");
//!
//! // The transcript holds both turns, each with the sequence of the event that recorded it.
//! let transcript = runtime.transcript(&worker.worker_id, 0, None)?;
//! let turns: Vec<_> = transcript.entries.iter().map(|entry| entry.content.as_str()).collect();
//! assert_eq!(turns, ["hello", "hello"]);
//! assert_eq!(transcript.entries[0].sequence, ack.sequence);
//! # Ok(())
//! # }
//! ```

mod config;
mod diagnostics;
mod engine;
mod error;
mod event;
mod feed;
#[cfg(feature = "fs-store")]
mod fs_store;
#[cfg(feature = "fs-store")]
mod fs_writer;
#[cfg(feature = "http-server")]
pub mod http;
mod id;
mod idle_timer;
mod journal;
mod model_config;
mod page;
pub mod protocol;
mod run;
mod runtime;
pub mod secret_env;
mod subscription;
mod summary;
mod time;
mod transcript;
mod worker;
mod worker_cell;

pub use config::{
    CommandSettings, DEFAULT_PROFILE, EchoSettings, EngineSettings, Limits, MAX_DISPLAY_NAME_CHARS,
    RuntimeConfig, RuntimeConfigError,
};
pub use error::RuntimeError;
pub use event::{Event, EventKind, Role, Usage};
pub use feed::{Feed, FeedItem, WorkerSnapshot};
#[cfg(feature = "fs-store")]
pub use fs_store::OpenError;
pub use id::{IdError, MAX_ID_LEN, RuntimeId, WorkerId, WorkerRef, WorkerRefError, validate_id};
pub use idle_timer::IdleTimer;
pub use model_config::{ModelSettings, Secret};
pub use page::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, PageRequest};
pub use runtime::Runtime;
pub use subscription::EventStream;
pub use summary::{Capabilities, Diagnostic, ProfileInfo, RuntimeSummary, Severity, WorkerCounts};
pub use time::Timestamp;
pub use transcript::{TranscriptEntry, TranscriptPage};
pub use worker::{
    CreateWorker, Input, InputAck, InputKind, WorkerDetail, WorkerPage, WorkerStatus,
};
