//! Where the servers' log lines go: stderr, filtered by `RUST_LOG` (default `info`), written by a
//! thread of its own, so that no request waits for a write.
//!
//! A line is appended to a shared buffer under a lock; nothing is allocated or sent per line, and
//! the writer thread is woken only when a line finds it asleep. Once woken it lingers for
//! [`LINGER`], so that the lines of a busy moment leave in one `write`, and sleeps again when no
//! line waits. Nothing is dropped: a thread whose line fills the buffer to [`LIMIT`] bytes writes
//! the buffer out itself, in order, before it goes on (and a run of the benchmarks never comes
//! near it). Dropping the [`LogGuard`] writes whatever waits; [`flush_log`] does so for a
//! process about to exit without dropping it.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long the woken writer thread lets lines gather before it writes them.
const LINGER: Duration = Duration::from_millis(5);

/// The bytes that may wait for the writer thread before a logging thread writes them itself.
const LIMIT: usize = 1024 * 1024;

/// The writer of the process's log, once [`init_logging`] installed it.
static INSTALLED: OnceLock<Arc<Shared>> = OnceLock::new();

/// Keeps the writer thread; dropping it writes what waits and stops the thread.
#[must_use = "the log is flushed when this is dropped: hold it until the process ends"]
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Installs the log as the process's global subscriber: ANSI colours only on a terminal.
pub fn init_logging() -> LogGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = io::stderr().is_terminal();
    let (writer, guard) = start(Box::new(io::stderr()));
    let _ = INSTALLED.set(Arc::clone(&writer.0));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer)
        .init();
    guard
}

/// Writes the lines that wait for the writer thread now, for a process that exits without
/// dropping its [`LogGuard`] (`std::process::exit`).
pub fn flush_log() {
    if let Some(shared) = INSTALLED.get() {
        let _ = shared.write_out();
    }
}

/// Starts a writer thread over `sink`: the writer for the subscriber, and its guard.
fn start(sink: Box<dyn Write + Send>) -> (LogWriter, LogGuard) {
    let shared = Arc::new(Shared {
        waiting: Mutex::new(Waiting::default()),
        wake: Condvar::new(),
        output: Mutex::new(Output {
            sink,
            spare: Vec::new(),
        }),
    });
    let for_thread = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("yoi-log".into())
        .spawn(move || for_thread.run())
        .expect("the log writer thread can be started");
    let guard = LogGuard {
        shared: Arc::clone(&shared),
        thread: Some(thread),
    };
    (LogWriter(shared), guard)
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        lock(&self.shared.waiting).closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Whatever a writer thread that panicked left behind.
        let _ = self.shared.write_out();
    }
}

/// What the logging threads and the writer thread share.
struct Shared {
    waiting: Mutex<Waiting>,
    wake: Condvar,
    /// Held by whoever writes to the sink, from taking the lines to the end of their write, so
    /// that batches leave in the order they were taken.
    output: Mutex<Output>,
}

/// The lines not yet taken for writing, and what the writer thread is doing.
#[derive(Default)]
struct Waiting {
    lines: Vec<u8>,
    /// The writer thread sleeps until a line comes (so the next line wakes it).
    writer_asleep: bool,
    /// The guard is dropped: write what waits, then stop.
    closed: bool,
}

/// The sink, and the buffer that takes the waiting lines' place while they are written.
struct Output {
    sink: Box<dyn Write + Send>,
    spare: Vec<u8>,
}

impl Shared {
    /// Appends one formatted line; writes the buffer out here when it is full (or the writer
    /// thread has stopped).
    fn push(&self, line: &[u8]) -> io::Result<()> {
        let (wake, full) = {
            let mut waiting = lock(&self.waiting);
            waiting.lines.extend_from_slice(line);
            let wake = std::mem::take(&mut waiting.writer_asleep);
            // Once the guard is dropped the writer thread is gone: the line is written here.
            (wake, waiting.closed || waiting.lines.len() >= LIMIT)
        };
        if wake {
            self.wake.notify_one();
        }
        match full {
            true => self.write_out(),
            false => Ok(()),
        }
    }

    /// Takes the waiting lines and writes them to the sink.
    fn write_out(&self) -> io::Result<()> {
        let mut output = lock(&self.output);
        let Output { sink, spare } = &mut *output;
        // Empty already, unless a sink that panicked left its batch here.
        spare.clear();
        std::mem::swap(&mut lock(&self.waiting).lines, spare);
        let written = sink.write_all(spare).and_then(|()| sink.flush());
        spare.clear();
        written
    }

