//! Where the servers' log lines go: stderr, filtered by `RUST_LOG` (default `info`), written by a
//! thread of its own through a buffer, so that no request waits for a write and the lines that
//! come together leave in one `write`. Nothing is dropped: when [`LINES`] lines wait, the thread
//! that logs waits too (and a run of the benchmarks never comes near it).

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};

/// How many lines may wait for the writer thread.
const LINES: usize = 64 * 1024;

/// Keeps the writer thread; dropping it writes what waits and flushes stderr.
#[must_use = "the log is flushed when this is dropped: hold it until the process ends"]
pub struct LogGuard {
    _worker: WorkerGuard,
}

/// Installs the log as the process's global subscriber: ANSI colours only on a terminal.
pub fn init_logging() -> LogGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    // The writer thread flushes the buffer whenever no line waits.
    let (writer, worker) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LINES)
        .thread_name("yoi-log")
        .finish(BufWriter::new(std::io::stderr()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer)
        .init();
    LogGuard { _worker: worker }
}
