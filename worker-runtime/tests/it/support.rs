//! Runtimes to test and their events; the deadline and polling come from `yoi-test-support`.

use futures::StreamExt;
use worker_runtime::{
    CommandSettings, CreateWorker, EchoSettings, EngineSettings, Event, Input, InputAck, Runtime,
    RuntimeConfig, RuntimeError, RuntimeId, WorkerId,
};

pub(crate) use yoi_test_support::{DEADLINE, eventually};

/// A runtime with default settings changed by `adjust`.
pub(crate) fn runtime_with(adjust: impl FnOnce(&mut RuntimeConfig)) -> Runtime {
    let mut config = RuntimeConfig::new(RuntimeId::new("test-runtime").unwrap());
    adjust(&mut config);
    Runtime::new(config).unwrap()
}

/// A runtime with default settings: one `default` echo profile.
pub(crate) fn runtime() -> Runtime {
    runtime_with(|_| {})
}

/// A runtime whose `default` profile runs `program args...`.
pub(crate) fn command_runtime(program: &str, args: &[&str], timeout_ms: u64) -> Runtime {
    runtime_with(|config| {
        config.profiles.insert(
            "default".into(),
            EngineSettings::Command(CommandSettings {
                program: program.into(),
                args: args.iter().map(|arg| (*arg).to_owned()).collect(),
                timeout_ms,
            }),
        );
    })
}

/// An echo engine that streams its first character at once and then pauses for a minute: a
/// run that stays active until it is cancelled.
pub(crate) fn slow_echo() -> EngineSettings {
    EngineSettings::Echo(EchoSettings {
        chunk_chars: 1,
        delay_ms: 60_000,
    })
}

/// A runtime whose `default` profile is [`slow_echo`].
pub(crate) fn slow_echo_runtime() -> Runtime {
    runtime_with(|config| {
        config.profiles.insert("default".into(), slow_echo());
    })
}

/// A `sh -c script` runtime.
pub(crate) fn shell_runtime(script: &str) -> Runtime {
    command_runtime("sh", &["-c", script], 60_000)
}

/// Parses a worker id.
pub(crate) fn wid(id: &str) -> WorkerId {
    WorkerId::new(id).unwrap()
}

/// A request for the Worker `id` with the default profile.
pub(crate) fn named(id: WorkerId) -> CreateWorker {
    CreateWorker {
        worker_id: Some(id),
        ..CreateWorker::default()
    }
}

/// Creates a Worker with the default profile and returns its id.
pub(crate) async fn create(runtime: &Runtime) -> WorkerId {
    runtime
        .create_worker(CreateWorker::default())
        .await
        .unwrap()
        .worker_id
}

/// Sends a user input to `id`.
pub(crate) async fn send(
    runtime: &Runtime,
    id: &WorkerId,
    content: impl Into<String>,
) -> Result<InputAck, RuntimeError> {
    runtime.send_input(id, Input::user(content)).await
}

/// Events after `after` up to and including the first whose kind is one of `last_kinds`.
pub(crate) async fn events_until(
    runtime: &Runtime,
    id: &WorkerId,
    after: u64,
    last_kinds: &[&str],
) -> Vec<Event> {
    let mut stream = runtime.subscribe(id, Some(after)).unwrap();
    let mut events = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while let Some(event) = stream.next().await {
            let event = event.unwrap();
            let done = last_kinds.contains(&event.kind.name());
            events.push(event);
            if done {
                return;
            }
        }
        panic!(
            "stream ended before any of {last_kinds:?}: {:?}",
            kinds(&events)
        );
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no {last_kinds:?} within {DEADLINE:?}: {:?}",
            kinds(&events)
        )
    });
    events
}

/// The events of one run, from its `input_accepted` at `ack_sequence` to its end.
pub(crate) async fn run_events(runtime: &Runtime, id: &WorkerId, ack_sequence: u64) -> Vec<Event> {
    events_until(
        runtime,
        id,
        ack_sequence - 1,
        &["run_completed", "run_failed", "run_cancelled"],
    )
    .await
}

/// The kind names of `events`, in order.
pub(crate) fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|event| event.kind.name()).collect()
}

/// Whether a process is still running (a zombie or a missing process is not).
pub(crate) fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesized command name: "123 (sleep) S ...".
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next()),
            Some('Z' | 'X') | None
        ),
        Err(_) => false,
    }
}

/// Whether a process table entry exists at all (a zombie counts).
pub(crate) fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The text of every `output_delta` in `events`, joined.
pub(crate) fn streamed(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            worker_runtime::EventKind::OutputDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}