    /// The writer thread: sleeps until a line comes, lingers, writes; until the guard is dropped.
    fn run(&self) {
        loop {
            let closed = {
                let mut waiting = lock(&self.waiting);
                while waiting.lines.is_empty() && !waiting.closed {
                    waiting.writer_asleep = true;
                    waiting = self
                        .wake
                        .wait(waiting)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if waiting.lines.is_empty() {
                    return;
                }
                waiting.closed
            };
            if !closed {
                std::thread::sleep(LINGER);
            }
            // A sink that cannot be written (stderr closed) has nowhere to report to.
            let _ = self.write_out();
        }
    }
}

/// The subscriber's writer: each line goes to the shared buffer.
struct LogWriter(Arc<Shared>);

/// One line's writer, made per event.
struct LineWriter<'a>(&'a Shared);

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(&self.0)
    }
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.push(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that keeps what it was given, and counts its writes.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Kept {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut kept = lock(&self.0);
            kept.0.extend_from_slice(bytes);
            kept.1 += 1;
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn line(thread: usize, index: usize) -> String {
        format!("thread {thread} line {index}\n")
    }

    /// How many lines each logging thread of a test writes.
    const LINES_EACH: usize = 20_000;

    /// Thread `thread`'s lines, each its own event, through `writer`.
    fn log_lines(writer: &LogWriter, thread: usize) {
        for index in 0..LINES_EACH {
            let line = line(thread, index);
            writer
                .make_writer()
                .write_all(line.as_bytes())
                .expect("a line is taken");
        }
    }

    #[test]
    fn every_line_of_every_thread_arrives_in_its_order_by_the_guards_drop() {
        let kept = Kept::default();
        let (writer, guard) = start(Box::new(kept.clone()));
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let writer = &writer;
                scope.spawn(move || log_lines(writer, thread));
            }
        });
        drop(guard);
        let (bytes, writes) = lock(&kept.0).clone();
        let text = String::from_utf8(bytes).expect("whole lines");
        for thread in 0..4 {
            let mine: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("thread {thread} ")))
                .collect();
            let expected: Vec<String> = (0..LINES_EACH).map(|i| line(thread, i)).collect();
            assert_eq!(mine.len(), expected.len(), "thread {thread} lost lines");
            assert!(mine.iter().zip(&expected).all(|(a, b)| *a == b.trim_end()));
        }
        assert!(
            writes < 1_000,
            "lines that come together leave together ({writes} writes)"
        );
    }

    #[test]
    fn a_lone_line_is_written_soon_without_the_guards_drop() {
        let kept = Kept::default();
        let (writer, _guard) = start(Box::new(kept.clone()));
        // The line comes to a writer thread that sleeps, so that it must wake it.
        while !lock(&writer.0.waiting).writer_asleep {
            std::thread::sleep(Duration::from_millis(1));
        }
        writer.make_writer().write_all(b"alone\n").expect("taken");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while lock(&kept.0).0.is_empty() {
            assert!(std::time::Instant::now() < deadline, "the line never left");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(lock(&kept.0).0, b"alone\n");
    }

    #[test]
    fn lines_that_race_the_guards_drop_all_arrive() {
        let kept = Kept::default();
        let (writer, guard) = start(Box::new(kept.clone()));
        std::thread::scope(|scope| {
            for thread in 0..2 {
                let writer = &writer;
                scope.spawn(move || log_lines(writer, thread));
            }
            std::thread::sleep(Duration::from_millis(2));
            drop(guard);
        });
        let text = String::from_utf8(lock(&kept.0).0.clone()).expect("whole lines");
        assert_eq!(
            text.lines().count(),
            2 * LINES_EACH,
            "no line is lost to the drop"
        );
    }

    #[test]
    fn a_line_after_the_guards_drop_is_written_at_once() {
        let kept = Kept::default();
        let (writer, guard) = start(Box::new(kept.clone()));
        drop(guard);
        writer.make_writer().write_all(b"late\n").expect("taken");
        assert_eq!(lock(&kept.0).0, b"late\n");
    }

    #[test]
    fn a_full_buffer_is_written_by_the_thread_that_filled_it() {
        let kept = Kept::default();
        let (writer, _guard) = start(Box::new(kept.clone()));
        let big = vec![b'x'; LIMIT];
        writer.make_writer().write_all(&big).expect("taken");
        assert_eq!(
            lock(&kept.0).0.len(),
            LIMIT,
            "written before the call returned"
        );
    }
}
