//! The Backend's `RuntimeRegistry`: routes every Worker operation by `runtime_id + worker_id` to a
//! [`RuntimeHandle`], whatever adapter serves it (an embedded Runtime, a remote runtime process,
//! the legacy pod store).
//!
//! - [`RuntimeHandle`]: the object-safe trait every adapter implements, with its projections
//!   ([`RuntimeDescriptor`], [`RuntimeOverview`], [`WorkerView`]).
//! - [`RuntimeRegistry`]: handles by id; listings ask every runtime concurrently, each under its
//!   own timeout.
//! - [`RegistryError`]: one error type with the codes of the DESIGN table.
//! - [`AdapterFactory`]: adapters register themselves with `inventory`; [`find_adapter`] looks
//!   them up by name.
//!
//! This crate knows nothing of HTTP servers, TOML files or concrete adapters.

mod error;
mod factory;
mod handle;
mod registry;
mod stream_event;

pub use error::{ErrorCode, RegistryError};
pub use factory::{
    AdapterConfigError, AdapterFactory, AdapterInput, AdapterLookupError, adapter_factories,
    find_adapter, serde_error_key,
};
pub use handle::{
    FeedEvent, Policy, RuntimeDescriptor, RuntimeFeed, RuntimeHandle, RuntimeKind, RuntimeOverview,
    RuntimeStatus, StreamItem, WorkerEvents, WorkerState, WorkerView, WorkerViewPage,
};
pub use registry::{DuplicateRuntime, RuntimeRegistry, overview_of};
pub use stream_event::{InvalidEvent, StreamEvent};

/// The shapes and ids the registry shares with `worker-runtime`.
pub use worker_runtime::{
    Capabilities, CreateWorker, Diagnostic, Event, EventKind, Input, InputAck, InputKind,
    PageRequest, Role, RuntimeId, Secret, Severity, Timestamp, TranscriptEntry, TranscriptPage,
    Usage, WorkerCounts, WorkerId, WorkerSnapshot, WorkerStatus, validate_id,
};

pub use inventory;
